"""The policy, proved route by route: every operation of the service's OpenAPI × every kind of
caller × the principal's record and a stranger's. The expected answer is the declared policy's
(tongban.credentials.policy, evaluated with the shared mechanism); a route that declares no
permission fails. One app, records seeded once, every call in one test (fast).

An answer counts as "refused by the policy" when it is 401 or a 403 naming one of the policy's
refusals (or a rule of the service that is the policy's own, such as `not_issuer`). Anything
else — 2xx, 404, 409, 422, or a refusal the policy lets the service make after it (a licence use
without consent, a seal without delegation, a partner without the holder's consent token) —
counts as admitted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from tongban.credentials.db import platform
from tongban.credentials.main import SERVICE
from tongban.credentials.policy import PLATFORM_ROUTES, POLICY

from tongban.shared.policy import Target
from tongban.shared.testing.matrix import (
    HALL, OTHER_COMPANY, Caller, Tally, audited_refusals, callers, declared, expected, operations, refused,
    undeclared,
)

API = SERVICE.prefix
# Refusals of the service's own that are the policy's rules too.
OWN_REFUSALS = {"not_issuer", "not_legal_representative", "not_a_service", "not_a_holder", "not_at_counter",
                "token_revoked"}
# The scopes each role's token carries for svc-credentials.
SCOPES = {"citizen": "credentials:read queue:book", "company": "credentials:read credentials:seal queue:book",
          "clerk": "credentials:read queue:operate", "approver": "credentials:issue credentials:use",
          "admin": "credentials:admin queue:admin audit:read", "auditor": "audit:read", "partner": "interop:exchange"}
SERVICES = {"cases": "credentials:read credentials:use credentials:seal_documents",
            "interop": "credentials:read credentials:trust credentials:present"}


def test_every_route_declares_a_permission(svc) -> None:  # noqa: ANN001
    assert not undeclared(svc.app, POLICY, PLATFORM_ROUTES)


def people(k: Any) -> list[Caller]:
    """The kit's callers, with the residents and departments the seeded licences name."""
    return [c for c in callers(SCOPES, SERVICES, citizen=k.CITIZEN, other_citizen=k.OTHER_CITIZEN,
                               department=k.DEPT, other_department=k.OTHER_DEPT)
            if c.name != "company-administrator"]


@dataclass
class Seeded:
    licence: dict[str, str]          # "person"/"company" × "mine"/"stranger" → licence id
    seal: dict[str, str]
    consent: dict[str, str]
    case_id: str
    identifier: str


async def seed(svc, tokens, k, fake_cases) -> Seeded:  # noqa: ANN001
    await k.setup_type(svc, tokens)
    await k.setup_type(svc, tokens, code=k.DEPT + "002", holder_type="001")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    licence, seal, consent = {}, {}, {}
    for kind, mine, stranger in (("person", k.CITIZEN, k.OTHER_CITIZEN), ("company", k.COMPANY, OTHER_COMPANY)):
        for who, holder in (("mine", mine), ("stranger", stranger)):
            extra = {"type_code": k.DEPT + "002"} if kind == "company" else {}
            lic = await k.issue(svc, tokens, holder=holder, **extra)
            licence[f"{kind}/{who}"] = lic["id"]
            licence[f"{kind}/{who}/identifier"] = lic["identifier"]
            owner = (tokens.headers("citizen", "credentials:read", sub=f"seed-{holder}", id_number=holder,
                                    real_name_level="verified") if kind == "person" else
                     tokens.headers("company", "credentials:read credentials:seal", sub=f"seed-{holder}",
                                    credit_code=holder, company_role="legal_representative"))
            r = await svc.post(f"{API}/consents", headers=owner, json={
                "licence_type_code": extra.get("type_code", k.TYPE_CODE), "case_id": str(uuid.uuid4()),
                "expires_at": soon, "department": k.DEPT})
            assert r.status_code == 201, r.text
            consent[f"{kind}/{who}"] = r.json()["id"]
            if kind == "company":
                r = await svc.post(f"{API}/seals", headers=owner, json={"kind": "contract", "company_name": "某公司"})
                assert r.status_code == 201, r.text
                seal[f"company/{who}"] = r.json()["id"]
    seal["person/mine"], seal["person/stranger"] = seal["company/mine"], seal["company/stranger"]
    case_id = fake_cases.add(k.DEPT, HALL, k.CITIZEN)
    return Seeded(licence, seal, consent, case_id, licence["person/mine/identifier"])


def kind_of(caller: Caller) -> str:
    return "company" if caller.role == "company" else "person"


def own_target(caller: Caller) -> Target | None:
    p = caller.principal()
    return Target(owner=p.own_id) if p is not None and p.own_id else None


def plan(method: str, path: str, caller: Caller, whose: str, s: Seeded, k: Any) -> tuple[str, dict, Target | None]:
    """(url, request kwargs, the record the policy is asked about) for one call."""
    kind = kind_of(caller)
    record_owner = {("person", "mine"): k.CITIZEN, ("person", "stranger"): k.OTHER_CITIZEN,
                    ("company", "mine"): k.COMPANY, ("company", "stranger"): OTHER_COMPANY}
    owner = record_owner[(kind, whose)]
    lic = s.licence[f"{kind}/{whose}"]
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    url = path.replace("{licence_id}", lic).replace("{consent_id}", s.consent[f"{kind}/{whose}"]) \
        .replace("{seal_id}", s.seal[f"{kind}/{whose}"]).replace("{delegation_id}", str(uuid.uuid4())) \
        .replace("{code}", k.DEPT).replace("{identifier}", s.identifier).replace("{list_id}", "1") \
        .replace("{basic_code}", "440100100000").replace("{region_code}", "440300") \
        .replace("{mapping_id}", str(uuid.uuid4())).replace("{holder_id}", owner).replace("{licence}", lic)
    op = f"{method} {path.removeprefix(API)}"
    reason = {"reason": "矩阵测试"}
    seal_of = Target(owner=record_owner[("company", whose)])
    bodies: dict[str, tuple[dict | None, Target | None]] = {
        "GET /licences/{licence_id}": (None, Target(owner=owner, department=k.DEPT)),
        "POST /licences/{licence_id}/presentations": ({}, Target(owner=owner, department=k.DEPT)),
        "GET /licences/{licence_id}/picture": (None, Target(owner=owner, department=k.DEPT)),
        "POST /licences/{licence_id}/versions": (reason, Target(department=k.DEPT)),
        "POST /licences/{licence_id}/suspend": (reason, Target(department=k.DEPT)),
        "POST /licences/{licence_id}/reinstate": (reason, Target(department=k.DEPT)),
        "POST /licences/{licence_id}/revoke": (reason, Target(department=k.DEPT)),
        "POST /licences": (k.licence(), Target(department=k.DEPT)),
        "GET /me/licences": (None, own_target(caller)),
        "GET /me/consents": (None, own_target(caller)),
        "GET /me/licence-uses": (None, own_target(caller)),
        "POST /me/partner-consents": ({"partner": "440300", "purpose": "矩阵", "expires_at": soon}, own_target(caller)),
        "POST /consents/{consent_id}/withdraw": (None, Target(owner=owner)),
        "GET /seals/{seal_id}": (None, seal_of),
        "GET /seals": (None, own_target(caller)),
        "POST /seals/{seal_id}/revoke": (reason, seal_of),
        "POST /seals/{seal_id}/delegations": ({"grantee_sub": "x", "grantee_name": "某人", "expires_at": soon},
                                              seal_of),
        "GET /seals/{seal_id}/delegations": (None, seal_of),
        "POST /seals/{seal_id}/delegations/{delegation_id}/revoke": (reason, seal_of),
    }
    if op == "POST /consents":
        p = caller.principal()
        if p is not None and p.role == "clerk":
            body = {"licence_type_code": k.TYPE_CODE, "case_id": s.case_id, "expires_at": soon,
                    "holder_id": k.CITIZEN}
            target = Target(hall=HALL, department=k.DEPT)
        else:
            body = {"licence_type_code": k.TYPE_CODE if kind == "person" else k.DEPT + "002",
                    "case_id": str(uuid.uuid4()), "expires_at": soon, "department": k.DEPT, "holder_id": owner}
            target = Target(owner=owner)
        return url, {"json": body}, target
    body, target = bodies.get(op, ({} if method in ("POST", "PUT") else None, None))
    return url, ({"json": body} if body is not None else {}), target


RECORD_ROUTES = ("{licence_id}", "{consent_id}", "{seal_id}", "{holder_id}")


async def test_matrix(svc, tokens, k, fake_cases, token_issuer) -> None:  # noqa: ANN001
    s = await seed(svc, tokens, k, fake_cases)
    table = declared(svc.app, PLATFORM_ROUTES)
    tally = Tally()
    everyone = people(k)
    headers = {c.name: c.token(token_issuer, ["credentials"]) for c in everyone}
    for method, path in operations(svc.app):
        permission = table[f"{method} {path}"]
        whoses = ("mine", "stranger") if any(x in path for x in RECORD_ROUTES) else ("mine",)
        for caller in everyone:
            for whose in whoses:
                url, kwargs, target = plan(method, path, caller, whose, s, k)
                status, body = await tally.call(svc, method, url, headers=headers[caller.name], **kwargs)
                tally.compare(f"{method} {path} [{permission}] {caller.name}/{whose}",
                              expected(POLICY, permission, caller, target), not refused(status, body, OWN_REFUSALS),
                              status, body)
    tally.verdict()
    # Every refusal of staff and agents is in the audit trail; people refused for themselves are not.
    refused_actors = await audited_refusals(svc.app, platform)
    assert {"clerk-out-of-hall", "approver-out-of-department", "auditor", "agent-without-delegation",
            "company-agent-without-delegation"} <= refused_actors, refused_actors
    assert not refused_actors & {"citizen-self-declared", "another-citizen"}


def test_readme_carries_the_table() -> None:
    readme = (SERVICE.root / "README.md").read_text()
    assert POLICY.markdown() in readme, "regenerate the README's table: POLICY.markdown()"
