"""The notifier handles a backlog's events several to a transaction (the shared inbox's `together`)
and still tells each thing once: a group that dies before its commit leaves nothing (all are
delivered again and told once), a group committed but never acked is found in the inbox when
it comes again (nothing told twice), and a poison event in a group costs the others nothing."""

import asyncio
import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import func, select

from tongban.gateway import seed as gateway_seed
from tongban.gateway.account.models import Account
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.gateway.notify import consumers
from tongban.gateway.notify.models import Delivery, Message
from tongban.shared import clock
from tongban.shared.contracts import cases as ce
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.events.inbox import Consumer, Subscription
from tongban.shared.testing.plugin import wait_for

MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=clock.CHINA)
SUBJECT = "cases.case.>"


@pytest.fixture
async def notifier(infra, clean_nats):
    url = infra.fresh_database(GATEWAY)
    engine = make_engine(url, 2)
    sessionmaker = make_sessionmaker(engine)
    await gateway_seed.seed(sessionmaker)
    nc = await bus.connect(infra.nats.url, "notify-together")
    js = nc.jetstream()
    await bus.ensure_stream(js, "cases")
    async with sessionmaker() as s:
        citizen = (await s.execute(select(Account.id).where(Account.username == "citizen"))).scalar_one()
    with clock.pinned(MONDAY):
        yield sessionmaker, js, str(citizen)
    await nc.close()
    await engine.dispose()


def submitted(citizen: str, n: int) -> bytes:
    case_id = uuid.uuid4()
    payload = ce.CaseTransitionedV1(case_id=case_id, case_number=f"CN20261207{n:05d}", item_basic_code="442020000901",
                                    state="submitted", actor="citizen", at=clock.now(), applicant_sub=citizen)
    return make_event("cases", ce.CASE_SUBMITTED, payload, subject=str(case_id)).model_dump_json().encode()


async def counts(sessionmaker) -> tuple[int, int]:  # noqa: ANN001
    async with sessionmaker() as s:
        messages = (await s.execute(select(func.count()).select_from(Message))).scalar_one()
        deliveries = (await s.execute(select(func.count()).select_from(Delivery))).scalar_one()
    return messages, deliveries


async def fetch(psub, want: int) -> list:  # noqa: ANN001
    got: list = []

    async def more():
        try:
            got.extend(await psub.fetch(want - len(got), timeout=0.5))
        except TimeoutError:
            pass
        return got if len(got) >= want else None
    return await wait_for(more, timeout=15)


async def test_a_group_is_told_once_whatever_dies_when(notifier):
    sessionmaker, js, citizen = notifier
    crash_on: set[uuid.UUID] = set()

    async def handler(session, event):  # noqa: ANN001
        if event.id in crash_on:
            raise asyncio.CancelledError()   # the process is stopped in the middle of the group
        await consumers.on_case_event(session, event)

    sub = Subscription(source="cases", subject=SUBJECT, durable="notify-together", handler=handler,
                       together=50, ack_wait=1.0, max_deliver=5)
    consumer = Consumer(sub, sessionmaker, GATEWAY.tables, lambda: js)
    psub = await consumer._subscribe()
    for n in range(4):
        await js.publish(ce.CASE_SUBMITTED, submitted(citizen, n))

    # 1. Stopped on the third event: the two before it were handled in the same transaction and
    #    vanish with it; nothing is acked.
    group = await fetch(psub, 4)
    crash_on.add(uuid.UUID(json.loads(group[2].data)["id"]))
    with pytest.raises(asyncio.CancelledError):
        await consumer.handle_together(group)
    assert await counts(sessionmaker) == (0, 0)

    # 2. Delivered again, the group commits; the acks are lost (the process dies right after).
    crash_on.clear()
    again = await fetch(psub, 4)

    async def lost() -> None:
        raise ConnectionError("the process died before its acks")
    for msg in again:
        msg.ack = lost
    with pytest.raises(ConnectionError):
        await consumer.handle_together(again)
    told = await counts(sessionmaker)
    assert told[0] == 4 and told[1] >= 4            # four messages, each with its SMS

    # 3. Delivered a third time: all found in the inbox, acked, nothing told twice.
    third = await fetch(psub, 4)
    await consumer.handle_together(third)
    assert await counts(sessionmaker) == told

    # 4. A poison event amid good ones: the group is redone one by one; the good are told once.
    await js.publish(ce.CASE_SUBMITTED, submitted(citizen, 10))
    await js.publish(ce.CASE_SUBMITTED, make_event("cases", ce.CASE_SUBMITTED, {"case_id": "not a case"})
                     .model_dump_json().encode())
    await js.publish(ce.CASE_SUBMITTED, submitted(citizen, 11))
    await consumer.handle_together(await fetch(psub, 3))
    assert (await counts(sessionmaker))[0] == told[0] + 2
    async with sessionmaker() as s:
        dead = (await s.execute(select(GATEWAY.tables.dead_letter.c.consumer))).scalars().all()
    assert dead == ["notify-together"]


async def test_a_group_told_at_once_tells_what_each_event_would(notifier):
    """The notifier's group handler (one read of the recipients, one write for the group) tells
    the same messages as telling each event in turn, and a redelivered group tells nothing twice."""
    sessionmaker, js, citizen = notifier
    groups: list[int] = []

    async def at_once(session, events):  # noqa: ANN001
        groups.append(len(events))
        await consumers.on_case_events(session, events)

    sub = Subscription(source="cases", subject=SUBJECT, durable="notify-at-once", handler=consumers.on_case_event,
                       group_handler=at_once, together=50, ack_wait=1.0, max_deliver=5)
    consumer = Consumer(sub, sessionmaker, GATEWAY.tables, lambda: js)
    psub = await consumer._subscribe()
    case_id = uuid.uuid4()
    approved = ce.CaseApprovedV1(case_id=case_id, case_number="CN2026120700099", item_basic_code="442020000901",
                                 department="11442000MB2C3D4E5", applicant_type="person",
                                 applicant_id="440301199001011234", applicant_name="张三", approved_at=clock.now(),
                                 applicant_sub=citizen)
    for n in range(3):
        await js.publish(ce.CASE_SUBMITTED, submitted(citizen, n))
    await js.publish(ce.CASE_APPROVED, make_event("cases", ce.CASE_APPROVED, approved, subject=str(case_id))
                     .model_dump_json().encode())
    group = await fetch(psub, 4)

    async def lost() -> None:
        raise ConnectionError("the process died before its acks")
    for msg in group:
        msg.ack = lost
    with pytest.raises(ConnectionError):
        await consumer.handle_together(group)
    async with sessionmaker() as s:
        kinds = sorted((await s.execute(select(Message.kind))).scalars())
    assert kinds == ["case.approved", "case.received", "case.received", "case.received"]
    assert groups == [4]                      # told at once
    told = await counts(sessionmaker)
    assert told[1] >= 4                       # each with its SMS
    # Delivered again (the acks were lost): all found in the inbox, nothing told twice.
    await consumer.handle_together(await fetch(psub, 4))
    assert await counts(sessionmaker) == told and groups == [4]
