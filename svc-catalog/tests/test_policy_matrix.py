"""The policy, proved route by route: every operation of svc-catalog's OpenAPI × every kind of
caller (tongban.shared.testing.matrix). The expected answer is the declared policy's
(tongban.catalog.policy); a route that declares no permission fails. One app on the demo
catalogue, every call in one test.

The catalogue holds nobody's personal data, so there is no "own or someone else's record" here:
the answer depends on the caller alone. Drafts are the one record rule (`item.draft.read`): an
editor sees a draft, anyone else is told it does not exist.
"""

from __future__ import annotations

from typing import Any

import pytest

from tongban.catalog.main import SERVICE
from tongban.catalog.policy import PLATFORM_ROUTES, POLICY, RECORD_PERMISSIONS
from tongban.shared.testing.matrix import callers, declared, expected, operations, refused, undeclared
from tongban.shared.testing.plugin import running_service

from .conftest import admin_headers

pytestmark = pytest.mark.usefixtures("clean_nats")
API = SERVICE.prefix
# The scopes each role's token carries for the catalogue (as the gateway's ROLE_SCOPES give them).
SCOPES = {"citizen": "catalog:read", "company": "catalog:read", "clerk": "catalog:read", "approver": "catalog:read",
          "admin": "catalog:read catalog:write audit:read", "auditor": "catalog:read audit:read",
          "partner": "interop:exchange"}
SERVICES = {"interop": "catalog:read", "cases": "credentials:read credentials:use"}
DRAFT = {"basic_code": "440120000199", "name": "矩阵测试草稿事项", "exercise_level": 3, "case_type": "promised",
         "statutory_limit": 20, "statutory_limit_unit": "working_day", "promised_limit": 10,
         "promised_limit_unit": "working_day", "publish": False}


@pytest.fixture
async def client(seeded_db, infra, token_issuer):
    url, _, _ = seeded_db
    async with running_service(SERVICE, infra, token_issuer, database_url=url, run_worker=False) as c:
        yield c


def test_every_route_declares_a_permission(client) -> None:  # noqa: ANN001
    assert not undeclared(client.app, POLICY, PLATFORM_ROUTES, RECORD_PERMISSIONS)


async def records(client, token_issuer) -> dict[str, str]:  # noqa: ANN001
    """Path parameters naming real records of the demo catalogue (and a draft item)."""
    impl = (await client.get(f"{API}/implementations", params={"limit": 1})).json()["items"][0]
    bundle = (await client.get(f"{API}/bundles", params={"limit": 1})).json()["items"][0]
    draft = await client.post(f"{API}/items", json=DRAFT, headers=admin_headers(token_issuer))
    if draft.status_code == 409:  # a module re-run on the same database
        draft = (await client.get(f"{API}/items", params={"status": "draft"},
                                  headers=admin_headers(token_issuer))).json()["items"][0]
    else:
        assert draft.status_code == 201, draft.text
        draft = draft.json()
    return {"{item_id}": impl["item_id"], "{implementation_id}": impl["id"], "{bundle_id}": bundle["id"],
            "{basic_code}": impl["basic_code"], "draft": draft["id"]}


def url_of(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace(name, value)
    return path


async def test_matrix(client, token_issuer) -> None:  # noqa: ANN001
    ids = await records(client, token_issuer)
    table = declared(client.app, PLATFORM_ROUTES)
    people = callers(SCOPES, SERVICES)
    headers = {c.name: c.token(token_issuer, "catalog") for c in people}
    mismatches: list[str] = []
    calls = 0
    for method, path in operations(client.app):
        permission = table[f"{method} {path}"]
        for caller in people:
            kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            r = await client.request(method, url_of(path, ids), headers=headers[caller.name], **kwargs)
            calls += 1
            assert r.status_code < 500, (method, path, caller.name, r.text)
            body = r.json() if r.headers.get("content-type", "").endswith("json") else None
            want, got = expected(POLICY, permission, caller), not refused(r.status_code, body)
            if want != got:
                mismatches.append(f"{method} {path} [{permission}] {caller.name}: policy says "
                                  f"{'allow' if want else 'refuse'}, got {r.status_code} "
                                  f"{body.get('code') if isinstance(body, dict) else ''}")
    # A draft: shown to those the record rule admits, and to nobody else (not even its existence).
    for caller in people:
        editor = expected(POLICY, "item.draft.read", caller)
        one = await client.get(f"{API}/items/{ids['draft']}", headers=headers[caller.name])
        listed = await client.get(f"{API}/items", params={"status": "draft"}, headers=headers[caller.name])
        calls += 2
        if (one.status_code == 200) != editor or (one.status_code not in (200, 404)):
            mismatches.append(f"GET draft item [item.draft.read] {caller.name}: got {one.status_code}")
        if (listed.status_code == 200) != editor or (not editor and not refused(listed.status_code, listed.json())):
            mismatches.append(f"GET drafts [item.draft.read] {caller.name}: got {listed.status_code}")
    assert not mismatches, f"{len(mismatches)} of {calls} calls disagree with the policy:\n" + "\n".join(mismatches)
    assert calls == (len(operations(client.app)) + 2) * len(people)


def test_readme_carries_the_table() -> None:
    readme = (SERVICE.root / "README.md").read_text()
    assert POLICY.markdown() in readme, "regenerate the README's table: POLICY.markdown()"
