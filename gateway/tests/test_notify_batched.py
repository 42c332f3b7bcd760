"""`tell` reads each recipient's recent deliveries once and plans the rest in memory: several
notices to one account in one call still meet the hourly limit in order (a duplicate costs
nothing, an urgent message is never counted nor held), the next call counts what the last one
wrote, a lone message told twice is one message with one delivery, and a WeChat authorisation is
taken only by a message that went in."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from tongban.gateway import seed as gateway_seed
from tongban.gateway.account.models import Account
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.gateway.notify.config import NotifySettings
from tongban.gateway.notify.models import Delivery, Message, WeChatGrant
from tongban.gateway.notify.service import Notice, tell
from tongban.shared import clock
from tongban.shared.db import make_engine, make_sessionmaker

MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=clock.CHINA)   # outside the default quiet hours
SETTINGS = NotifySettings(per_hour=5)


@pytest.fixture
async def told(infra):
    engine = make_engine(infra.fresh_database(GATEWAY), 2)
    sessionmaker = make_sessionmaker(engine)
    await gateway_seed.seed(sessionmaker)
    async with sessionmaker() as s:
        citizen = (await s.execute(select(Account.id).where(Account.username == "citizen"))).scalar_one()
    with clock.pinned(MONDAY):
        yield sessionmaker, citizen
    await engine.dispose()


def received(account: uuid.UUID, n: int) -> Notice:
    return Notice(account, "case.received", {"case_number": f"CN{n:05d}", "item": "442020000901", "status": "已收件",
                                             "note": "已收件"}, f"case.received:{n}")


def called(account: uuid.UUID, n: int) -> Notice:
    return Notice(account, "ticket.called", {"number": f"A{n:03d}", "counter": "3", "note": "请到3号窗口"},
                  f"ticket.called:{n}")


async def sms_of(sessionmaker) -> list[tuple[str, dt.datetime, str | None]]:  # noqa: ANN001
    async with sessionmaker() as s:
        rows = (await s.execute(select(Message.dedup_key, Delivery.not_before, Delivery.deferred)
                                .join(Delivery, Delivery.message_id == Message.id)
                                .where(Delivery.channel == "sms").order_by(Message.dedup_key))).all()
    return [tuple(r) for r in rows]


async def test_several_notices_to_one_account_meet_the_hourly_limit_in_order(told):
    sessionmaker, citizen = told
    notices = [received(citizen, n) for n in range(7)]
    notices.insert(3, received(citizen, 1))        # the same news twice: one message, not counted twice
    notices.insert(2, called(citizen, 1))          # urgent: goes at once, never counted
    async with sessionmaker() as s, s.begin():
        result = await tell(s, notices, SETTINGS)
    assert (result.messages, result.duplicates, result.deliveries) == (8, 1, 8)
    planned = {key: (at, deferred) for key, at, deferred in await sms_of(sessionmaker)}
    now = planned["case.received:0"][0]            # the call's one time (the pinned clock moves on)
    assert planned["ticket.called:1"] == (now, None)
    for n in range(5):
        assert planned[f"case.received:{n}"] == (now, None)
    for n in (5, 6):                               # the window's sixth and seventh wait an hour
        assert planned[f"case.received:{n}"] == (now + dt.timedelta(hours=1), "rate_limit")

    # The next call reads what this one wrote (its deferred ones included); urgent still goes at once.
    async with sessionmaker() as s, s.begin():
        again = await tell(s, [received(citizen, 7)], SETTINGS)
        urgent = await tell(s, [called(citizen, 2)], SETTINGS)
    assert (again.messages, again.deliveries, urgent.deliveries) == (1, 1, 1)
    planned = {key: (at, deferred) for key, at, deferred in await sms_of(sessionmaker)}
    assert planned["case.received:7"] == (now + dt.timedelta(hours=1), "rate_limit")
    assert planned["ticket.called:2"][1] is None and planned["ticket.called:2"][0] < now + dt.timedelta(minutes=1)


async def test_a_lone_message_told_twice_is_one_message_with_one_delivery(told):
    sessionmaker, citizen = told
    for _ in range(2):
        async with sessionmaker() as s, s.begin():
            result = await tell(s, [received(citizen, 1)], SETTINGS)
    assert (result.messages, result.duplicates, result.deliveries) == (0, 1, 0)
    assert [key for key, _, _ in await sms_of(sessionmaker)] == ["case.received:1"]


async def test_an_authorisation_is_taken_only_by_a_message_that_went_in(told):
    sessionmaker, citizen = told
    async with sessionmaker() as s, s.begin():
        s.add(WeChatGrant(id=uuid.uuid4(), account_id=citizen, template_id="wx-case-progress", granted_at=clock.now()))
    async with sessionmaker() as s, s.begin():
        first = await tell(s, [received(citizen, 1)], SETTINGS)
    async with sessionmaker() as s, s.begin():
        s.add(WeChatGrant(id=uuid.uuid4(), account_id=citizen, template_id="wx-case-progress", granted_at=clock.now()))
    async with sessionmaker() as s, s.begin():
        again = await tell(s, [received(citizen, 1)], SETTINGS)   # a duplicate: takes nothing
    assert (first.messages, first.deliveries, again.duplicates, again.deliveries) == (1, 2, 1, 0)
    async with sessionmaker() as s:
        grants = (await s.execute(select(WeChatGrant.consumed_at.is_(None)).order_by(WeChatGrant.granted_at,
                                                                                        WeChatGrant.id))).scalars().all()
        channels = sorted((await s.execute(select(Delivery.channel))).scalars())
    assert sorted(grants) == [False, True] and channels == ["sms", "wechat"]


async def test_the_limit_in_quiet_hours_counts_the_window_after_them(told):
    """In quiet hours a delivery waits for their end; the deliveries already waiting for the
    morning are the end of the line `tell` reads, so when they fill the morning's hour the next
    goes an hour later."""
    sessionmaker, citizen = told
    evening = dt.datetime(2026, 12, 7, 21, 30, tzinfo=clock.CHINA)
    morning = dt.datetime(2026, 12, 8, 8, 0, tzinfo=clock.CHINA)
    with clock.pinned(evening):                    # before the quiet hours: five go at once
        async with sessionmaker() as s, s.begin():
            await tell(s, [received(citizen, n) for n in range(5)], SETTINGS)
    with clock.pinned(evening + dt.timedelta(minutes=40)):   # in them: five wait for the morning
        async with sessionmaker() as s, s.begin():
            await tell(s, [received(citizen, n) for n in range(5, 10)], SETTINGS)
    with clock.pinned(evening + dt.timedelta(minutes=50)):   # the morning's hour is full: an hour later
        async with sessionmaker() as s, s.begin():
            await tell(s, [received(citizen, 10)], SETTINGS)
    planned = {key: (at, deferred) for key, at, deferred in await sms_of(sessionmaker)}
    assert all(planned[f"case.received:{n}"][1] is None for n in range(5))
    assert all(planned[f"case.received:{n}"] == (morning, "quiet_hours") for n in range(5, 10))
    assert planned["case.received:10"] == (morning + dt.timedelta(hours=1), "rate_limit")


async def test_the_dispatcher_is_woken_only_for_deliveries_due_now(told):
    """A delivery that waits (the hourly limit, quiet hours) is the dispatcher's poll's; one due
    now wakes it after the commit."""
    from tongban.gateway.notify.wakeup import WAKEUP

    sessionmaker, citizen = told
    WAKEUP.reset()

    async def tell_and_commit(notices: list[Notice]) -> bool:
        async with sessionmaker() as s, s.begin():
            await tell(s, notices, SETTINGS)
        woken = WAKEUP.poked()
        WAKEUP.reset()
        return woken

    assert await tell_and_commit([received(citizen, 1)])                           # a lone message, due now
    assert await tell_and_commit([received(citizen, n) for n in range(2, 6)])      # the hour's other four
    assert not await tell_and_commit([received(citizen, 6)])                       # the sixth waits
    assert not await tell_and_commit([received(citizen, n) for n in range(7, 9)])  # so do the next
    assert await tell_and_commit([received(citizen, 9), called(citizen, 1)])       # urgent: at once
    with clock.pinned(MONDAY.replace(hour=23)):                                     # quiet hours
        assert not await tell_and_commit([Notice(citizen, "case.received", received(citizen, 10).values,
                                                 "case.received:10")])
    waiting = [d for _, _, d in await sms_of(sessionmaker)]
    assert waiting.count("rate_limit") == 4 and waiting.count("quiet_hours") == 1
