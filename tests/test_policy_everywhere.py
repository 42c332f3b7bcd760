"""Every route of every service names who may call it: a permission of that service's policy
(its `policy.py`, enforced by `Authorize`), a shared route mapped to one (`PLATFORM_ROUTES`), or a
path on the explicit public list (the service's `PUBLIC_ROUTES` and the probes, metrics and
OpenAPI pages every service has, `platform_public`). A route added without any of these fails
here. The apps are built, never started: nothing is written and no server is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from tongban.shared.policy import declared_permission, platform_public, routes_of

SERVICES = ("gateway", "catalog", "cases", "credentials", "queue", "interop")
JWKS = '{"keys": []}'


def app_of(name: str) -> Any:
    main = importlib.import_module(f"tongban.{name}.main")
    definition = main.SERVICE
    settings = definition.settings(database_url="postgresql+asyncpg://nobody@/nowhere", nats_url="nats://127.0.0.1:1",
                                   jwks_json=JWKS)
    outer = main.create_app(settings)
    return getattr(outer, "app", outer), definition


@pytest.mark.parametrize("name", SERVICES)
def test_every_route_of_every_service_declares_who_may_call_it(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBAN_ENV", "development")  # development secrets: the app is only built
    app, definition = app_of(name)
    policy = importlib.import_module(f"tongban.{name}.policy")
    public = {*platform_public(definition.prefix), *getattr(policy, "PUBLIC_ROUTES", ())}
    mapped = getattr(policy, "PLATFORM_ROUTES", {})
    missing, unknown = [], []
    for path, methods, route in routes_of(app):
        if path in public:
            continue
        permission = declared_permission(route)
        for method in sorted(methods - {"HEAD"}):
            named = permission or mapped.get(f"{method} {path}")
            if named is None:
                missing.append(f"{method} {path}")
            elif named not in policy.POLICY.permissions:
                unknown.append(f"{method} {path} → {named}")
    assert not missing, f"{name}: routes that declare no permission and are not public: {missing}"
    assert not unknown, f"{name}: routes naming a permission the policy lacks: {unknown}"
    assert len(routes_of(app)) > len(public), f"{name}: no routes found (the walk through included routers broke)"
