"""The city's service dashboard: the read model of svc-cases' events, who may read the figures,
and the wall-screen page in headless Chromium fed by the real svc-cases through NATS."""

import asyncio
import base64
import datetime as dt
import tempfile
import uuid
from pathlib import Path

from queue_helpers import BASE, Chromium, make_counter, make_hall, open_today, serve_http
from tongban.cases.catalog_copy import service as cases_catalog
from tongban.cases.main import SERVICE as CASES
from tongban.queue.consumers.cases import on_case_event, on_rating_event, on_remedy_event
from tongban.queue.main import SERVICE
from tongban.shared import clock
from tongban.shared.contracts import cases as contract
from tongban.shared.contracts.catalog import ItemPublishedV1
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit
from tongban.shared.testing.plugin import running_service

ARTEFACTS = Path(__file__).resolve().parents[2] / "artefacts"
DEPT = "11442000MB2C3D4E5" + credit_code_check_char("11442000MB2C3D4E5")
OTHER_DEPT = "11440300MB2C3D4E6" + credit_code_check_char("11440300MB2C3D4E6")
ADULT = "44200019900101123" + resident_id_check_digit("44200019900101123")
ITEM = "442020000900"
# A Monday in term time, 10:00 Beijing time: the read-model test's "today".
MONDAY = dt.datetime(2027, 3, 15, 10, 0, tzinfo=clock.CHINA)


def dashboard_token(issuer, role: str = "auditor", scopes: str = "queue:dashboard") -> dict:
    return {"Authorization": "Bearer " + issuer.mint(role, scopes, ["queue"], sub=f"{role}-dashboard")}


async def feed(client, handler, kind: str, data) -> None:
    """Deliver one svc-cases event to a consumer handler, in its own transaction as the inbox does."""
    event = make_event("cases", kind, data, subject=str(getattr(data, "case_id", "")))
    async with client.app.state.sessionmaker() as session, session.begin():
        await handler(session, event)


def moved(case_id: uuid.UUID, state: str, at: dt.datetime, department: str = DEPT, **extra):
    return contract.CaseTransitionedV1(case_id=case_id, case_number=f"ZS{str(case_id)[:8]}",
                                       item_basic_code=ITEM, department=department, state=state, actor="t", at=at,
                                       **extra)


async def test_read_model_counts_cases_deadlines_and_ratings_per_department(client, token_issuer):
    today = MONDAY.date()
    with clock.pinned(MONDAY):
        ok, late, instant, stale, old = (uuid.uuid4() for _ in range(5))
        # Received today, decided in time; received today, decided after its deadline (the denial
        # arrives before the submission: consumers may see events out of order).
        await feed(client, on_case_event, contract.CASE_DENIED, moved(
            late, "denied", MONDAY + dt.timedelta(minutes=20), deadline_on=today - dt.timedelta(days=1)))
        for case_id in (ok, late):
            await feed(client, on_case_event, contract.CASE_SUBMITTED, moved(
                case_id, "submitted", MONDAY - dt.timedelta(hours=1), deadline_on=today + dt.timedelta(days=20)))
        await feed(client, on_case_event, contract.CASE_APPROVED, contract.CaseApprovedV1(
            case_id=ok, case_number="ZS1", item_basic_code=ITEM, applicant_type="person", applicant_id=ADULT,
            applicant_name="张三", department=DEPT, approved_at=MONDAY, deadline_on=today + dt.timedelta(days=20)))
        # 秒批: decided by a rule version within the submitting request.
        await feed(client, on_case_event, contract.CASE_SUBMITTED, moved(instant, "submitted", MONDAY))
        await feed(client, on_case_event, contract.CASE_APPROVED, contract.CaseApprovedV1(
            case_id=instant, case_number="ZS2", item_basic_code=ITEM, applicant_type="person", applicant_id=ADULT,
            applicant_name="张三", department=DEPT, approved_at=MONDAY, rule_version=3, deadline_on=today))
        # An older case of another department: overdue (red) and still open; another only warned.
        await feed(client, on_case_event, contract.CASE_SUBMITTED, moved(
            stale, "submitted", MONDAY - dt.timedelta(days=30), department=OTHER_DEPT))
        for case_id, level, kind in ((stale, "red", contract.CASE_OVERDUE),
                                     (old, "yellow", contract.CASE_DEADLINE_WARNING)):
            await feed(client, on_case_event, kind, contract.CaseDeadlineV1(
                case_id=case_id, case_number="ZS3", item_basic_code=ITEM, department=OTHER_DEPT, level=level,
                deadline_on=today + dt.timedelta(days=2), limit_working_days=20, used_working_days=18, at=MONDAY))
        # Waiting for the applicant's supplement, the clock stands: its old deadline is not overdue.
        await feed(client, on_case_event, contract.CASE_SUPPLEMENT_REQUESTED, moved(
            uuid.uuid4(), "supplement_requested", MONDAY - dt.timedelta(days=9), department=OTHER_DEPT,
            deadline_on=today - dt.timedelta(days=3)))
        # A 容缺 reminder, which the dashboard does not count, changes nothing.
        await feed(client, on_case_event, contract.CASE_GAPS_REMINDER, contract.CaseGapsReminderV1(
            case_id=ok, case_number="ZS1", item_basic_code=ITEM, state="accepted", gaps=["x"],
            gaps_due_on=today, days_left=1, at=MONDAY))
        # Ratings: a good one, a bad one whose remedy is closed, a bad one whose remedy opened first.
        good, fixed, pending = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for rating_id, level in ((good, 5), (fixed, 1)):
            await feed(client, on_rating_event, contract.RATING_SUBMITTED, contract.RatingSubmittedV1(
                rating_id=rating_id, case_id=ok, item_basic_code=ITEM, department=DEPT, level=level, at=MONDAY))
        for rating_id, state, minutes in ((pending, "open", 1), (fixed, "open", 1), (fixed, "closed", 30)):
            await feed(client, on_remedy_event, contract.REMEDY_OPENED, contract.RemedyV1(
                remedy_id=uuid.uuid4(), rating_id=rating_id, case_id=late, department=DEPT, state=state,
                due_on=today, at=MONDAY + dt.timedelta(minutes=minutes)))
        await feed(client, on_rating_event, contract.RATING_SUBMITTED, contract.RatingSubmittedV1(
            rating_id=pending, case_id=late, item_basic_code=ITEM, department=DEPT, level=2, at=MONDAY))
        # A redelivered "open" of the closed remedy, older than its closing, does not reopen it.
        await feed(client, on_remedy_event, contract.REMEDY_OPENED, contract.RemedyV1(
            remedy_id=uuid.uuid4(), rating_id=fixed, case_id=ok, department=DEPT, state="open", due_on=today,
            at=MONDAY + dt.timedelta(minutes=2)))

        r = await client.get(f"{BASE}/dashboard/figures", headers=dashboard_token(token_issuer))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["day"] == today.isoformat()
    depts = {d["department"]: d for d in body["departments"]}
    mine = depts[DEPT]
    assert (mine["received"], mine["decided"], mine["instant"], mine["on_time"]) == (3, 3, 1, 2)
    assert mine["on_time_rate"] == 0.6667 and mine["overdue"] == 0
    assert (mine["ratings"], mine["good"], mine["bad"], mine["bad_open"]) == (3, 1, 2, 1)
    other = depts[OTHER_DEPT]
    assert (other["received"], other["decided"], other["overdue"], other["warned"]) == (0, 0, 1, 1)
    t = body["totals"]
    assert (t["received"], t["decided"], t["instant"], t["overdue"], t["warned"], t["bad_open"]) == (3, 3, 1, 1, 1, 1)
    assert t["good_rate"] == 0.3333
    # The next day, today's counts start again; what is still open stays on the screen.
    with clock.pinned(MONDAY + dt.timedelta(days=1)):
        tomorrow = (await client.get(f"{BASE}/dashboard/figures", headers=dashboard_token(token_issuer))).json()
    assert (tomorrow["totals"]["received"], tomorrow["totals"]["decided"]) == (0, 0)
    assert (tomorrow["totals"]["overdue"], tomorrow["totals"]["bad_open"]) == (1, 1)


async def test_figures_are_for_city_managers_and_admins_only(client, tokens, token_issuer):
    url = f"{BASE}/dashboard/figures"
    assert (await client.get(url)).status_code == 401
    hall = await make_hall(client, tokens)
    for headers in (tokens.clerk(hall["id"]), tokens.citizen(), tokens.admin(),   # admin without the scope
                    dashboard_token(token_issuer, "auditor", "audit:read")):
        r = await client.get(url, headers=headers)
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json", r.text
    for role in ("auditor", "admin"):
        assert (await client.get(url, headers=dashboard_token(token_issuer, role))).status_code == 200
    # The live stream answers to the same permission, and ends when the token does (this one lives
    # two seconds; the browser test follows a longer one).
    short = {"Authorization": "Bearer " + token_issuer.mint("auditor", "queue:dashboard", ["queue"], ttl=2)}
    r = await client.get(f"{BASE}/dashboard/events", headers=short)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.text.startswith("event: figures\ndata: {") and '"totals"' in r.text
    assert (await client.get(f"{BASE}/dashboard/events")).status_code == 401
    assert (await client.get(f"{BASE}/dashboard/events", headers=tokens.clerk(hall["id"]))).status_code == 403
    page = await client.get(f"{BASE}/dashboard")
    assert page.status_code == 200 and "城市政务服务实时看板" in page.text and DEPT not in page.text


async def publish_instant_item(cases) -> None:
    """An item in svc-cases' catalogue copy, with a rule that approves an adult's request at once."""
    data = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=ITEM, name="退役军人优待证申领", item_type="20",
                           version=1, case_type="promised", promised_limit=15, promised_limit_unit="working_day",
                           status="published", record={"implementing_body_credit_code": DEPT})
    async with cases.app.state.sessionmaker() as session, session.begin():
        await cases_catalog.apply_item_published(session, data)


async def test_wall_screen_follows_a_call_and_an_instant_approval_in_headless_chromium(
        infra, token_issuer, tokens, clean_nats):
    def cases_headers(role: str, scopes: str, **claims) -> dict:
        return {"Authorization": "Bearer " + token_issuer.mint(role, scopes, ["cases"], **claims)}

    admin = cases_headers("admin", "cases:read cases:admin", sub="admin-1")
    citizen = cases_headers("citizen", "cases:apply cases:read", sub=f"citizen-{ADULT}", id_number=ADULT,
                            name="张三", real_name_level="verified")
    async with running_service(CASES, infra, token_issuer) as cases, \
            running_service(SERVICE, infra, token_issuer) as queue:
        await publish_instant_item(cases)
        r = await cases.put(f"/api/v1/cases/item-configs/{ITEM}", headers=admin, json={
            "form_fields": [{"name": "purpose", "type": "string", "required": True, "enum": ["self", "other"]}]})
        assert r.status_code == 200, r.text
        r = await cases.post(f"/api/v1/cases/item-configs/{ITEM}/approval-rules", headers=admin, json={
            "conditions": [{"field": "applicant.age", "op": "gte", "value": 18},
                           {"field": "form.purpose", "op": "in", "value": ["self"]}], "note": "成年本人"})
        assert r.status_code == 201, r.text
        await open_today(queue, tokens)   # the halls open whatever day the suite runs on
        hall = await make_hall(queue, tokens, name="中山市民服务中心")
        await make_hall(queue, tokens, name="小榄镇服务中心")
        counter, clerk = await make_counter(queue, tokens, hall["id"], "1", [{"category": "A"}])
        for _ in range(2):
            assert (await queue.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk,
                                     json={"category": "A"})).status_code == 201
        token = token_issuer.mint("auditor", "queue:dashboard", ["queue"], sub="wall-screen", ttl=600)
        async with serve_http(queue.app) as base:
            with tempfile.TemporaryDirectory() as profile:
                browser = await asyncio.to_thread(Chromium, profile)
                try:
                    async def wait(expression: str, expected) -> None:
                        await asyncio.to_thread(browser.wait_for, tab, expression, expected)

                    # Without a token the page says so and shows no figures.
                    bare = await asyncio.to_thread(browser.open, f"{base}{BASE}/dashboard")
                    await asyncio.to_thread(browser.wait_for, bare, "document.getElementById('status').textContent",
                                            "缺少令牌：请以 #token=… 打开本页")
                    tab = await asyncio.to_thread(browser.open, f"{base}{BASE}/dashboard#token={token}")
                    await asyncio.to_thread(browser.send, "Emulation.setDeviceMetricsOverride", {
                        "width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False}, tab)
                    row = f"document.querySelector('[data-hall=\"{hall['id']}\"]')"
                    await wait(f"{row} && {row}.querySelector('.waiting').textContent", "2")
                    assert await asyncio.to_thread(browser.evaluate, tab, "location.hash") == ""
                    await wait(f"{row}.querySelector('.counters').textContent", "1")
                    await wait("document.getElementById('t-instant').textContent", "0")

                    r = await queue.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk)
                    assert r.status_code == 200 and r.json()["number"] == "A001"
                    await wait(f"{row}.querySelector('.waiting').textContent", "1")

                    r = await cases.post("/api/v1/cases/cases", headers=citizen,
                                         json={"basic_code": ITEM, "form_data": {"purpose": "self"}})
                    assert r.status_code == 201 and r.json()["state"] == "approved", r.text
                    # svc-cases' outbox → NATS → svc-queue's inbox → read model → the next refresh.
                    await wait("document.getElementById('t-instant').textContent", "1")
                    dept = f"document.querySelector('[data-department=\"{DEPT}\"]')"
                    await wait(f"{dept}.querySelector('.decided').textContent", "1")
                    assert await asyncio.to_thread(browser.evaluate, tab,
                                                   f"{dept}.querySelector('.received').textContent") == "1"
                    await wait("document.getElementById('t-ontime').textContent", "100%")
                    shot = await asyncio.to_thread(browser.send, "Page.captureScreenshot", {"format": "png"}, tab)
                    ARTEFACTS.mkdir(exist_ok=True)
                    png = base64.b64decode(shot["data"])
                    assert png.startswith(b"\x89PNG")
                    (ARTEFACTS / "dashboard.png").write_bytes(png)
                finally:
                    await asyncio.to_thread(browser.close)
