"""The policy, proved route by route: every operation of the gateway's own OpenAPI (/auth/*,
/.well-known/jwks.json) × every kind of caller (tongban.shared.testing.matrix). The expected
answer is the declared policy's (tongban.gateway.policy); a route that declares no permission
fails. Tokens are signed by the gateway's own key ring with the claims each kind of caller has.

Bodies are empty, so an admitted caller gets 422 (or 400 from the token endpoint): the policy let
it through to the route's own checks. The proxy (`/api/v1/<service>/...`) is no route of this
app; each service's own matrix covers its routes.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from tongban.gateway.main import SERVICE
from tongban.gateway.policy import PLATFORM_ROUTES, POLICY, RECORD_PERMISSIONS
from tongban.gateway.token.scopes import ROLE_AUDIENCES, ROLE_SCOPES, SERVICE_SCOPES

from tongban.shared.testing.matrix import Caller, callers, declared, expected, operations, refused, undeclared

SCOPES = {**{role: " ".join(scopes) for role, scopes in ROLE_SCOPES.items()}, "partner": "interop:exchange"}
SERVICES = {name: " ".join(scopes) for name, scopes in SERVICE_SCOPES.items()}


def token(gateway: Any, caller: Caller) -> dict[str, str]:
    if caller.claims is None:
        return {}
    now = int(time.time())
    ring = gateway.state.keyring
    audience = list(ROLE_AUDIENCES.get(caller.role, ("gateway",)))
    claims = {"iss": ring.issuer, "aud": [*audience, "gateway"], "iat": now, "exp": now + 600,
              "jti": uuid.uuid4().hex, **caller.claims,
              "sub": sub_of(caller)}  # accounts are named by UUIDs
    return {"Authorization": "Bearer " + ring.sign(claims)}


def sub_of(caller: Caller) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, caller.name))


def url_of(path: str, account: str) -> str:
    return path.replace("{account_id}", account).replace("{delegation_id}", str(uuid.uuid4())) \
        .replace("{client_id}", "no-such-client").replace("{kid}", "no-such-key").replace("{action}", "activate") \
        .replace("{message_id}", str(uuid.uuid4())).replace("{delivery_id}", str(uuid.uuid4()))


async def test_every_route_declares_a_permission(gateway) -> None:  # noqa: ANN001
    assert not undeclared(gateway.asgi.app, POLICY, PLATFORM_ROUTES, RECORD_PERMISSIONS)


async def test_matrix(gateway) -> None:  # noqa: ANN001
    app = gateway.asgi.app
    table = declared(app, PLATFORM_ROUTES)
    people = callers(SCOPES, SERVICES)
    mismatches: list[str] = []
    calls = 0
    for method, path in operations(app):
        permission = table[f"{method} {path}"]
        # One account: the caller's own (its token's subject) or a stranger's (the record rule).
        whoses = ("mine", "stranger") if permission == "account.read" else ("stranger",)
        for caller, whose in ((c, w) for c in people for w in whoses):
            kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            account = sub_of(caller) if whose == "mine" else str(uuid.uuid4())
            r = await gateway.client.request(method, url_of(path, account), headers=token(gateway, caller), **kwargs)
            calls += 1
            assert r.status_code < 500, (method, path, caller.name, r.text)
            body = r.json() if "json" in r.headers.get("content-type", "") else None
            want = expected(POLICY, permission, caller)
            if permission == "account.read" and whose == "stranger":
                want = want and expected(POLICY, "account.read.any", caller)
            got = not refused(r.status_code, body)
            if want != got:
                mismatches.append(f"{method} {path} [{permission}] {caller.name}/{whose}: policy says "
                                  f"{'allow' if want else 'refuse'}, got {r.status_code} "
                                  f"{body.get('code') if isinstance(body, dict) else ''}")
    assert not mismatches, f"{len(mismatches)} of {calls} calls disagree with the policy:\n" + "\n".join(mismatches)


async def test_an_account_is_its_owners_and_readers(gateway) -> None:  # noqa: ANN001
    """`account.read`: the owner sees it whole; others only with `account.read.any` (masked)."""
    clerk = await gateway.bearer("clerk")
    me = (await gateway.client.get("/auth/userinfo", headers=clerk)).json()["sub"]
    assert (await gateway.client.get(f"/auth/accounts/{me}", headers=clerk)).status_code == 200
    other = await gateway.client.get(f"/auth/accounts/{uuid.uuid4()}", headers=clerk)
    assert other.status_code == 403 and other.json()["code"] == "not_owner"
    admin = await gateway.bearer("admin")
    seen = await gateway.client.get(f"/auth/accounts/{me}", headers=admin)
    assert seen.status_code == 200


def test_readme_carries_the_table() -> None:
    readme = (SERVICE.root / "README.md").read_text()
    assert POLICY.markdown() in readme, "regenerate the README's table: POLICY.markdown()"
