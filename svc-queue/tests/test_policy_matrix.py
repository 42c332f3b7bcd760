"""The policy, proved route by route: every operation of the service's OpenAPI × every kind of
caller × a record of the caller's (its own account's ticket or appointment; for staff, in their
hall) and a stranger's (someone else's, in another hall). The expected answer is the declared
policy's (tongban.queue.policy with the shared mechanism, and its OWNED_BY_ACCOUNT rule for
people); a route that declares no permission fails. One app, records seeded once, one test.

"Refused by the policy": 401, or 403 naming one of the policy's refusals. Anything else (2xx,
204, 404, 409, 422) counts as admitted: the policy let the call through to the service's rules.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from queue_helpers import ALL_WEEK, BASE, open_today
from tongban.queue.db import platform
from tongban.queue.main import SERVICE
from tongban.queue.policy import OWNED_BY_ACCOUNT, PLATFORM_ROUTES, POLICY

from tongban.shared.policy import Target, admit
from tongban.shared.testing.matrix import (
    COMPANY, ITEM, Caller, Tally, audited_refusals, company, declared, delegation, expected, numbered, operations,
    person, refused, service, staff, undeclared,
)

PEOPLE = ("citizen", "company")
TOMORROW = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() + dt.timedelta(days=1)


def test_every_route_declares_a_permission(client) -> None:  # noqa: ANN001
    assert not undeclared(client.app, POLICY, PLATFORM_ROUTES, {"case_linked.book"})


def callers(hall: str, other_hall: str) -> list[Caller]:
    book = "queue:book"
    mandate = delegation([ITEM], ("read", "apply"))
    principal = {"kind": "person", "id_number": numbered(2), "name": "张三"}
    return [
        Caller("anonymous", None),
        person("citizen-self-declared", numbered(1), book, "self_declared"),
        person("citizen-verified", numbered(2), book),
        person("citizen-counter-verified", numbered(3), book, "counter_verified"),
        person("another-citizen", numbered(4), book),
        person("agent-with-delegation", numbered(5), book, agent_for={**principal, "delegations": mandate}),
        person("agent-without-delegation", numbered(6), book, agent_for={**principal, "delegations": []}),
        company("company-legal-representative", "legal_representative", book),
        company("company-agent-with-delegation", "agent", book,
                agent_for={"kind": "company", "credit_code": COMPANY, "delegations": mandate}),
        company("company-agent-without-delegation", "agent", book),
        staff("clerk-in-hall", "clerk", "queue:operate", halls=[hall]),
        staff("clerk-out-of-hall", "clerk", "queue:operate", halls=[other_hall]),
        staff("approver", "approver", "cases:approve", departments=["11442000007234512"]),
        staff("admin", "admin", "queue:admin audit:read"),
        staff("auditor", "auditor", "audit:read"),
        staff("partner", "partner", "interop:exchange", sub="partner-sz"),
        service("cases", "credentials:use"),
    ]


async def hall_with_slots(client, admin: dict) -> tuple[str, str, str]:  # noqa: ANN001
    """(hall id, slot template id, counter id)."""
    r = await client.post(f"{BASE}/halls", headers=admin, json={
        "name": f"大厅{uuid.uuid4().hex[:4]}", "region_code": "442000", "address": "中山市东区", "latitude": 22.5,
        "longitude": 113.4, "opening_hours": ALL_WEEK, "categories": [{"code": "A", "name": "综合"}]})
    assert r.status_code == 201, r.text
    hall = r.json()["id"]
    t = await client.post(f"{BASE}/halls/{hall}/slot-templates", headers=admin, json={
        "category": "A", "weekday": TOMORROW.isoweekday(), "starts": "09:00", "ends": "10:00", "capacity": 100})
    assert t.status_code == 201, t.text
    c = await client.post(f"{BASE}/halls/{hall}/counters", headers=admin,
                          json={"number": "1", "kind": "comprehensive", "skills": [{"category": "A"}]})
    assert c.status_code == 201, c.text
    return hall, t.json()["id"], c.json()["id"]


@dataclass
class Records:
    hall: dict[str, str]                      # mine / stranger
    template: dict[str, str]
    counter: dict[str, str]
    ticket: dict[tuple[str, str], str]        # (caller, mine|stranger) → ticket id
    appointment: dict[tuple[str, str], str]


async def seed(client, issuer, tokens) -> tuple[Records, list[Caller]]:  # noqa: ANN001
    admin = tokens.admin()
    await open_today(client, tokens)
    r = await client.post(f"{BASE}/calendar-overrides", headers=admin,
                          json={"day": TOMORROW.isoformat(), "is_working_day": True, "reason": "matrix"})
    assert r.status_code == 201, r.text
    h1, t1, c1 = await hall_with_slots(client, admin)
    h2, t2, c2 = await hall_with_slots(client, admin)
    people = callers(h1, h2)
    stranger = tokens.citizen(numbered(99), sub="stranger")
    tickets, appointments = {}, {}
    r = await client.post(f"{BASE}/halls/{h2}/tickets", headers=stranger, json={"category": "A"})
    assert r.status_code == 201, r.text
    stranger_ticket = r.json()["id"]
    r = await client.post(f"{BASE}/appointments", headers=stranger,
                          json={"template_id": t2, "day": TOMORROW.isoformat()})
    assert r.status_code == 201, r.text
    stranger_appointment = r.json()["id"]
    # A ticket and an appointment in the first hall: each person's own, one walk-in's for staff.
    walk_in_clerk = tokens.clerk(h1, sub="seed-clerk")
    r = await client.post(f"{BASE}/halls/{h1}/tickets", headers=walk_in_clerk, json={"category": "A"})
    assert r.status_code == 201, r.text
    staff_ticket = r.json()["id"]
    r = await client.post(f"{BASE}/appointments", headers=tokens.citizen(numbered(98), sub="walk-in"),
                          json={"template_id": t1, "day": TOMORROW.isoformat()})
    assert r.status_code == 201, r.text
    staff_appointment = r.json()["id"]
    for caller in people:
        tickets[(caller.name, "stranger")] = stranger_ticket
        appointments[(caller.name, "stranger")] = stranger_appointment
        if caller.role in PEOPLE:
            headers = caller.token(issuer, ["queue"])
            r = await client.post(f"{BASE}/halls/{h1}/tickets", headers=headers, json={"category": "A"})
            assert r.status_code == 201, (caller.name, r.text)
            tickets[(caller.name, "mine")] = r.json()["id"]
            r = await client.post(f"{BASE}/appointments", headers=headers,
                                  json={"template_id": t1, "day": TOMORROW.isoformat()})
            assert r.status_code == 201, (caller.name, r.text)
            appointments[(caller.name, "mine")] = r.json()["id"]
        else:
            tickets[(caller.name, "mine")] = staff_ticket
            appointments[(caller.name, "mine")] = staff_appointment
    return Records({"mine": h1, "stranger": h2}, {"mine": t1, "stranger": t2}, {"mine": c1, "stranger": c2},
                   tickets, appointments), people


def plan(method: str, path: str, caller: Caller, whose: str, rec: Records) -> tuple[str, dict, Target | None]:
    hall = rec.hall[whose]
    url = path.replace("{hall_id}", hall).replace("{counter_id}", rec.counter[whose]) \
        .replace("{ticket_id}", rec.ticket[(caller.name, whose)]) \
        .replace("{appointment_id}", rec.appointment[(caller.name, whose)]) \
        .replace("{day}", TOMORROW.isoformat())
    op = path.removeprefix(SERVICE.prefix)
    params = {"day": TOMORROW.isoformat()} if op.endswith("/slots") else {}
    if op == "/nearest-halls":
        params = {"latitude": 22.5, "longitude": 113.4}
    body: dict | None = {} if method in ("POST", "PUT", "PATCH") else None
    if op in ("/halls/{hall_id}/tickets",) and method == "POST":
        body = {"category": "A"}
    if op in ("/appointments", "/appointments/{appointment_id}/reschedule"):
        body = {"template_id": rec.template[whose], "day": TOMORROW.isoformat()}
    if op.startswith("/counters/") and method == "POST" and not op.endswith(("/transfer",)):
        body = None
    if op.endswith(("/confirm", "/cancel", "/check-in", "/sweep")):
        body = None
    if op.endswith("/rating"):
        body = {"rating": 5}
    if op.endswith("/transfer"):
        body = {"category": "A"}
    kwargs: dict[str, Any] = {"params": params}
    if body is not None:
        kwargs["json"] = body
    return url, kwargs, Target(hall=hall)


def allowed(permission: str, caller: Caller, whose: str, target: Target) -> bool:
    """The policy's answer, then OWNED_BY_ACCOUNT: a person reaches only its own account's records."""
    owned = permission in OWNED_BY_ACCOUNT and caller.role in PEOPLE
    return expected(POLICY, permission, caller, target) and (not owned or whose == "mine")


RECORD_PARTS = ("{hall_id}", "{counter_id}", "{ticket_id}", "{appointment_id}")


async def test_matrix(client, tokens, token_issuer) -> None:  # noqa: ANN001
    rec, people = await seed(client, token_issuer, tokens)
    table = declared(client.app, PLATFORM_ROUTES)
    headers = {c.name: c.token(token_issuer, ["queue"]) for c in people}
    tally = Tally()
    for method, path in operations(client.app):
        if path.endswith("/events"):
            continue  # a server-sent event stream never ends: its permission is checked in the next test
        permission = table[f"{method} {path}"]
        whoses = ("mine", "stranger") if any(x in path for x in RECORD_PARTS) else ("mine",)
        for caller in people:
            for whose in whoses:
                url, kwargs, target = plan(method, path, caller, whose, rec)
                status, body = await tally.call(client, method, url, headers=headers[caller.name], **kwargs)
                tally.compare(f"{method} {path} [{permission}] {caller.name}/{whose}",
                              allowed(permission, caller, whose, target), not refused(status, body), status, body)
    tally.verdict()
    # Every refusal of staff and agents is in the audit trail; people refused for themselves are not.
    refused_actors = await audited_refusals(client.app, platform)
    assert {"clerk-out-of-hall", "approver", "auditor"} <= refused_actors, refused_actors
    assert not refused_actors & {"citizen-self-declared", "another-citizen"}


def test_live_events_are_public(client) -> None:  # noqa: ANN001
    assert declared(client.app, PLATFORM_ROUTES)[f"GET {SERVICE.prefix}/halls/{{hall_id}}/events"] == "live.read"
    assert admit(POLICY, "live.read", None) is not None


async def test_what_is_tied_to_a_case_needs_a_verified_name(client, tokens) -> None:  # noqa: ANN001
    await open_today(client, tokens)
    r = await client.post(f"{BASE}/calendar-overrides", headers=tokens.admin(),
                          json={"day": TOMORROW.isoformat(), "is_working_day": True, "reason": "matrix"})
    assert r.status_code == 201
    hall, template, _ = await hall_with_slots(client, tokens.admin())
    self_declared = tokens.citizen(numbered(11), level="self_declared")
    body = {"template_id": template, "day": TOMORROW.isoformat(), "case_id": "draft-1"}
    r = await client.post(f"{BASE}/appointments", headers=self_declared, json=body)
    assert r.status_code == 403 and r.json()["code"] == "real_name_required" and "verify" in r.json()["detail"]
    r = await client.post(f"{BASE}/appointments", headers=self_declared, json={**body, "case_id": None})
    assert r.status_code == 201, r.text           # booking alone needs no verified name
    r = await client.post(f"{BASE}/appointments", headers=tokens.citizen(numbered(12)), json=body)
    assert r.status_code == 201, r.text
    # So does a ticket tied to a case.
    r = await client.post(f"{BASE}/halls/{hall}/tickets", headers=self_declared,
                          json={"category": "A", "case_id": "draft-2"})
    assert r.status_code == 403 and r.json()["code"] == "real_name_required"
    r = await client.post(f"{BASE}/halls/{hall}/tickets", headers=self_declared, json={"category": "A"})
    assert r.status_code == 201, r.text


def test_readme_carries_the_table() -> None:
    readme = (SERVICE.root / "README.md").read_text()
    assert POLICY.markdown() in readme, "regenerate the README's table: POLICY.markdown()"
