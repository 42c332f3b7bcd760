"""The policy, proved route by route: every operation of the service's OpenAPI (each step of the
case and ticket step routes on its own) × every kind of caller × a record of the caller's own (its
case, its principal's for agents, a case of its hall and department for staff) and a stranger's
(another resident's case in another department). The expected answer — allowed, 401, 403 with its
code, or 404 — is computed from the declared table (tongban.cases.policy) with the shared
mechanism; a route that declares no permission fails. One app, records seeded once, one test.

"Allowed" means the policy let the call through to the service's own rules: any answer but 401,
403 or the 404 that hides a record (2xx, 409, 422 all count as allowed).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from tongban.cases.bundle import service as bundles
from tongban.cases.case.models import Case
from tongban.cases.case.steps import STEPS as CASE_STEPS
from tongban.cases.db import platform
from tongban.cases.main import SERVICE
from tongban.cases.policy import OPENER_READS, PLATFORM_ROUTES, POLICY, UPLOADER_READS
from tongban.cases.rating import service as ratings
from tongban.cases.ticket.service import STEPS as TICKET_STEPS
from tongban.cases.workday import calendar

from tongban.shared.auth import InsufficientScope, NotOwner, Principal
from tongban.shared.contracts.catalog import BundlePublishedV1
from tongban.shared.errors import AppError
from tongban.shared.policy import NotPermitted, Target, admit
from tongban.shared.testing.matrix import (
    Caller, Tally, audited_refusals, company, credit, declared, delegation, numbered, operations, person, service,
    staff, undeclared,
)
from tongban.shared.testing.plugin import running_service

API = SERVICE.prefix
I1, I2, I3 = "442020000901", "442020000902", "442020000903"
H1, H3 = "zs-1", "zs-3"
PDF = b"%PDF-1.4 matrix"
D1, D3 = credit("11442000MB2C3D4E5"), credit("11442000MB2C3D4E7")
COMPANY = credit("91442000MA4UH0AB1")
P, STRANGER = numbered(2), numbered(99)
APPLY, PROCESS, APPROVE = "cases:apply cases:read", "cases:read cases:process", "cases:read cases:approve"
# The steps' sides: permissions no route names, asked of a step once the route admits the caller.
STEP_PERMISSIONS = {f"{prefix}.{side}" for prefix, sides in (("case.act", ("applicant", "clerk", "approver", "staff")),
                                                             ("ticket.act", ("clerk", "department", "caller")))
                    for side in sides}


def steps(app: Any) -> list[tuple[str, str, list[str]]]:
    """(method, path, values of an `{action}` path parameter) of every operation in the OpenAPI."""
    spec = app.openapi()
    out = []
    for method, path in operations(app):
        actions = [""]
        for param in spec["paths"][path][method.lower()].get("parameters", []):
            if param["name"] == "action":
                schema = param["schema"]
                actions = schema.get("enum") or spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]["enum"]
        out.append((method, path, actions))
    return out


def callers() -> list[Caller]:
    def citizen(name: str, n: int, level: str = "verified", **claims: Any) -> Caller:
        return person(name, numbered(n), APPLY, level, name="市民", **claims)

    def firm(name: str, role: str, **claims: Any) -> Caller:
        return company(name, role, APPLY, COMPANY, company_name="中山某公司", **claims)

    def mandate(item: str) -> list[dict[str, Any]]:
        return delegation([item], ("read", "apply"))

    principal = {"kind": "person", "id_number": P, "name": "张三"}
    firm_for = {"kind": "company", "credit_code": COMPANY, "name": "中山某公司"}
    return [
        Caller("anonymous", None),
        citizen("citizen-self-declared", 1, "self_declared"),
        citizen("citizen-verified", 2),
        citizen("citizen-counter-verified", 3, "counter_verified"),
        citizen("another-citizen", 4),
        citizen("agent-in-items", 5, agent_for={**principal, "delegations": mandate(I1)}),
        citizen("agent-out-of-items", 6, agent_for={**principal, "delegations": mandate(I2)}),
        citizen("agent-without-delegation", 7, agent_for={**principal, "delegations": []}),
        firm("company-legal-representative", "legal_representative"),
        firm("company-agent-in-items", "agent", agent_for={**firm_for, "delegations": mandate(I1)}),
        firm("company-agent-out-of-items", "agent", agent_for={**firm_for, "delegations": mandate(I2)}),
        firm("company-agent-without-delegation", "agent"),
        staff("clerk-in-scope", "clerk", PROCESS, hall=H1, halls=[H1], departments=[D1]),
        staff("clerk-out-of-scope", "clerk", PROCESS, hall=H3, halls=[H3], departments=[D3]),
        staff("approver-in-department", "approver", APPROVE, departments=[D1]),
        staff("approver-out-of-department", "approver", APPROVE, departments=[D3]),
        staff("admin", "admin", "cases:read cases:admin audit:read"),
        staff("auditor", "auditor", "cases:read audit:read"),
        staff("partner", "partner", "interop:exchange", sub="partner-sz"),
        service("interop", "catalog:read cases:read cases:forward credentials:read", service="interop"),
        service("credentials", "credentials:read cases:lookup", service="credentials"),
    ]


@dataclass
class Records:
    case: dict[str, str]          # caller name → its own case id; "stranger" → another department's
    lookup: tuple[str, str]       # a case's number and lookup code (public progress)
    targets: dict[str, Target]    # case id → what the policy asks of it
    bundle: dict[str, str]        # "mine" / "stranger" → bundle case id
    bundle_children: dict[str, list[Target]]
    document: dict[str, str]
    document_case: dict[str, Target]
    uploader: str
    ticket: dict[str, str]
    ticket_target: dict[str, tuple[Target, str]]
    remedy: dict[str, str]
    remedy_target: dict[str, Target]


async def seed(client: Any, issuer: Any, people: list[Caller]) -> Records:
    by_name = {c.name: c for c in people}

    def h(name: str, **extra: str) -> dict[str, str]:
        return by_name[name].token(issuer, ["cases"]) | extra

    stranger = person("stranger", STRANGER, APPLY).token(issuer, ["cases"])

    async def submit(headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        r = await client.post(f"{API}/cases", headers=headers, json=body)
        assert r.status_code == 201, r.text
        return r.json()

    mine = await submit(h("citizen-verified"), {"basic_code": I1})
    counter = await submit(h("clerk-in-scope"), {"basic_code": I1, "applicant": {
        "type": "person", "id": numbered(1), "name": "李四"}})
    own = {"citizen-self-declared": counter["id"], "citizen-verified": mine["id"]}
    for n, name in ((3, "citizen-counter-verified"), (4, "another-citizen")):
        own[name] = (await submit(h(name), {"basic_code": I1}))["id"]
    firm = (await submit(h("company-legal-representative"), {"basic_code": I1}))["id"]
    other = (await submit(stranger, {"basic_code": I3}))["id"]
    r = await client.post(f"{API}/forwarded-cases", headers=h("service-interop", **{"Idempotency-Key": "m-1"}), json={
        "partner_region": "440300", "partner_case_number": "4403002026112900001", "basic_code": I1,
        "form_data": {}, "applicant": {"type": "person", "id_number": numbered(8), "name": "王五"}})
    assert r.status_code == 201, r.text
    forwarded = r.json()["id"]
    case = {}
    for c in people:
        if c.name in own:
            case[c.name] = own[c.name]
        elif c.name.startswith("agent-"):
            case[c.name] = mine["id"]
        elif c.role == "company":
            case[c.name] = firm
        elif c.role in ("clerk", "approver", "admin", "auditor"):
            case[c.name] = counter["id"]
        else:
            case[c.name] = forwarded
    case["stranger"] = other

    # One-thing bundles: the verified citizen's (items 1 and 2) and the stranger's (item 3).
    async with client.app.state.sessionmaker() as session, session.begin():
        for bundle_code, items in (("YJS-MINE", [I1, I2]), ("YJS-OTHER", [I3])):
            await bundles.apply_bundle_published(session, BundlePublishedV1(
                bundle_id=uuid.uuid4(), code=bundle_code, name="一件事", version=1, item_codes=items,
                city_code="442000", record={}))
    bundle = {}
    for whose, headers, bundle_code in (("mine", h("citizen-verified"), "YJS-MINE"), ("stranger", stranger, "YJS-OTHER")):
        r = await client.post(f"{API}/bundle-cases", headers=headers, json={"bundle_code": bundle_code})
        assert r.status_code == 201, r.text
        bundle[whose] = r.json()["id"]

    # Documents: the verified citizen's on her case, the stranger's on his.
    document = {}
    for whose, headers, case_id in (("mine", h("citizen-verified"), mine["id"]), ("stranger", stranger, other)):
        r = await client.post(f"{API}/documents", params={"filename": "a.pdf"}, content=PDF,
                              headers=headers | {"Content-Type": "application/pdf"})
        assert r.status_code == 201, r.text
        document[whose] = r.json()["id"]
        r = await client.post(f"{API}/cases/{case_id}/materials", headers=headers,
                              json={"materials": [{"name": "户口簿", "document_id": document[whose]}]})
        assert r.status_code == 200, r.text

    # Hotline tickets: the verified citizen's, dispatched to department 1; the stranger's, to 3.
    ticket = {}
    dispatcher = staff("seed-clerk", "clerk", PROCESS, halls=[H1], departments=[D1, D3]).token(issuer, ["cases"])
    for whose, headers, department in (("mine", h("citizen-verified"), D1), ("stranger", stranger, D3)):
        r = await client.post(f"{API}/tickets", headers=headers, json={"category": "consultation", "content": "问"})
        assert r.status_code == 201, r.text
        ticket[whose] = r.json()["id"]
        r = await client.post(f"{API}/tickets/{ticket[whose]}/dispatch", headers=dispatcher,
                              json={"department": department})
        assert r.status_code == 200, r.text

    # Remedies: bad ratings of a case in department 1 and one in department 3.
    remedy = {}
    async with client.app.state.sessionmaker() as session, session.begin():
        for whose, case_id in (("mine", mine["id"]), ("stranger", other)):
            row = await session.get(Case, uuid.UUID(case_id))
            rating = await ratings._add(session, row, 1, "差", False, "seed", calendar.today())
            remedy[whose] = rating.id
    async with client.app.state.sessionmaker() as session:
        from tongban.cases.rating.models import Remedy  # noqa: PLC0415
        for whose in ("mine", "stranger"):
            found = (await session.execute(select(Remedy.id).where(Remedy.rating_id == remedy[whose]))).scalar_one()
            remedy[whose] = str(found)
        rows = (await session.execute(select(Case))).scalars().all()
    targets = {str(c.id): Target(owner=c.applicant_id, item=c.basic_code, hall=c.hall, department=c.department,
                                 channel=c.channel) for c in rows}
    children = {whose: [targets[str(c.id)] for c in rows if str(c.bundle_case_id) == bundle[whose]]
                for whose in bundle}
    return Records(
        case=case, lookup=(mine["case_number"], mine["lookup_code"]), targets=targets, bundle=bundle,
        bundle_children=children, document=document,
        document_case={"mine": targets[mine["id"]], "stranger": targets[other]}, uploader="citizen-verified",
        ticket=ticket, ticket_target={"mine": (Target(owner=P, department=D1), "citizen-verified"),
                                      "stranger": (Target(owner=STRANGER, department=D3), "stranger")},
        remedy=remedy, remedy_target={"mine": Target(department=D1), "stranger": Target(department=D3)})


# --- what the policy says --------------------------------------------------------------------------

HIDDEN = (NotOwner, NotPermitted, InsufficientScope)


def said(exc: AppError) -> str:
    return "401" if exc.status == 401 else f"403:{exc.code}"


def on_records(permission: str, p: Principal | None, targets: list[Target]) -> str:
    """A route on one record: the caller half, then the record half (404 when the record must not
    be known; with several records, as a bundle's children, the first that admits wins)."""
    try:
        access = admit(POLICY, permission, p)
    except AppError as exc:
        return said(exc)
    refusal = None
    for t in targets:
        try:
            access.check(t)
            return "allowed"
        except HIDDEN:
            continue
        except AppError as exc:
            refusal = refusal or exc
    return said(refusal) if refusal is not None else "404"


def side(permission: str, p: Principal | None, target: Target) -> str:
    """A step's own side, once the caller reaches the record: 403 naming what failed."""
    try:
        admit(POLICY, permission, p).check(target)
    except HIDDEN:
        return "403:not_allowed_for_role"
    except AppError as exc:
        return said(exc)
    return "allowed"


def expected(method: str, path: str, action: str, permission: str, caller: Caller, whose: str,
             rec: Records) -> str:
    p = caller.principal()
    op = path.removeprefix(API)
    if "{case_id}" in op:
        target = rec.targets[rec.case[caller.name if whose == "mine" else "stranger"]]
        answer = on_records(permission, p, [target])
        if answer == "allowed" and action:
            answer = side(f"case.act.{CASE_STEPS[action].who}", p, target)
        return answer
    if "{bundle_case_id}" in op:
        return on_records(permission, p, rec.bundle_children[whose])
    if "{document_id}" in op:
        if permission in UPLOADER_READS and caller.name == rec.uploader and whose == "mine":
            try:
                admit(POLICY, permission, p)
            except AppError as exc:
                return said(exc)
            return "allowed"
        return on_records(permission, p, [rec.document_case[whose]])
    if "{ticket_id}" in op:
        target, opener = rec.ticket_target[whose]
        if permission in OPENER_READS and caller.sub == opener:
            try:
                admit(POLICY, permission, p)
                return "allowed"
            except AppError as exc:
                return said(exc)
        answer = on_records(permission, p, [target])
        if answer == "allowed" and action:
            answer = side(f"ticket.act.{TICKET_STEPS[action][2]}", p, target)
        return answer
    if "{remedy_id}" in op:
        return on_records(permission, p, [rec.remedy_target[whose]])
    try:
        admit(POLICY, permission, p)
    except AppError as exc:
        return said(exc)
    return "allowed"


# --- what the service answers -----------------------------------------------------------------------

def request_of(method: str, path: str, action: str, caller: Caller, whose: str, rec: Records) -> tuple[str, dict]:
    case_id = rec.case[caller.name if whose == "mine" else "stranger"]
    url = (path.replace("{case_id}", case_id).replace("{action}", action)
           .replace("{bundle_case_id}", rec.bundle[whose]).replace("{document_id}", rec.document[whose])
           .replace("{ticket_id}", rec.ticket[whose]).replace("{remedy_id}", rec.remedy[whose])
           .replace("{basic_code}", I1).replace("{day}", "2031-01-02").replace("{year}", "2031"))
    op = path.removeprefix(API)
    kwargs: dict[str, Any] = {}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    if op == "/cases/progress":
        kwargs["params"] = {"case_number": rec.lookup[0], "lookup_code": rec.lookup[1]}
    elif op == "/workdays/deadline":
        kwargs["params"] = {"start": "2031-01-02", "working_days": 3}
    elif op == "/documents":
        kwargs = {"params": {"filename": "m.pdf"}, "content": PDF, "headers": {"Content-Type": "application/pdf"}}
    elif op == "/cases/{case_id}/materials" and method == "POST":
        kwargs["json"] = {"materials": [{"name": "照片", "document_id": str(uuid.uuid4())}]}
    elif op == "/cases/{case_id}/documents" and method == "POST":
        kwargs["json"] = {"kind": "acceptance"}
    elif op == "/cases/{case_id}/payment" and method == "POST":
        kwargs["json"] = {"provider": "wechat"}
    elif op == "/remedies/{remedy_id}/close":
        kwargs["json"] = {"result": "已整改", "callback_result": "satisfied"}
    elif op == "/tickets/{ticket_id}/{action}":
        kwargs["json"] = {"reason": "matrix"}
    elif op == "/cases/{case_id}/{action}":
        kwargs["json"] = {"reason": "matrix"}
    return url, kwargs


def answered(status: int, body: Any) -> str:
    code = body.get("code") if isinstance(body, dict) else None
    if status == 401:
        return "401"
    if status == 403:
        return f"403:{code}"
    if status == 404 and code in ("case_not_found", "document_not_found", "ticket_not_found", "remedy_not_found"):
        return "404"
    return "allowed"


RECORD_PARTS = ("{case_id}", "{bundle_case_id}", "{document_id}", "{ticket_id}", "{remedy_id}")


async def test_matrix(infra, token_issuer, kit) -> None:  # noqa: ANN001
    people = callers()
    async with running_service(SERVICE, infra, token_issuer) as client:
        for basic_code, department in ((I1, D1), (I2, D1), (I3, D3)):
            await kit.publish_item(client, basic_code, department=department, name=f"事项{basic_code[-1]}")
        assert not undeclared(client.app, POLICY, PLATFORM_ROUTES, STEP_PERMISSIONS)
        table = declared(client.app, PLATFORM_ROUTES)

        rec = await seed(client, token_issuer, people)
        headers = {c.name: c.token(token_issuer, ["cases"]) for c in people}
        tally, seen = Tally(), Counter()
        for method, path, actions in steps(client.app):
            key = f"{method} {path}"
            permission = table[key]
            platform_route = key in PLATFORM_ROUTES
            whoses = ("mine", "stranger") if any(x in path for x in RECORD_PARTS) else ("mine",)
            for action in actions:
                for caller in people:
                    for whose in whoses:
                        url, kwargs = request_of(method, path, action, caller, whose, rec)
                        extra = kwargs.pop("headers", {})
                        status, body = await tally.call(client, method, url, headers=headers[caller.name] | extra,
                                                        **kwargs)
                        want = expected(method, path, action, permission, caller, whose, rec)
                        got = answered(status, body)
                        seen[got] += 1
                        if platform_route:  # the shared route refuses with its own code: compare the status
                            want, got = want.split(":")[0], got.split(":")[0]
                        tally.compare(f"{method} {path} {action} [{permission}] {caller.name}/{whose}", want, got,
                                      status, body)
        tally.verdict()
        # The matrix reaches every kind of answer the policy gives.
        assert {"allowed", "401", "404", "403:not_permitted", "403:real_name_required", "403:outside_delegation",
                "403:outside_scope", "403:not_allowed_for_role"} <= set(seen), seen

        # Every refusal of staff and agents is in the audit trail; people refused for themselves are not.
        refused = await audited_refusals(client.app, platform)
        assert {"clerk-out-of-scope", "approver-out-of-department", "agent-without-delegation"} <= refused, refused
        assert not refused & {"citizen-self-declared", "another-citizen"}


def test_readme_carries_the_table() -> None:
    readme = (SERVICE.root / "README.md").read_text()
    assert POLICY.markdown() in readme, "regenerate the README's table: POLICY.markdown()"
