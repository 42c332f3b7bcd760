"""An approved case whose item produces a licence gets exactly one, whatever the redeliveries."""

import datetime as dt
import json
import uuid

from sqlalchemy import func, select

from tongban.credentials.db import platform
from tongban.credentials.licence.models import Licence
from tongban.credentials.seal.models import Seal
from tongban.shared.contracts.cases import CASE_APPROVED, CaseApprovedV1
from tongban.shared.contracts.credentials import LICENCE_ISSUE_FAILED
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import wait_for


async def publish_raw(infra, subject: str, payload: bytes, msg_id: str) -> None:  # noqa: ANN001
    nc = await bus.connect(infra.nats.url, "test-publisher")
    await bus.ensure_stream(nc.jetstream(), "cases")
    await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
    await nc.close()


async def scalar(svc, stmt):  # noqa: ANN001, ANN201
    async with svc.app.state.sessionmaker() as s:
        return (await s.execute(stmt)).scalar()


def approved(k, case_id: uuid.UUID, **extra) -> CaseApprovedV1:  # noqa: ANN001, ANN003
    fields = {"case_id": case_id, "case_number": "ZS2026-000123", "item_basic_code": "442010000100",
              "applicant_type": "person", "applicant_id": k.CITIZEN, "applicant_name": "张三",
              "result_licence_type_code": k.TYPE_CODE, "department": k.DEPT,
              "approved_at": dt.datetime.now(dt.UTC),
              "data": {"business_scope": "预包装食品销售", "address": "中山市东区", "form_only": "ignored"}}
    return CaseApprovedV1(**{**fields, **extra})


async def test_one_licence_per_case_and_bad_events_dead_letter(svc, infra, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    case_id = uuid.uuid4()
    event = make_event("cases", CASE_APPROVED, approved(k, case_id), subject=str(case_id))
    raw = event.model_dump_json().encode()
    for n in range(3):  # the same event under three message ids: only the inbox can drop them
        await publish_raw(infra, CASE_APPROVED, raw, f"{event.id}-{n}")
    # The same approval as a new event (a republished approval): the case id's uniqueness drops it.
    again = make_event("cases", CASE_APPROVED, approved(k, case_id), subject=str(case_id))
    await publish_raw(infra, CASE_APPROVED, again.model_dump_json().encode(), str(again.id))
    # No licence for this item, and one that can never produce one (a required field missing).
    plain = make_event("cases", CASE_APPROVED, approved(k, uuid.uuid4(), result_licence_type_code=None))
    await publish_raw(infra, CASE_APPROVED, plain.model_dump_json().encode(), str(plain.id))
    bad = json.loads(make_event("cases", CASE_APPROVED, approved(k, uuid.uuid4())).model_dump_json())
    del bad["data"]["data"]["address"]
    await publish_raw(infra, CASE_APPROVED, json.dumps(bad).encode(), bad["id"])

    consumer = svc.app.state.runtime.consumers[0]

    async def settled():  # noqa: ANN202
        return consumer.handled >= 5 and await scalar(svc, select(func.count()).select_from(platform.dead_letter))

    await wait_for(settled)
    assert await scalar(svc, select(func.count()).select_from(Licence)) == 1
    assert await scalar(svc, select(Licence.source_case_id)) == case_id
    assert await scalar(svc, select(func.count()).select_from(platform.dead_letter)) == 1
    assert "data.address" in await scalar(svc, select(platform.dead_letter.c.error))
    # ... and the case is told why (svc-cases puts it on the case's timeline).
    [told] = (await scalar(svc, select(func.array_agg(platform.outbox.c.envelope)).where(
        platform.outbox.c.subject == LICENCE_ISSUE_FAILED)))
    assert told["data"]["case_id"] == bad["data"]["case_id"] and "address" in told["data"]["reason"]
    wallet = (await svc.get("/api/v1/credentials/me/licences", headers=tokens.citizen)).json()
    assert wallet["total"] == 1 and wallet["items"][0]["data"] == {"business_scope": "预包装食品销售",
                                                                   "address": "中山市东区"}


async def test_registration_gets_licence_and_seals_each_failing_alone(svc, infra, tokens, k) -> None:
    await k.setup_type(svc, tokens, holder_type="001")
    company = dict(applicant_type="company", applicant_id=k.COMPANY, applicant_name="中山市通办科技有限公司",
                   item_basic_code="440100100000")   # 企业设立登记: a registration item (seeded by the migration)
    good = make_event("cases", CASE_APPROVED, approved(k, uuid.uuid4(), **company))
    other = k.credit("91442000MA4UAB77Q")
    # The licence cannot be issued (a required field is missing), the seals still are.
    no_licence = approved(k, uuid.uuid4(), **{**company, "applicant_id": other})
    no_licence = make_event("cases", CASE_APPROVED, no_licence.model_copy(update={"data": {"business_scope": "x"}}))
    for event in (good, no_licence):
        await publish_raw(infra, CASE_APPROVED, event.model_dump_json().encode(), str(event.id))
    consumer = svc.app.state.runtime.consumers[0]

    async def settled():  # noqa: ANN202
        return consumer.handled >= 2

    await wait_for(settled)
    assert await scalar(svc, select(func.count()).select_from(Licence)) == 1
    assert await scalar(svc, select(func.count()).select_from(Seal).where(Seal.company_code == k.COMPANY)) == 4
    assert await scalar(svc, select(func.count()).select_from(Seal).where(Seal.company_code == other)) == 4
    errors = await scalar(svc, select(func.string_agg(platform.dead_letter.c.error, "|")))
    assert errors.count("licence:") == 1 and "data.address" in errors and "seals:" not in errors


class Delivered:
    """A fetched JetStream message as the inbox sees it (data, subject, metadata), its ack and nak
    recorded: the group's transaction is what is tested, not NATS."""

    def __init__(self, event, raw: bytes | None = None) -> None:  # noqa: ANN001
        self.data = raw if raw is not None else event.model_dump_json().encode()
        self.subject, self.headers, self.metadata = CASE_APPROVED, None, None
        self.acked = self.naked = False

    async def ack(self) -> None:
        self.acked = True

    async def nak(self, delay: float | None = None) -> None:
        self.naked = True


async def test_approvals_handled_together_give_one_licence_each(svc, tokens, k) -> None:
    """Approvals fetched together share one transaction (the subscription's `together`): every
    case gets its own licence, serial, signature, event and audit row, once; a duplicate in the
    group or delivered again later adds nothing; an approval that can never give a licence is
    dead-lettered in the group; a transient failure rolls the group back and each approval is
    then handled alone, the failing one retried later."""
    from tongban.credentials.consumers import cases as consumer_module
    from tongban.credentials.main import SERVICE
    from tongban.shared.contracts.credentials import LICENCE_ISSUED
    from tongban.shared.events.inbox import Consumer, Subscription

    assert consumer_module.SUBSCRIPTIONS[0].together > 1
    await k.setup_type(svc, tokens)
    sessionmaker = svc.app.state.sessionmaker
    fail_on: set[uuid.UUID] = set()

    async def handler(session, event):  # noqa: ANN001
        if event.id in fail_on:
            raise ConnectionError("a transient failure")
        await consumer_module.on_case_event(session, event)

    sub = Subscription(source="cases", subject=CASE_APPROVED, durable="credentials-together-test",
                       handler=handler, together=20)
    consumer = Consumer(sub, sessionmaker, SERVICE.tables, lambda: None)
    cases = [uuid.uuid4() for _ in range(3)]
    events = [make_event("cases", CASE_APPROVED, approved(k, c), subject=str(c)) for c in cases]
    again = make_event("cases", CASE_APPROVED, approved(k, cases[0]), subject=str(cases[0]))
    bad = json.loads(make_event("cases", CASE_APPROVED, approved(k, uuid.uuid4())).model_dump_json())
    del bad["data"]["data"]["address"]
    group = [Delivered(events[0]), Delivered(events[0]), Delivered(again), Delivered(events[1]),
             Delivered(None, json.dumps(bad).encode()), Delivered(events[2])]
    await consumer.handle_together(group)

    async def issued() -> list:
        return list(await scalar(svc, select(func.array_agg(Licence.source_case_id))) or [])

    assert sorted(map(str, await issued())) == sorted(map(str, cases))
    assert all(m.acked for m in group)
    assert await scalar(svc, select(func.count()).select_from(platform.dead_letter)) == 1
    assert await scalar(svc, select(func.count(func.distinct(Licence.serial)))) == 3
    assert await scalar(svc, select(func.count()).select_from(platform.outbox)
                        .where(platform.outbox.c.subject == LICENCE_ISSUED)) == 3

    # Delivered again (acks lost): found in the inbox, acked, nothing issued twice.
    replay = [Delivered(e) for e in events]
    await consumer.handle_together(replay)
    assert len(await issued()) == 3 and all(m.acked for m in replay)

    # A transient failure in a group: rolled back, each handled alone; the failing one is nak'ed
    # (retried later), the others issued once.
    later = [uuid.uuid4() for _ in range(3)]
    fresh = [make_event("cases", CASE_APPROVED, approved(k, c), subject=str(c)) for c in later]
    fail_on.add(fresh[1].id)
    msgs = [Delivered(e) for e in fresh]
    await consumer.handle_together(msgs)
    assert [m.acked for m in msgs] == [True, False, True] and msgs[1].naked
    assert sorted(map(str, await issued())) == sorted(map(str, cases + [later[0], later[2]]))


async def test_approvals_together_read_their_type_once_and_see_a_new_key_next_time(svc, tokens, k) -> None:
    """A group of approvals (one transaction) reads the licence type and its key once, not per
    licence; the next transaction reads them again, so a key rotated meanwhile signs its licences."""
    from sqlalchemy import event

    from tongban.credentials.consumers import cases as consumer_module
    from tongban.credentials.main import SERVICE
    from tongban.credentials.signing import service as signing
    from tongban.shared.events.inbox import Consumer, Subscription

    await k.setup_type(svc, tokens)
    sessionmaker = svc.app.state.sessionmaker
    sub = Subscription(source="cases", subject=CASE_APPROVED, durable="credentials-type-once-test",
                       handler=consumer_module.on_case_event, together=20)
    consumer = Consumer(sub, sessionmaker, SERVICE.tables, lambda: None)
    type_reads: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001, ANN002
        if "FROM credentials.licence_type" in statement:
            type_reads.append(statement)

    engine = sessionmaker.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        first = [uuid.uuid4() for _ in range(3)]
        await consumer.handle_together([Delivered(make_event("cases", CASE_APPROVED, approved(k, c), subject=str(c)))
                                        for c in first])
        kids = {kid for (kid,) in (await _rows(svc, select(Licence.kid).where(Licence.source_case_id.in_(first))))}
        assert len(kids) == 1
        assert len(type_reads) <= 2   # the first licence may make the issuer's key: read once more then

        async with sessionmaker() as session, session.begin():
            new_key = await signing.rotate_key(session, k.DEPT, "system:rotation-test", "rotation test")  # type: ignore[arg-type]
        assert new_key.kid not in kids
        type_reads.clear()
        second = [uuid.uuid4() for _ in range(3)]
        await consumer.handle_together([Delivered(make_event("cases", CASE_APPROVED, approved(k, c), subject=str(c)))
                                        for c in second])
        assert len(type_reads) == 1
        kids = {kid for (kid,) in (await _rows(svc, select(Licence.kid).where(Licence.source_case_id.in_(second))))}
        assert kids == {new_key.kid}
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def _rows(svc, stmt):  # noqa: ANN001, ANN202
    async with svc.app.state.sessionmaker() as s:
        return (await s.execute(stmt)).all()
