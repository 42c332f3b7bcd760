"""The hourly limit holds in every sliding hour, however long the line behind it: a recipient's
non-urgent deliveries on a channel are planned so that no hour holds more than `per_hour` of them
(counting those already scheduled or sent, not only sent ones), each delayed one taking the first
slot after the line at which the window has room (a full window's backlog does not all go at the
same moment an hour later). Every notice gets its delivery, in the notices' order; urgent ones go at
once and are never counted; quiet hours still defer; a failed delivery frees its slot and a retry
moved later by the dispatcher is counted where it now stands; the dispatcher's retries and an
admin's retry of a dead letter themselves wait for room in the hour they move to."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, update

from tongban.gateway import seed as gateway_seed
from tongban.gateway.account.models import Account
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.gateway.notify.channels import Outcome, Outgoing
from tongban.gateway.notify.config import NotifySettings
from tongban.gateway.notify.dispatch import Dispatcher
from tongban.gateway.notify.models import Delivery, Message
from tongban.gateway.notify.service import Notice, retry, tell
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.db import make_engine, make_sessionmaker

MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=clock.CHINA)   # outside the default quiet hours
N = 3
SETTINGS = NotifySettings(per_hour=N)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
async def told(infra):
    engine = make_engine(infra.fresh_database(GATEWAY), 2)
    sessionmaker = make_sessionmaker(engine)
    await gateway_seed.seed(sessionmaker)
    async with sessionmaker() as s:
        citizen = (await s.execute(select(Account.id).where(Account.username == "citizen"))).scalar_one()
    with clock.pinned(MONDAY, tick=False):
        yield sessionmaker, citizen
    await engine.dispose()


def received(account: uuid.UUID, n: int) -> Notice:
    return Notice(account, "case.received", {"case_number": f"CN{n:05d}", "item": "442020000901", "status": "已收件",
                                             "note": "已收件"}, f"case.received:{n:03d}")


def called(account: uuid.UUID, n: int) -> Notice:
    return Notice(account, "ticket.called", {"number": f"A{n:03d}", "counter": "3", "note": "请到3号窗口"},
                  f"ticket.called:{n:03d}")


async def planned(sessionmaker, urgent: bool = False) -> list[tuple[str, dt.datetime, str | None, str]]:  # noqa: ANN001
    """The SMS deliveries of (non-)urgent messages, in the notices' order (their keys sort so)."""
    async with sessionmaker() as s:
        rows = (await s.execute(select(Message.dedup_key, Delivery.not_before, Delivery.deferred, Delivery.status)
                                .join(Delivery, Delivery.message_id == Message.id)
                                .where(Delivery.channel == "sms", Message.urgent.is_(urgent))
                                .order_by(Message.dedup_key))).all()
    return [tuple(r) for r in rows]


def crowded_hours(times: list[dt.datetime], per_hour: int) -> list[tuple[dt.datetime, int]]:
    """The sliding hours [t, t + 1 h) holding more than `per_hour` of `times` (none if the limit holds).
    Only hours starting at a delivery need checking: any other slides right to its first."""
    times = sorted(times)
    crowded = []
    for i, start in enumerate(times):
        inside = sum(1 for t in times[i:] if t < start + HOUR)
        if inside > per_hour:
            crowded.append((start, inside))
    return crowded


def assert_in_order(rows: list[tuple[str, dt.datetime, str | None, str]]) -> None:
    times = [at for _, at, _, _ in rows]
    assert times == sorted(times), "a later notice went before an earlier one"


async def test_a_backlog_of_three_windows_told_at_once_spreads_over_three_hours(told):
    sessionmaker, citizen = told
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        result = await tell(s, [received(citizen, n) for n in range(3 * N)], SETTINGS)
    assert (result.messages, result.deliveries) == (3 * N, 3 * N)
    rows = await planned(sessionmaker)
    assert len(rows) == 3 * N                                  # none lost
    assert crowded_hours([at for _, at, _, _ in rows], N) == []
    assert_in_order(rows)
    assert [(at, deferred) for _, at, deferred, _ in rows] == (
        [(now, None)] * N + [(now + HOUR, "rate_limit")] * N + [(now + 2 * HOUR, "rate_limit")] * N)


async def test_notices_told_one_transaction_each_within_a_minute_keep_the_limit(told):
    """Each tell reads what the earlier ones wrote (scheduled ones, not only sent ones): the
    `k`-th delivery goes an hour after the `k - N`-th, never with the whole backlog at once."""
    sessionmaker, citizen = told
    times = [MONDAY + dt.timedelta(seconds=5 * n) for n in range(3 * N)]
    for n, at in enumerate(times):
        with clock.pinned(at, tick=False):
            async with sessionmaker() as s, s.begin():
                assert (await tell(s, [received(citizen, n)], SETTINGS)).deliveries == 1
    rows = await planned(sessionmaker)
    assert len(rows) == 3 * N
    assert crowded_hours([at for _, at, _, _ in rows], N) == []
    assert_in_order(rows)
    expected = [times[n % N] + (n // N) * HOUR for n in range(3 * N)]
    assert [at for _, at, _, _ in rows] == [e.astimezone(dt.UTC) for e in expected]


async def test_several_tells_of_several_notices_and_urgent_ones_among_them(told):
    """Tells of several notices in separate transactions, urgent ones mixed in: the urgent go at
    once (never held nor counted), the others keep the limit in every hour and their order."""
    sessionmaker, citizen = told
    n = 0
    for call in range(4):
        with clock.pinned(MONDAY + dt.timedelta(seconds=10 * call), tick=False):
            notices = []
            for _ in range(N + 1):
                notices.append(received(citizen, n))
                n += 1
            notices.insert(1, called(citizen, call))
            async with sessionmaker() as s, s.begin():
                assert (await tell(s, notices, SETTINGS)).deliveries == N + 2
    rows = await planned(sessionmaker)
    assert len(rows) == 4 * (N + 1)
    assert crowded_hours([at for _, at, _, _ in rows], N) == []
    assert_in_order(rows)
    assert rows[-1][1] == (MONDAY + 5 * HOUR).astimezone(dt.UTC)   # the 16th: in the sixth hour's window
    urgent = await planned(sessionmaker, urgent=True)
    assert [(at - MONDAY, deferred) for _, at, deferred, _ in urgent] == [
        (dt.timedelta(seconds=10 * call), None) for call in range(4)]


async def test_a_backlog_in_quiet_hours_spreads_from_the_morning(told):
    sessionmaker, citizen = told
    night = dt.datetime(2026, 12, 7, 23, 0, tzinfo=clock.CHINA)
    morning = dt.datetime(2026, 12, 8, 8, 0, tzinfo=clock.CHINA).astimezone(dt.UTC)
    with clock.pinned(night, tick=False):
        async with sessionmaker() as s, s.begin():
            await tell(s, [received(citizen, n) for n in range(2 * N)], SETTINGS)
    with clock.pinned(night + dt.timedelta(minutes=30), tick=False):
        async with sessionmaker() as s, s.begin():
            await tell(s, [received(citizen, n) for n in range(2 * N, 3 * N)], SETTINGS)
    rows = await planned(sessionmaker)
    assert crowded_hours([at for _, at, _, _ in rows], N) == []
    assert [(at, deferred) for _, at, deferred, _ in rows] == (
        [(morning, "quiet_hours")] * N + [(morning + HOUR, "rate_limit")] * N
        + [(morning + 2 * HOUR, "rate_limit")] * N)


async def test_a_failed_delivery_frees_its_slot_and_a_retry_counts_where_it_now_stands(told):
    """The dispatcher moves a retried delivery later (its back-off) and fails one for good after
    its attempts: the next tell counts the retry at its new time and not the dead letter, and the
    new deliveries go after the line (never before the retry)."""
    sessionmaker, citizen = told
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        await tell(s, [received(citizen, n) for n in range(N)], SETTINGS)
    rows = await planned(sessionmaker)
    keys = [key for key, _, _, _ in rows]
    retry_at = now + dt.timedelta(minutes=2)
    async with sessionmaker() as s, s.begin():   # what the dispatcher's pass leaves: one sent, one retried, one dead
        ids = dict((await s.execute(select(Message.dedup_key, Message.id).where(Message.dedup_key.in_(keys)))).all())
        await s.execute(update(Delivery).where(Delivery.message_id == ids[keys[0]])
                        .values(status="sent", sent_at=now, attempts=1))
        await s.execute(update(Delivery).where(Delivery.message_id == ids[keys[1]])
                        .values(not_before=retry_at, deferred="retry", attempts=1))
        await s.execute(update(Delivery).where(Delivery.message_id == ids[keys[2]])
                        .values(status="failed", attempts=SETTINGS.max_attempts))
    with clock.pinned(MONDAY + dt.timedelta(minutes=1), tick=False):
        async with sessionmaker() as s, s.begin():
            await tell(s, [received(citizen, n) for n in range(N, 3 * N)], SETTINGS)
    rows = await planned(sessionmaker)
    counted = [at for _, at, _, status in rows if status != "failed"]
    assert len(rows) == 3 * N and len(counted) == 3 * N - 1
    assert crowded_hours(counted, N) == []
    later = [at for _, at, _, _ in rows[N:]]
    assert later == sorted(later) and min(later) >= retry_at
    # The hour from `now` holds the sent one and the retry: one more fits, right after the retry.
    assert later[0] == retry_at
    assert later[1:] == [now + HOUR, retry_at + HOUR, retry_at + HOUR, now + 2 * HOUR, retry_at + 2 * HOUR]


class Refusing:
    """An SMS provider (outside the platform) that throttles the deliveries named, accepts the rest."""

    channel = "sms"

    def __init__(self, refused: set[uuid.UUID]) -> None:
        self.refused = refused

    async def send(self, batch: list[Outgoing]) -> list[Outcome]:
        return [Outcome(o.delivery_id, False, error="isv.BUSINESS_LIMIT_CONTROL", transient=True)
                if o.delivery_id in self.refused else Outcome(o.delivery_id, True, ref=f"ref-{o.delivery_id}")
                for o in batch]

    async def receipts(self, refs: list[str]) -> dict[str, str]:
        return {}


async def deliveries_by_key(sessionmaker) -> dict[str, Delivery]:  # noqa: ANN001
    async with sessionmaker() as s:
        rows = (await s.execute(select(Message.dedup_key, Delivery).join(Delivery, Delivery.message_id == Message.id)
                                .where(Delivery.channel == "sms"))).all()
    return {key: d for key, d in rows}


async def test_the_dispatchers_retry_waits_for_room_in_the_hour_it_moves_to(told):
    """A throttled delivery's back-off moves it later: into an hour with room it goes at the
    back-off's end, as before; into an hour the line already fills, after that line (it never
    goes earlier than its slot, and no hour holds more than the limit)."""
    sessionmaker, citizen = told
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        await tell(s, [received(citizen, n) for n in range(2 * N)], SETTINGS)   # N now, N an hour on
    first = (await deliveries_by_key(sessionmaker))["case.received:000"]
    await Dispatcher(sessionmaker, SETTINGS, {"sms": Refusing({first.id})}).once()
    found = await deliveries_by_key(sessionmaker)
    assert [found[f"case.received:{n:03d}"].status for n in range(N)] == ["scheduled"] + ["sent"] * (N - 1)
    retried = found["case.received:000"]
    assert (retried.not_before, retried.deferred, retried.attempts) == (now + 2 * HOUR, "rate_limit", 1)
    rows = await planned(sessionmaker)
    assert crowded_hours([at for _, at, _, _ in rows], N) == []

    # An account whose hour has room: the back-off alone (the retry keeps its place).
    async with sessionmaker() as s:
        other = (await s.execute(select(Account.id).where(Account.username == "company"))).scalar_one()
    async with sessionmaker() as s, s.begin():
        await tell(s, [received(other, 100 + n) for n in range(N)], SETTINGS)
    lone = (await deliveries_by_key(sessionmaker))["case.received:100"]
    await Dispatcher(sessionmaker, SETTINGS, {"sms": Refusing({lone.id})}).once()
    lone = (await deliveries_by_key(sessionmaker))["case.received:100"]
    assert (lone.status, lone.not_before, lone.deferred) == (
        "scheduled", now + dt.timedelta(seconds=SETTINGS.retry_seconds), "retry")


async def test_a_dead_letter_retried_by_an_admin_waits_for_room_in_the_hour(told):
    """A dead letter had no place in line; retried, it takes the first slot after the line (not
    "now" in an hour already full)."""
    sessionmaker, citizen = told
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        await tell(s, [received(citizen, n) for n in range(N)], SETTINGS)
    dead = (await deliveries_by_key(sessionmaker))["case.received:000"]
    async with sessionmaker() as s, s.begin():   # what the dispatcher leaves after the last attempt
        await s.execute(update(Delivery).where(Delivery.id == dead.id)
                        .values(status="failed", attempts=SETTINGS.max_attempts))
    with clock.pinned(MONDAY + dt.timedelta(minutes=1), tick=False):
        async with sessionmaker() as s, s.begin():
            await tell(s, [received(citizen, N)], SETTINGS)                  # the freed slot, taken
    admin = Principal(sub=str(uuid.uuid4()), role="admin", scopes=frozenset({"notify.delivery.retry"}))
    with clock.pinned(MONDAY + dt.timedelta(minutes=2), tick=False):
        async with sessionmaker() as s, s.begin():
            back = await retry(s, admin, dead.id, "号码已更正", SETTINGS)
    assert (back.status, back.attempts, back.not_before, back.deferred) == ("scheduled", 0, now + HOUR, "rate_limit")
    rows = await planned(sessionmaker)
    assert crowded_hours([at for _, at, _, _ in rows], N) == []
