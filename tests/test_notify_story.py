"""Notifications residents, company users and staff actually receive (issue 21), through the
gateway: its worker consumes the events svc-cases, svc-queue and svc-credentials publish (real
NATS JetStream, the contracts' own payloads), makes in-app messages and SMS / WeChat deliveries,
and its dispatcher hands them to the local providers, whose sink the test reads through the
gateway as an admin would in development. The clock is pinned: a Monday morning, then a late
evening inside quiet hours, then the next morning."""

import datetime as dt
import logging
import uuid
from contextlib import contextmanager

import httpx
import pytest
from tongban.gateway import seed as gateway_seed
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.gateway.notify.templates import Kind, SmsTemplate, TemplateBook, TemplateMisconfigured
from tongban.shared import clock
from tongban.shared.contracts import cases as ce
from tongban.shared.contracts import credentials as le
from tongban.shared.contracts import payments as pe
from tongban.shared.contracts import queue as qe
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import running_service, wait_for

D1 = "11442000MB0000002B"            # the seeded approver's department
CITIZEN_ID = "442000199001011233"    # the seeded citizen (phone 13800138000)
FAILING = "13700137000"              # the local SMS simulator throttles this number, always
MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=clock.CHINA)


@contextmanager
def at(moment: dt.datetime):
    with clock.pinned(moment):
        yield


@pytest.fixture
async def gateway(infra, clean_nats, monkeypatch, token_issuer):
    for name, value in {"POLL_SECONDS": "0.1", "RETRY_SECONDS": "0.1", "MAX_ATTEMPTS": "2", "PER_HOUR": "3",
                        "LOCAL_FAILING_NUMBERS": f'["{FAILING}"]'}.items():
        monkeypatch.setenv(f"GATEWAY_NOTIFY_{name}", value)
    url = infra.fresh_database(GATEWAY)
    engine = make_engine(url, 2)
    await gateway_seed.seed(make_sessionmaker(engine))
    await engine.dispose()
    nc = await bus.connect(infra.nats.url, "notify-story")
    js = nc.jetstream()
    for source in ("cases", "queue", "credentials"):
        await bus.ensure_stream(js, source)
    with clock.pinned(MONDAY):
        async with running_service(GATEWAY, infra, token_issuer, database_url=url) as client:
            client.js = js
            yield client
    await nc.close()


async def publish(client, source: str, subject: str, payload) -> None:  # noqa: ANN001
    event = make_event(source, subject, payload, subject=str(uuid.uuid4()))
    await client.js.publish(subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": str(event.id)})


async def login(client: httpx.AsyncClient, username: str, password: str) -> tuple[dict[str, str], str]:
    r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": password})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return headers, (await client.get("/auth/userinfo", headers=headers)).json()["sub"]


def moved(subject_state: str, case_id: uuid.UUID, applicant: str | None, **extra) -> ce.CaseTransitionedV1:
    return ce.CaseTransitionedV1(case_id=case_id, case_number="CN2026120700001", item_basic_code="442020000901",
                                 department=D1, state=subject_state, actor="clerk", at=clock.now(),
                                 applicant_sub=applicant, **extra)


class Sink:
    def __init__(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        self.client, self.admin = client, admin

    async def records(self) -> list[dict]:
        r = await self.client.get("/api/v1/gateway/notify/sink", params={"limit": 200}, headers=self.admin)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    async def wait(self, template: str, count: int = 1) -> list[dict]:
        async def seen():
            found = [s for s in await self.records() if s["template_id"] == template]
            return found if len(found) >= count else None
        return await wait_for(seen, timeout=10)


async def inbox(client, headers) -> list[dict]:  # noqa: ANN001
    r = await client.get("/api/v1/gateway/notify/inbox", params={"limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def wait_inbox(client, headers, kind: str, count: int = 1) -> list[dict]:  # noqa: ANN001
    async def seen():
        found = [m for m in await inbox(client, headers) if m["kind"] == kind]
        return found if len(found) >= count else None
    return await wait_for(seen, timeout=10)


async def deliveries(client, admin, account: str) -> list[dict]:  # noqa: ANN001
    r = await client.get("/api/v1/gateway/notify/deliveries", params={"account_id": account, "limit": 200},
                         headers=admin)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_journeys_tell_the_right_people_on_the_right_channels(gateway, caplog):
    caplog.set_level(logging.INFO, logger="tongban.gateway.notify")
    client = gateway
    admin, _ = await login(client, "admin", "Admin#2026")
    citizen, citizen_sub = await login(client, "citizen", "Citizen#2026")
    company, company_sub = await login(client, "company", "Company#2026")
    approver, approver_sub = await login(client, "approver", "Approver#2026")
    sink = Sink(client, admin)
    base = "/api/v1/gateway/notify"

    # Staff to escalate to: the department's head (whose number the SMS provider keeps throttling)
    # and the supervising office (督办), named by an admin.
    ids = {}
    for username, role, extra in (("head_d1", "approver", {"department": D1, "phone": FAILING}),
                                  ("duban", "auditor", {"phone": "13600136000"})):
        r = await client.post("/auth/accounts", headers=admin, json={
            "username": username, "password": "Staff#2026x", "role": role, "display_name": username, **extra})
        assert r.status_code == 201, r.text
        ids[username] = r.json()["id"]
    for account, role, department in ((ids["head_d1"], "head", D1), (ids["duban"], "supervision", None)):
        r = await client.post(f"{base}/escalation-contacts", headers={**admin, "Idempotency-Key": account}, json={
            "account_id": account, "role": role, "department": department, "reason": "督办 rota 2026"})
        assert r.status_code == 201, r.text

    # Preferences: a number that is not a mainland mobile is 422; the company user wants no SMS.
    r = await client.put(f"{base}/preferences", headers=citizen, json={"phone": "0760-88888888"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = await client.put(f"{base}/preferences", headers=company, json={"sms": False})
    assert r.status_code == 200 and r.json()["sms"] is False
    # She allowed one WeChat message of the case-progress template in the mini-program.
    r = await client.post(f"{base}/wechat-authorisations", headers={**citizen, "Idempotency-Key": "wx-1"},
                          json={"template_id": "wx-case-progress"})
    assert r.status_code == 201 and r.json()["consumed_at"] is None

    # 1. Her case is received and accepted (Monday 10:00): inbox, SMS, and WeChat once.
    case_id = uuid.uuid4()
    await publish(client, "cases", ce.CASE_SUBMITTED, moved("submitted", case_id, citizen_sub))
    await wait_inbox(client, citizen, "case.received")
    accepting = moved("accepted", case_id, citizen_sub, deadline_on=dt.date(2026, 12, 14))
    await publish(client, "cases", ce.CASE_ACCEPTED, accepting)
    accepted = (await wait_inbox(client, citizen, "case.accepted"))[0]
    assert "2026-12-14" in accepted["body"]
    received_sms = (await sink.wait("SMS_TB_CASE_RECEIVED"))[0]
    assert received_sms["address"] == "138****8000" and "CN2026120700001" in received_sms["content"]
    await sink.wait("SMS_TB_CASE_ACCEPTED")
    wechat = [s for s in await sink.records() if s["channel"] == "wechat"]
    assert len(wechat) == 1 and wechat[0]["template_id"] == "wx-case-progress"   # one authorisation, one message
    assert '"value": "已收件"' in wechat[0]["content"]

    # The same news again (another event, a relay's second copy of the step): one message, not two.
    await publish(client, "cases", ce.CASE_ACCEPTED, accepting)
    # A counter case (no applicant account on the event) tells nobody here; a company case its user.
    await publish(client, "cases", ce.CASE_ACCEPTED, moved("accepted", uuid.uuid4(), None))
    company_case = uuid.uuid4()
    await publish(client, "cases", ce.CASE_SUBMITTED, moved("submitted", company_case, company_sub))
    await wait_inbox(client, company, "case.received")
    assert all(d["channel"] != "sms" for d in await deliveries(client, admin, company_sub))  # she said no SMS

    # 2. A licence is issued to her, the hotline answers her: with three non-urgent SMS this hour
    #    already, the fourth waits for the window to move on (deferred, not dropped).
    await publish(client, "credentials", le.LICENCE_ISSUED, le.LicenceIssuedV1(
        licence_id=uuid.uuid4(), identifier="1.2.156.3005.2.x", type_code="business_licence", issuer_code=D1,
        version=1, holder_type="111", holder_id=CITIZEN_ID, valid_from=dt.date(2026, 12, 7),
        valid_until=dt.date(2031, 12, 6)))
    await sink.wait("SMS_TB_LICENCE_ISSUED")
    await publish(client, "cases", ce.TICKET_REPLIED, ce.TicketChangedV1(
        ticket_id=uuid.uuid4(), ticket_number="HT2026120700001", source="citizen", category="complaint",
        state="replied", department=D1, reply="已协调窗口延长服务时间。", at=clock.now(), citizen_sub=citizen_sub))
    reply = (await wait_inbox(client, citizen, "hotline.replied"))[0]
    assert "延长服务时间" in reply["body"]
    mine = await deliveries(client, admin, citizen_sub)
    hotline_sms = [d for d in mine if d["template_id"] == "SMS_TB_HOTLINE_REPLY"]
    assert hotline_sms and hotline_sms[0]["deferred"] == "rate_limit" and hotline_sms[0]["status"] == "scheduled"
    assert len([m for m in await inbox(client, citizen) if m["kind"] == "case.accepted"]) == 1   # de-duplicated

    # 3. The queue: urgent news goes at once, whatever the limits; "you are next" is told.
    await publish(client, "queue", qe.APPOINTMENT_CONFIRMED, qe.AppointmentV1(
        appointment_id=uuid.uuid4(), hall_id=uuid.uuid4(), category="A", day=dt.date(2026, 12, 8),
        starts=dt.time(9, 30), ends=dt.time(10, 0), status="confirmed", person_sub=citizen_sub))
    ticket = uuid.uuid4()
    hall = uuid.uuid4()
    await publish(client, "queue", qe.TICKET_APPROACHING, qe.TicketApproachingV1(
        ticket_id=ticket, hall_id=hall, number="A012", person_sub=citizen_sub, ahead=2))
    await publish(client, "queue", qe.TICKET_APPROACHING, qe.TicketApproachingV1(
        ticket_id=ticket, hall_id=hall, number="A012", person_sub=citizen_sub, ahead=0))
    await publish(client, "queue", qe.TICKET_CALLED, qe.TicketV1(
        ticket_id=ticket, hall_id=hall, day=dt.date(2026, 12, 7), number="A012", category="A", status="called",
        priority=0, channel="remote", person_sub=citizen_sub, counter_number="3", call_count=1, at=clock.now()))
    nxt = (await sink.wait("SMS_TB_TICKET_NEXT"))[0]
    assert "A012号是下一位" in nxt["content"]
    called = (await sink.wait("SMS_TB_TICKET_CALLED"))[0]
    assert "请A012号到3号窗口办理" in called["content"]
    assert "前面还有2人" in (await sink.wait("SMS_TB_TICKET_AHEAD"))[0]["content"]
    async def appointment_told() -> list[dict] | None:  # another consumer than the ticket's: wait for it
        return [d for d in await deliveries(client, admin, citizen_sub)
                if d["template_id"] == "SMS_TB_APPOINTMENT"] or None
    appointment = await wait_for(appointment_told, timeout=10)
    assert appointment[0]["deferred"] == "rate_limit"

    # 4. Deadlines: yellow to the department's approvers; red escalates to its head and 督办.
    late = uuid.uuid4()
    warning = dict(case_id=late, case_number="CN2026110100009", item_basic_code="442020000901", department=D1,
                   deadline_on=dt.date(2026, 12, 4), limit_working_days=20, at=clock.now())
    await publish(client, "cases", ce.CASE_DEADLINE_WARNING,
                  ce.CaseDeadlineV1(level="yellow", used_working_days=16, **warning))
    await wait_inbox(client, approver, "deadline.yellow")
    await publish(client, "cases", ce.CASE_OVERDUE, ce.CaseDeadlineV1(level="red", used_working_days=21, **warning))
    await wait_inbox(client, approver, "deadline.red")
    duban, _ = await login(client, "duban", "Staff#2026x")
    head, _ = await login(client, "head_d1", "Staff#2026x")
    escalated = (await wait_inbox(client, duban, "deadline.escalated"))[0]
    assert D1 in escalated["body"] and "CN2026110100009" in escalated["body"]
    await wait_inbox(client, head, "deadline.escalated")
    assert "督办" in (await sink.wait("SMS_TB_OVERDUE_ESCALATED"))[0]["content"]   # to the office

    # The head's number keeps failing: retried, then a dead letter an admin sees and sends again.
    async def dead():
        r = await client.get(f"{base}/deliveries", params={"status": "failed"}, headers=admin)
        return [d for d in r.json()["items"] if d["account_id"] == ids["head_d1"]] or None
    letter = (await wait_for(dead, timeout=10))[0]
    assert letter["attempts"] == 2 and letter["address"] == "137****7000"
    assert letter["last_error"] == "isv.BUSINESS_LIMIT_CONTROL"
    r = await client.post(f"{base}/deliveries/{letter['id']}/retry", headers=admin, json={"reason": "号码已更正"})
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    assert (await client.post(f"{base}/deliveries/{letter['id']}/retry", headers=citizen,
                              json={"reason": "x"})).status_code == 403

    # 5. The inbox: paginated, unread count, mark read; nobody reads another's messages.
    count = (await client.get(f"{base}/inbox/unread-count", headers=citizen)).json()["unread"]
    assert count == len(await inbox(client, citizen)) >= 8
    page = (await client.get(f"{base}/inbox", params={"limit": 2}, headers=citizen)).json()
    assert len(page["items"]) == 2 and page["next_offset"] == 2 and page["total"] == count
    first = page["items"][0]
    r = await client.post(f"{base}/inbox/{first['id']}/read", headers=citizen)
    assert r.status_code == 200 and r.json()["read_at"] is not None
    assert (await client.get(f"{base}/inbox/unread-count", headers=citizen)).json()["unread"] == count - 1
    assert (await client.post(f"{base}/inbox/{first['id']}/read", headers=company)).status_code == 404
    assert (await client.get(f"{base}/sink", headers=citizen)).status_code == 403

    # 6. Quiet hours: late in the evening a supplement request reaches her inbox at once, its SMS
    #    waits until 08:00; the list of what is missing is told. "You are next" goes through them.
    with clock.pinned(dt.datetime(2026, 12, 7, 22, 30, tzinfo=clock.CHINA)):
        await publish(client, "cases", ce.CASE_SUPPLEMENT_REQUESTED, moved(
            "supplement_requested", case_id, citizen_sub, reason="材料不全",
            missing_materials=["营业执照副本", "租赁合同"]))
        asked = (await wait_inbox(client, citizen, "case.supplement_requested"))[0]
        assert "营业执照副本、租赁合同" in asked["body"]
        await publish(client, "queue", qe.TICKET_APPROACHING, qe.TicketApproachingV1(
            ticket_id=uuid.uuid4(), hall_id=hall, number="B007", person_sub=citizen_sub, ahead=0))
        await wait_for(lambda: _has(sink, "B007号是下一位"), timeout=10)
        planned = [d for d in await deliveries(client, admin, citizen_sub) if d["template_id"] == "SMS_TB_CASE_SUPPLEMENT"]
        assert planned[0]["deferred"] == "quiet_hours" and planned[0]["status"] == "scheduled"
        assert dt.datetime.fromisoformat(planned[0]["not_before"]) == dt.datetime(2026, 12, 8, 8, 0, tzinfo=clock.CHINA)
        assert not [s for s in await sink.records() if s["template_id"] == "SMS_TB_CASE_SUPPLEMENT"]
    with clock.pinned(dt.datetime(2026, 12, 8, 8, 0, 1, tzinfo=clock.CHINA)):
        sms = (await sink.wait("SMS_TB_CASE_SUPPLEMENT"))[0]
        assert "营业执照副本" in sms["content"]

    # Logs name the masked number, never the whole number or the content.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "138****8000" in logged and "13800138000" not in logged and "营业执照" not in logged


def order(state: str, applicant: str | None, **extra) -> pe.PaymentOrderV1:
    return pe.PaymentOrderV1(
        order_id=ORDER_ID, order_number="PO2026120700001", case_id=uuid.UUID(int=7), case_number="CN2026120700007",
        payment_code="4420261207000123", amount_fen=12050, mode="pay_first", state=state,
        expires_at=dt.datetime(2026, 12, 9, 2, 0, tzinfo=dt.UTC), at=clock.now(), applicant_sub=applicant,
        lines=[pe.PaymentLineV1(department=D1, basic_code="442020000901", name="工本费", amount_fen=12050)], **extra)


ORDER_ID = uuid.uuid4()


async def test_payment_due_received_and_refunded_reach_the_applicant(gateway):
    """统一支付's events become messages: due (amount, 非税缴款码, expiry in Beijing time), received
    (amount, 电子票据号), refunded; on her inbox, SMS and (once authorised) WeChat; told once however
    often the event comes; a counter case's order tells nobody; a muted kind is not told."""
    client = gateway
    admin, _ = await login(client, "admin", "Admin#2026")
    citizen, citizen_sub = await login(client, "citizen", "Citizen#2026")
    company, company_sub = await login(client, "company", "Company#2026")
    sink = Sink(client, admin)
    base = "/api/v1/gateway/notify"
    r = await client.post(f"{base}/wechat-authorisations", headers={**citizen, "Idempotency-Key": "wx-pay"},
                          json={"template_id": "wx-payment"})
    assert r.status_code == 201, r.text
    r = await client.put(f"{base}/preferences", headers=company, json={"muted": ["payment.due"]})
    assert r.status_code == 200 and r.json()["muted"] == ["payment.due"]

    due = order("unpaid", citizen_sub)
    await publish(client, "cases", pe.PAYMENT_DUE, due)
    await publish(client, "cases", pe.PAYMENT_DUE, due)                 # a relay's second copy
    await publish(client, "cases", pe.PAYMENT_DUE, order("unpaid", None))   # a counter case: the hall collects
    told = (await wait_inbox(client, citizen, "payment.due"))[0]
    assert "120.50元" in told["body"] and "4420261207000123" in told["body"] and "2026-12-09 10:00" in told["body"]
    sms = (await sink.wait("SMS_TB_PAYMENT_DUE"))[0]
    assert sms["address"] == "138****8000"
    assert "非税缴款码4420261207000123" in sms["content"] and "120.50元" in sms["content"]
    wechat = (await sink.wait("wx-payment"))[0]
    assert '"value": "120.50元"' in wechat["content"]

    await publish(client, "cases", pe.PAYMENT_RECEIVED, order("paid", citizen_sub, provider="wechat",
                                                              receipt_number="44000126120700000042"))
    paid = (await wait_inbox(client, citizen, "payment.received"))[0]
    assert "44000126120700000042" in paid["body"] and "120.50元" in paid["body"]
    assert "电子票据号44000126120700000042" in (await sink.wait("SMS_TB_PAYMENT_RECEIVED"))[0]["content"]
    await publish(client, "cases", pe.PAYMENT_REFUNDED, order("refunded", citizen_sub, provider="wechat"))
    refunded = (await wait_inbox(client, citizen, "payment.refunded"))[0]
    assert "已退款" in refunded["body"]
    await sink.wait("SMS_TB_PAYMENT_REFUNDED")

    # The company user muted "payment due" but hears that her payment was received.
    company_order = order("unpaid", company_sub).model_copy(update={"order_id": uuid.uuid4()})
    await publish(client, "cases", pe.PAYMENT_DUE, company_order)
    await publish(client, "cases", pe.PAYMENT_RECEIVED, company_order.model_copy(
        update={"state": "paid", "receipt_number": "44000126120700000043"}))
    await wait_inbox(client, company, "payment.received")
    assert not [m for m in await inbox(client, company) if m["kind"] == "payment.due"]
    mine = [m["kind"] for m in await inbox(client, citizen)]
    assert sorted(mine) == ["payment.due", "payment.received", "payment.refunded"]   # each once
    assert len([s for s in await sink.records() if s["template_id"] == "SMS_TB_PAYMENT_DUE"]) == 1
    assert len([s for s in await sink.records() if s["channel"] == "wechat"]) == 1     # one authorisation, one message


async def _has(sink: Sink, text: str) -> bool:
    return any(text in s["content"] for s in await sink.records())


def test_a_template_missing_a_variable_is_refused_when_configured():
    sms = [SmsTemplate("SMS_X", "办件${case_number}已受理，期限${deadline}。")]
    book = TemplateBook.build(sms, [], [])
    with pytest.raises(TemplateMisconfigured, match="deadline"):
        book.add(Kind("case.accepted", "已受理", "办件{case_number}已受理", ("case_number",), "applicant", sms="SMS_X"))
    with pytest.raises(TemplateMisconfigured, match="not an approved template"):
        book.add(Kind("case.other", "t", "x", (), "applicant", sms="SMS_NEVER_APPROVED"))
    with pytest.raises(TemplateMisconfigured, match="inbox wording"):
        book.add(Kind("case.third", "t", "办件{case_number}", (), "applicant"))
    book.add(Kind("case.accepted", "已受理", "办件{case_number}", ("case_number", "deadline"), "applicant", sms="SMS_X"))
    assert "case.accepted" in book.kinds
