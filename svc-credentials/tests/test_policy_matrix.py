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


from tongban.credentials.main import SERVICE
from tongban.credentials.policy import PLATFORM_ROUTES, POLICY
from sqlalchemy import select

from tongban.credentials.db import platform
from tongban.shared.auth import Principal
from tongban.shared.errors import AppError
from tongban.shared.policy import Target, admit, declared_permission

API = SERVICE.prefix
REFUSAL_CODES = {"not_permitted", "insufficient_scope", "real_name_required", "outside_delegation", "outside_scope",
                 "not_owner", "not_issuer", "not_legal_representative", "not_a_service", "not_a_holder",
                 "not_at_counter", "invalid_token", "token_revoked"}
HALL, OTHER_HALL = "zs-hall-1", "zs-hall-9"
ITEM, OTHER_ITEM = "442000000001", "442000000002"
ALL_ACTIONS = ["read", "apply", "act", "present", "consent", "seal"]


def declared(app: Any) -> dict[str, str]:
    """"METHOD /path" → the permission its Authorize dependency names (and the shared routes')."""
    found = dict(PLATFORM_ROUTES)
    for router in SERVICE.routers:
        for route in router.routes:
            name = declared_permission(route)
            if name is not None:
                for method in route.methods:
                    found[f"{method} {API}{route.path}"] = name
    return found


def operations(app: Any) -> list[tuple[str, str]]:
    spec = app.openapi()
    return [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]


def test_every_route_declares_a_permission(svc) -> None:  # noqa: ANN001
    table = declared(svc.app)
    missing = [f"{m} {p}" for m, p in operations(svc.app) if f"{m} {p}" not in table]
    assert not missing, f"routes without a declared permission: {missing}"
    assert set(table.values()) <= set(POLICY.permissions), "a route names a permission the policy lacks"
    unused = set(POLICY.permissions) - set(table.values())
    assert not unused, f"permissions no route uses: {unused}"


@dataclass(frozen=True)
class Caller:
    name: str
    claims: dict[str, Any] | None     # None: anonymous

    def principal(self) -> Principal | None:
        return Principal.from_claims(self.claims) if self.claims is not None else None


def callers(k: Any) -> list[Caller]:
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    daughter = k.resident("44200020000101002")

    def delegation(items: list[str]) -> list[dict]:
        return [{"id": str(uuid.uuid4()), "items": items, "actions": ALL_ACTIONS, "until": until}]

    def person(sub: str, id_number: str, level: str = "verified", **extra: Any) -> Caller:
        return Caller(sub, {"sub": sub, "role": "citizen", "scope": "credentials:read queue:book",
                            "id_number": id_number, "real_name_level": level, **extra})

    def company(sub: str, role: str, **extra: Any) -> Caller:
        return Caller(sub, {"sub": sub, "role": "company", "credit_code": k.COMPANY, "company_role": role,
                            "scope": "credentials:read credentials:seal queue:book", **extra})

    agent_for = {"kind": "person", "id_number": k.CITIZEN, "name": "张三"}
    company_for = {"kind": "company", "credit_code": k.COMPANY, "name": "某公司"}
    return [
        Caller("anonymous", None),
        person("citizen-self-declared", k.CITIZEN, "self_declared"),
        person("citizen-verified", k.CITIZEN),
        person("citizen-counter-verified", k.CITIZEN, "counter_verified"),
        person("another-citizen", k.OTHER_CITIZEN),
        person("agent-with-delegation", daughter, agent_for={**agent_for, "delegations": delegation([ITEM])}),
        person("agent-other-item", daughter, agent_for={**agent_for, "delegations": delegation([OTHER_ITEM])}),
        person("agent-without-delegation", daughter, agent_for={**agent_for, "delegations": []}),
        company("company-legal-representative", "legal_representative"),
        company("company-agent-with-delegation", "agent",
                agent_for={**company_for, "delegations": delegation([ITEM])}),
        company("company-agent-without-delegation", "agent"),
        Caller("clerk-in-hall", {"sub": "clerk-in", "role": "clerk", "scope": "credentials:read queue:operate",
                                 "halls": [HALL], "departments": [k.DEPT], "hall": HALL}),
        Caller("clerk-out-of-hall", {"sub": "clerk-out", "role": "clerk", "scope": "credentials:read queue:operate",
                                     "halls": [OTHER_HALL], "departments": [k.OTHER_DEPT], "hall": OTHER_HALL}),
        Caller("approver-in-department", {"sub": "approver-in", "role": "approver",
                                          "scope": "credentials:issue credentials:use", "departments": [k.DEPT]}),
        Caller("approver-out-of-department", {"sub": "approver-out", "role": "approver",
                                              "scope": "credentials:issue credentials:use",
                                              "departments": [k.OTHER_DEPT]}),
        Caller("admin", {"sub": "admin-1", "role": "admin", "scope": "credentials:admin queue:admin audit:read"}),
        Caller("auditor", {"sub": "auditor-1", "role": "auditor", "scope": "audit:read"}),
        Caller("partner", {"sub": "partner-sz", "role": "partner", "scope": "interop:exchange", "partner": "440300"}),
        Caller("service-cases", {"sub": "service:cases", "role": "service",
                                 "scope": "credentials:read credentials:use"}),
        Caller("service-interop", {"sub": "service:interop", "role": "service",
                                   "scope": "credentials:read credentials:trust credentials:present"}),
    ]


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
    other_company = k.credit("91442000MA4UAB99X")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    licence, seal, consent = {}, {}, {}
    for kind, mine, stranger in (("person", k.CITIZEN, k.OTHER_CITIZEN), ("company", k.COMPANY, other_company)):
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
    return "company" if caller.claims and caller.claims["role"] == "company" else "person"


def own_target(caller: Caller) -> Target | None:
    p = caller.principal()
    return Target(owner=p.own_id) if p is not None and p.own_id else None


def plan(method: str, path: str, caller: Caller, whose: str, s: Seeded, k: Any) -> tuple[str, dict, Target | None]:
    """(url, request kwargs, the record the policy is asked about) for one call."""
    kind = kind_of(caller)
    record_owner = {("person", "mine"): k.CITIZEN, ("person", "stranger"): k.OTHER_CITIZEN,
                    ("company", "mine"): k.COMPANY, ("company", "stranger"): k.credit("91442000MA4UAB99X")}
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


def expected(permission: str, caller: Caller, target: Target | None) -> bool:
    try:
        access = admit(POLICY, permission, caller.principal())
        if target is not None:
            access.check(target)
    except AppError:
        return False
    return True


def refused(status: int, body: Any) -> bool:
    code = body.get("code") if isinstance(body, dict) else None
    return status == 401 or (status == 403 and code in REFUSAL_CODES)


RECORD_ROUTES = ("{licence_id}", "{consent_id}", "{seal_id}", "{holder_id}")


async def test_matrix(svc, tokens, k, fake_cases, token_issuer) -> None:  # noqa: ANN001
    s = await seed(svc, tokens, k, fake_cases)
    table = declared(svc.app)
    mismatches, calls = [], 0
    people = callers(k)
    headers = {c.name: ({"Authorization": "Bearer " + jwt_for(token_issuer, c)} if c.claims else {}) for c in people}
    for method, path in operations(svc.app):
        permission = table[f"{method} {path}"]
        whoses = ("mine", "stranger") if any(x in path for x in RECORD_ROUTES) else ("mine",)
        for caller in people:
            for whose in whoses:
                url, kwargs, target = plan(method, path, caller, whose, s, k)
                r = await svc.request(method, url, headers=headers[caller.name], **kwargs)
                calls += 1
                assert r.status_code < 500, (method, path, caller.name, r.text)
                body = r.json() if r.headers.get("content-type", "").endswith("json") else None
                want, got = expected(permission, caller, target), not refused(r.status_code, body)
                if want != got:
                    mismatches.append(f"{method} {path} [{permission}] {caller.name}/{whose}: policy says "
                                      f"{'allow' if want else 'refuse'}, got {r.status_code} "
                                      f"{body.get('code') if isinstance(body, dict) else ''}")
    assert not mismatches, f"{len(mismatches)} of {calls} calls disagree with the policy:\n" + "\n".join(mismatches)
    # Every refusal of staff and agents is in the audit trail; people refused for themselves are not.
    async with svc.app.state.sessionmaker() as session:
        table = platform.audit_event
        refused_actors = set((await session.execute(
            select(table.c.actor).where(table.c.entity == "route").distinct())).scalars())
    assert {"clerk-out", "approver-out", "auditor-1", "agent-without-delegation",
            "company-agent-without-delegation"} <= refused_actors, refused_actors
    assert not refused_actors & {"citizen-self-declared", "another-citizen"}


def jwt_for(issuer, caller: Caller) -> str:  # noqa: ANN001
    claims = {k: v for k, v in caller.claims.items() if k not in ("sub", "role", "scope")}
    return issuer.mint(caller.claims["role"], caller.claims["scope"], ["credentials"], sub=caller.claims["sub"],
                       **claims)


def test_readme_carries_the_table() -> None:
    readme = (SERVICE.root / "README.md").read_text()
    assert POLICY.markdown() in readme, "regenerate the README's table: POLICY.markdown()"


