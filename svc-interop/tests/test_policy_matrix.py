"""The policy, proved route by route: every operation of svc-interop's OpenAPI × every kind of
caller (tongban.shared.testing.matrix) × the caller's own record and a stranger's where a route
names one (a forwarded case). The expected answer is the declared policy's
(tongban.interop.policy); a route that declares no permission fails.

Tokens are minted as the gateway mints them: people get the audience `interop:people` (only their
people routes), everyone else `interop`. The exchange endpoints are guarded at the edge before
the route: a non-partner is refused there (401, `insufficient_scope`, `not_a_partner`); the
partner system passes the policy's rule and stops at the next question, its signature or its
registration (`signature_missing`, `sender_mismatch`, `unknown_partner`) — admitted by the policy.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tongban.interop.forwarding.models import OutgoingCase
from tongban.interop.main import SERVICE
from tongban.interop.policy import PLATFORM_ROUTES, POLICY, RECORD_PERMISSIONS
from tongban.interop.referral.models import Referral

from tongban.shared.auth import PEOPLE_ROUTES, people_audience
from tongban.shared.policy import Target
from tongban.shared.testing.matrix import (
    CITIZEN, COMPANY, ITEM, OTHER_CITIZEN, OTHER_COMPANY, Caller, callers, declared, expected, operations, refused,
    undeclared,
)

pytestmark = pytest.mark.usefixtures("clean_nats")
API = SERVICE.prefix
# The scopes each role's token carries (as the gateway's ROLE_SCOPES give them).
SCOPES = {"citizen": "catalog:read cases:apply cases:read credentials:read queue:book accounts:delegate",
          "company": "catalog:read cases:apply cases:read credentials:read credentials:seal queue:book",
          "clerk": "catalog:read cases:read cases:process credentials:read queue:operate accounts:verify",
          "approver": "catalog:read cases:read cases:approve credentials:issue credentials:use",
          "admin": "catalog:read cases:read cases:admin interop:admin audit:read accounts:read accounts:admin",
          "auditor": "catalog:read cases:read audit:read accounts:read",
          "partner": "interop:exchange interop:verify"}
SERVICES = {"interop": "catalog:read cases:forward credentials:read credentials:trust credentials:present",
            "cases": "credentials:read credentials:use", "credentials": "cases:lookup"}
EDGE_REFUSALS = {"not_a_partner"}
PAST_THE_POLICY = {"signature_missing", "sender_mismatch", "unknown_partner", "malformed_signature"}
CALLER_NAME = "李四"


def audience(caller: Caller) -> str:
    return people_audience("interop") if caller.role in ("citizen", "company") else "interop"


def test_every_route_declares_a_permission(token_issuer, infra, kit) -> None:  # noqa: ANN001
    app = kit.build(infra, token_issuer)
    assert not undeclared(app, POLICY, PLATFORM_ROUTES, RECORD_PERMISSIONS)


async def seed(app: Any) -> dict[str, str]:
    """A forwarded case of each principal and of a stranger, and a referral the in-hall clerk made."""
    ids: dict[str, str] = {}
    async with app.state.sessionmaker() as s, s.begin():
        for key, owner, kind in (("person/mine", CITIZEN, "case"), ("person/stranger", OTHER_CITIZEN, "case"),
                                 ("company/mine", COMPANY, "company_migration"),
                                 ("company/stranger", OTHER_COMPANY, "company_migration")):
            case = OutgoingCase(case_number=f"ZS-M-{uuid.uuid4().hex[:10]}", partner="440300", item_code=ITEM,
                                applicant_id_number=owner, applicant_name="张三", kind=kind, created_by="seed")
            s.add(case)
            await s.flush()
            ids[key] = str(case.id)
        referral = Referral(reference_number=f"ZS-R-{uuid.uuid4().hex[:10]}", kind="hotline", direction="outbound",
                            partner="440300", partner_ref=str(uuid.uuid4()), status="referring",
                            payload={"ticket_number": "ZS12345-9", "category": "complaint", "summary": "噪音",
                                     "content": "夜间施工", "caller": {"name": CALLER_NAME, "phone": "13800138000"}},
                            created_by="clerk-in-hall")
        s.add(referral)
        await s.flush()
        ids["referral"] = str(referral.id)
    return ids


def plan(path: str, caller: Caller, whose: str, ids: dict[str, str]) -> tuple[str, Target | None]:
    kind = "company" if caller.role == "company" else "person"
    owner = {("person", "mine"): CITIZEN, ("person", "stranger"): OTHER_CITIZEN,
             ("company", "mine"): COMPANY, ("company", "stranger"): OTHER_COMPANY}[(kind, whose)]
    url = path.replace("{case_id}", ids[f"{kind}/{whose}"]).replace("{referral_id}", ids["referral"]) \
        .replace("{region_code}", "440300").replace("{kid}", "k1").replace("{message_id}", str(uuid.uuid4())) \
        .replace("{partner}", "440300").replace("{licence}", "L-1")
    target = Target(owner=owner, item=ITEM) if path.endswith("/outgoing-cases/{case_id}") else None
    return url, target


def people_may_reach(path: str) -> bool:
    rest = path.removeprefix(API)
    return any(rest == r or rest.startswith(r + "/") for r in PEOPLE_ROUTES["interop"])


async def test_matrix(token_issuer, infra, kit) -> None:  # noqa: ANN001
    async with kit.interop(infra, token_issuer, partner_sync_seconds=3600) as client:
        ids = await seed(client.app)
        table = declared(client.app, PLATFORM_ROUTES)
        people = callers(SCOPES, SERVICES)
        headers = {c.name: {**c.token(token_issuer, audience(c)), "x-interop-sender": "440300"} for c in people}
        mismatches: list[str] = []
        calls = 0
        for method, path in operations(client.app):
            permission = table[f"{method} {path}"]
            exchange = "/exchange/" in path
            whoses = ("mine", "stranger") if "{case_id}" in path else ("mine",)
            for caller in people:
                for whose in whoses:
                    url, target = plan(path, caller, whose, ids)
                    kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
                    r = await client.request(method, url, headers=headers[caller.name], **kwargs)
                    calls += 1
                    assert r.status_code < 500, (method, path, caller.name, r.text)
                    body = r.json() if r.headers.get("content-type", "").endswith("json") else None
                    code = body.get("code") if isinstance(body, dict) else None
                    want = expected(POLICY, permission, caller, target)
                    if caller.role in ("citizen", "company") and not people_may_reach(path):
                        want = False  # the audience `interop:people` reaches the people routes only
                    got = not refused(r.status_code, body, EDGE_REFUSALS)
                    if exchange and code in PAST_THE_POLICY:
                        got = True  # the partner's rule held; its signature or registration is next
                    if want != got:
                        mismatches.append(f"{method} {path} [{permission}] {caller.name}/{whose}: policy says "
                                          f"{'allow' if want else 'refuse'}, got {r.status_code} {code or ''}")
        # The hotline caller's name and phone: only for staff in scope (`referral.caller`).
        for caller in people:
            r = await client.get(f"{API}/referrals/{ids['referral']}", headers=headers[caller.name])
            calls += 1
            if r.status_code != 200:
                continue
            shown = r.json()["payload"]["caller"]["name"] == CALLER_NAME
            in_scope = expected(POLICY, "referral.caller", caller) and (
                caller.role != "clerk" or caller.claims["sub"] == "clerk-in-hall")
            if shown != in_scope:
                mismatches.append(f"referral caller [referral.caller] {caller.name}: shown={shown}")
    assert not mismatches, f"{len(mismatches)} of {calls} calls disagree with the policy:\n" + "\n".join(mismatches)


def test_readme_carries_the_table() -> None:
    readme = (SERVICE.root / "README.md").read_text()
    assert POLICY.markdown() in readme, "regenerate the README's table: POLICY.markdown()"
