import datetime as dt
import re
import uuid

from sqlalchemy import Row, Select, and_, bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tongban.queue.counter.models import Counter, CounterSkill
from tongban.queue.ticket.models import Ticket
from tongban.shared import db

CALL_ORDER = (Ticket.priority.desc(), Ticket.queued_at, Ticket.id)


# Built once, values bound apart: SQLAlchemy keeps their cache keys and compiled forms (building
# them per call was a visible share of svc-queue's CPU under load, profiled).
_GET = select(Ticket).where(Ticket.id == bindparam("ticket_id"))
_GET_LOCKED = _GET.with_for_update()
_FRONT = (select(Ticket.id, Ticket.person_sub, Ticket.approach_notified_at)
          .where(Ticket.hall_id == bindparam("hall_id"), Ticket.day == bindparam("day"),
                 Ticket.category == bindparam("category"), Ticket.status == "waiting",
                 Ticket.target_counter_id.is_(None))
          .order_by(Ticket.priority.desc(), Ticket.queued_at, Ticket.id).limit(bindparam("n")))


async def get(session: AsyncSession, ticket_id: uuid.UUID, lock: bool = False) -> Ticket | None:
    """One ticket; `lock` takes its row lock."""
    return (await session.execute(_GET_LOCKED if lock else _GET, {"ticket_id": ticket_id})).scalar_one_or_none()


async def add(session: AsyncSession, ticket: Ticket) -> Ticket:
    """Insert the ticket; what the database fills in (queued_at, created_at) comes back with the
    INSERT's RETURNING (the base's eager defaults), so no second read."""
    session.add(ticket)
    await session.flush()
    return ticket


_TAKE_NUMBER = "SELECT queue.take_ticket_number($1, $2, $3)"
_TAKE_NUMBER_STMT = text("SELECT queue.take_ticket_number(:hall_id, :day, :prefix)")


async def next_number(session: AsyncSession, hall_id: uuid.UUID, day: dt.date, prefix: str) -> int | None:
    """The next number of a prefix (a category of the hall) in a hall on a day, or None when the
    hall has no such category: one statement, committed at once, outside the request's transaction.

    Inside the request's transaction the sequence row's lock would be held until that commit,
    and every other taker of the prefix would queue behind it (measured: 50 kiosks fell to a
    few tickets per second). Committed on its own, a number is never given twice; a take that
    fails afterwards leaves a gap in the numbers, as a paper roll's torn ticket does. The SQL
    function (migration 0006_queue_hot) checks the category, upserts the sequence row and commits
    without waiting for the disk (only a ticket carries the number, and the ticket's durable
    commit comes later in the WAL).

    It runs on the request's own connection while its transaction has not begun yet (asyncpg
    begins it with the first statement; a raw call there is its own transaction): no second
    pooled connection. After an earlier statement of the request (an Idempotency-Key's claim), on
    a second connection in autocommit.
    """
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    if raw is not None and not raw.is_in_transaction():
        try:
            return await raw.fetchval(_TAKE_NUMBER, hall_id, day, prefix)
        except db.LOST_CONNECTION as exc:
            # A lost connection (a database restart): dropped from the pool now, as SQLAlchemy
            # drops one its own statement found dead, and answered 503 + Retry-After (errors).
            await conn.invalidate()
            raise ConnectionError(f"the database connection was lost: {exc}") from exc
    engine = session.bind
    assert isinstance(engine, AsyncEngine)
    async with engine.connect() as other:
        other = await other.execution_options(isolation_level="AUTOCOMMIT")
        return (await other.execute(_TAKE_NUMBER_STMT, {"hall_id": hall_id, "day": day, "prefix": prefix})).scalar()


# A new ticket and what its view shows, in one statement: the INSERT (its queued_at from the
# RETURNING), the waiting tickets ahead of it, the category's recent average service time and the
# open counters serving the category (as `wait_figures` reads them for a stored ticket). The new
# row is not visible to the counts of its own statement, and it is not ahead of itself anyway.
_INSERT_WITH_FIGURES_SQL = """
WITH ins AS (
    INSERT INTO queue.ticket (id, hall_id, day, category, number, item_code, priority, priority_reason, channel,
                              person_sub, id_number, status, appointment_id, case_id, call_count)
    VALUES (:id, :hall_id, :day, :category, :number, :item_code, :priority, :priority_reason, :channel,
            :person_sub, :id_number, 'waiting', :appointment_id, :case_id, 0)
    RETURNING queued_at, created_at
)
SELECT ins.queued_at, ins.created_at,
    (SELECT count(*) FROM queue.ticket t
      WHERE t.hall_id = :hall_id AND t.day = :day AND t.category = :category AND t.status = 'waiting'
        AND t.target_counter_id IS NULL
        AND (t.priority > :priority OR (t.priority = :priority AND (t.queued_at < ins.queued_at
             OR (t.queued_at = ins.queued_at AND t.id < :id))))) AS ahead,
    (SELECT avg(extract(epoch FROM r.finished_at - coalesce(r.started_at, r.called_at))) FROM (
        SELECT finished_at, started_at, called_at FROM queue.ticket
         WHERE hall_id = :hall_id AND category = :category AND status = 'done' AND finished_at IS NOT NULL
         ORDER BY finished_at DESC LIMIT 30) r) AS avg_seconds,
    (SELECT count(DISTINCT c.id) FROM queue.counter c JOIN queue.counter_skill s ON s.counter_id = c.id
      WHERE c.hall_id = :hall_id AND c.status = 'open' AND s.kind = 'category' AND s.value = :category
        AND s.weight > 0) AS serving
FROM ins
"""
_INSERT_WITH_FIGURES = text(_INSERT_WITH_FIGURES_SQL)
_INSERT_FIELDS = ("id", "hall_id", "day", "category", "number", "item_code", "priority", "priority_reason", "channel",
                  "person_sub", "id_number", "appointment_id", "case_id")
# The same statement with asyncpg's numbered placeholders, for db.write_last.
_INSERT_WITH_FIGURES_LAST = re.sub(r"(?<!:):(\w+)", lambda m: f"${_INSERT_FIELDS.index(m.group(1)) + 1}",
                                   _INSERT_WITH_FIGURES_SQL)


async def insert_with_figures(session: AsyncSession, ticket: Ticket, last: bool = False) -> tuple[int, float | None, int]:
    """Insert `ticket` (a transient object: no ORM flush) and fill in what the database set
    (queued_at, created_at); returns its `wait_figures`, from the same statement.

    `last`: nothing follows in the request's transaction, so the ticket, its kept audit row and
    event go as one statement, its own transaction when none has begun (db.write_last)."""
    values = [getattr(ticket, name) for name in _INSERT_FIELDS]
    if last:
        row = (await db.write_last(session, _INSERT_WITH_FIGURES_LAST, *values))[0]
    else:
        row = (await session.execute(_INSERT_WITH_FIGURES,
                                     dict(zip(_INSERT_FIELDS, values, strict=True)))).mappings().one()
    ticket.queued_at, ticket.created_at = row["queued_at"], row["created_at"]
    avg = row["avg_seconds"]
    return int(row["ahead"]), float(avg) if avg is not None else None, int(row["serving"])


async def open_remote_ticket(session: AsyncSession, hall_id: uuid.UUID, day: dt.date, category: str,
                             person_sub: str) -> Ticket | None:
    """A person's ticket of this category that is still waiting or called."""
    return (await session.execute(select(Ticket).where(
        Ticket.hall_id == hall_id, Ticket.day == day, Ticket.category == category, Ticket.person_sub == person_sub,
        Ticket.status.in_(("waiting", "called"))).limit(1))).scalar_one_or_none()


# 下一位, first: the counter's row lock, taken with the transaction's BEGIN (db.begin_with: one
# round trip). The statement that follows reads the counter and closes the ticket still at it:
# only a statement that begins after this lock is held sees that ticket as it is (a second press
# of 下一位 waits here for the first to commit, and must then close the ticket the first one called).
async def lock_counter(session: AsyncSession, counter_id: uuid.UUID) -> None:
    """Lock the counter's row (if there is one) as the transaction's first act."""
    await db.begin_with(session, f"SELECT 1 FROM queue.counter WHERE id = '{uuid.UUID(str(counter_id))}' FOR UPDATE")


# What call_next reads of the counter: (hall, skill kinds, values, weights), in the statement's
# order. A hint the statement checks, never trusted: built for another counter state, the
# statement changes nothing and says how the counter is now.
CounterShape = tuple[uuid.UUID, tuple[str, ...], tuple[str, ...], tuple[int, ...]]


# Each pick runs only when the counter passed its checks (`ok`: a one-time filter, so nothing is
# read or locked otherwise).
_FIRST = ("SELECT id FROM queue.ticket WHERE hall_id = {hall} AND day = :day AND status = 'waiting' AND {} "
          "AND EXISTS (SELECT 1 FROM ok) ORDER BY priority DESC, queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED")
# The weight levels of a counter whose every level names at most one category and which has no
# item skills (the common case): equality on the category, so each level reads the head of the
# waiting line's index (ix_ticket_waiting) in calling order.
_ONE_CATEGORY = "target_counter_id IS NULL AND category = :cat{w}"
# Any skills: the level's items, and its categories except for tickets whose item has a weight of
# its own (an item's weight, exclude included, beats its category's).
_ANY_SKILLS = ("target_counter_id IS NULL AND (item_code = ANY({items}) "
               "OR (category = ANY({cats}) AND (item_code IS NULL OR item_code <> ALL({items_all}))))")
_SHAPED = {"hall": ":hall_id", "items": "CAST(:items{w} AS text[])", "cats": "CAST(:cats{w} AS text[])",
           "items_all": "CAST(:items_all AS text[])"}
# Built for no shape: the levels are the counter's skills as this statement reads them (`lv`, the
# same snapshot as `c`), so it is right whatever the skills are; it cannot use the common case's
# equality on one category, so it serves a counter this process has not seen yet, or one whose
# skills changed since (then a shaped statement changed nothing).
_UNSHAPED = {"hall": "(SELECT hall_id FROM c)", "items": "CAST((SELECT items{w} FROM lv) AS text[])",
             "cats": "CAST((SELECT cats{w} FROM lv) AS text[])",
             "items_all": "CAST((SELECT items_all FROM lv) AS text[])"}
_LEVELS = """, lv AS (
    SELECT coalesce(array_agg(value::text) FILTER (WHERE kind = 'item'), '{{}}') AS items_all,
           {}
      FROM queue.counter_skill WHERE counter_id = :counter_id
)"""
_SHAPE_CHECK = """ AND c.hall_id = :hall_id
       AND c.kinds = CAST(:kinds AS text[]) AND c.vals = CAST(:vals AS text[])
       AND c.weights = CAST(:weights AS integer[])"""


def _call_statement(level: str, shaped: bool = True) -> str:
    # COALESCE evaluates its arguments left to right and only as far as the first non-null one,
    # so a level's SELECT runs (and locks a row) only when every level before it found nobody:
    # at most one ticket is ever locked. SKIP LOCKED passes over a ticket another counter is
    # claiming, and PostgreSQL re-checks `status = 'waiting'` on the row it locks, so a ticket
    # another counter called meanwhile is never returned: no ticket is called twice.
    words = _SHAPED if shaped else _UNSHAPED
    hall = words["hall"]
    level = level.format(w="{w}", **words)
    pick = ",\n".join(["(" + _FIRST.format("target_counter_id = :counter_id", hall=hall) + ")",
                        *("(" + _FIRST.format(level.format(w=w), hall=hall) + ")" for w in (3, 2, 1))])
    levels = "" if shaped else _LEVELS.format(",\n           ".join(
        f"coalesce(array_agg(value::text) FILTER (WHERE kind = '{kind}' AND weight = {w}), '{{}}') AS {name}{w}"
        for w in (3, 2, 1) for kind, name in (("item", "items"), ("category", "cats"))))
    return f"""
WITH c AS (
    SELECT c.id, c.hall_id, c.number, c.status, c.clerk_sub, c.current_ticket_id,
           sk.kinds, sk.vals, sk.weights
      FROM queue.counter c CROSS JOIN LATERAL (
          SELECT coalesce(array_agg(s.kind::text ORDER BY s.kind, s.value), '{{}}') AS kinds,
                 coalesce(array_agg(s.value::text ORDER BY s.kind, s.value), '{{}}') AS vals,
                 coalesce(array_agg(s.weight ORDER BY s.kind, s.value), '{{}}') AS weights
            FROM queue.counter_skill s WHERE s.counter_id = c.id) sk
     WHERE c.id = :counter_id
){levels}, ok AS (
    SELECT c.current_ticket_id FROM c
     WHERE c.status = 'open' AND c.clerk_sub = :clerk{_SHAPE_CHECK if shaped else ""}
), closed AS (
    UPDATE queue.ticket t
       SET status = CASE WHEN :previous = 'done' OR t.status = 'serving' THEN 'done' ELSE 'no_show' END,
           finished_at = :now
     WHERE t.id = (SELECT current_ticket_id FROM ok) AND t.status IN ('called', 'serving')
    RETURNING t.*
), called AS (
    UPDATE queue.ticket
       SET status = 'called', counter_id = :counter_id, target_counter_id = NULL, called_at = :now, call_count = 1
     WHERE id = COALESCE({pick})
    RETURNING *
), moved AS (
    UPDATE queue.counter SET current_ticket_id = (SELECT id FROM called), updated_at = now()
     WHERE id = :counter_id AND current_ticket_id IS DISTINCT FROM (SELECT id FROM called)
       AND EXISTS (SELECT 1 FROM ok)
), front AS (
    SELECT f.id, f.person_sub, f.approach_notified_at,
           row_number() OVER (ORDER BY f.priority DESC, f.queued_at, f.id) - 1 AS ahead
      FROM called, LATERAL (
          SELECT w.id, w.person_sub, w.approach_notified_at, w.priority, w.queued_at FROM queue.ticket w
           WHERE w.hall_id = called.hall_id AND w.day = called.day AND w.category = called.category
             AND w.status = 'waiting' AND w.target_counter_id IS NULL AND w.id <> called.id
           ORDER BY w.priority DESC, w.queued_at, w.id LIMIT :front) f
), due AS (
    SELECT t.id FROM queue.ticket t JOIN front ON front.id = t.id
     WHERE front.person_sub IS NOT NULL AND front.approach_notified_at IS NULL
       FOR UPDATE OF t SKIP LOCKED
), told AS (
    UPDATE queue.ticket t SET approach_notified_at = :now FROM front, due
     WHERE t.id = front.id AND t.id = due.id AND t.approach_notified_at IS NULL
    RETURNING front.ahead AS told_ahead, t.*
)
SELECT 'counter' AS role, NULL::bigint AS told_ahead, t.*, c.hall_id AS counter_hall_id,
       c.number AS counter_number, c.status AS counter_status, c.clerk_sub AS counter_clerk,
       c.kinds AS counter_kinds, c.vals AS counter_vals, c.weights AS counter_weights
  FROM c LEFT JOIN queue.ticket t ON false
UNION ALL SELECT 'closed', NULL, closed.*, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM closed
UNION ALL SELECT 'called', NULL, called.*, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM called
UNION ALL (SELECT 'told', told.*, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM told ORDER BY told_ahead)
"""


_CALL_ONE_CATEGORY = text(_call_statement(_ONE_CATEGORY))
_CALL_ANY_SKILLS = text(_call_statement(_ANY_SKILLS))
_CALL_UNSHAPED = text(_call_statement(_ANY_SKILLS, shaped=False))


async def call_next(session: AsyncSession, counter_id: uuid.UUID, shape: CounterShape | None, clerk: str,
                    day: dt.date, previous: str, now: dt.datetime, front: int) -> list[Row]:
    """At a counter whose row this transaction has locked (`lock_counter`): first a row with the
    counter as it is (role `counter`: its hall, number, status, clerk and skills in `counter_*`;
    no such row: no such counter). When it is open and `clerk`'s, and (given a `shape`) of that
    shape (hall and skills, as the statement was built for them): close the ticket still at it
    (when it is called or serving: done, or no_show when `previous` says so and serving had not
    started), claim the ticket the counter should call, mark it called and put it at the
    counter, and mark the first `front` of its line who hold a remote ticket and were not told
    yet as told. Then the rows changed, in that order, each with its `role` (closed, called,
    told; a told row's place in the line in `told_ahead`) and the ticket's columns. Otherwise
    nothing changes. With no `shape`, the statement reads the counter's skills itself and always
    acts on them (a counter's first call in this process; a shape found stale).

    Tickets transferred to this counter come first; then, from the highest skill weight down
    (an item's own weight beating its category's), the first waiting ticket in calling order:
    priority, then arrival."""
    params: dict[str, object] = {"day": day, "counter_id": counter_id, "now": now, "front": front,
                                 "previous": previous, "clerk": clerk}
    if shape is None:
        return list((await session.execute(_CALL_UNSHAPED, params)).all())
    hall_id, kinds, values, weights = shape
    skills = list(zip(kinds, values, weights, strict=True))
    category_weights = {v: w for k, v, w in skills if k == "category" and w > 0}
    item_weights = {v: w for k, v, w in skills if k == "item"}
    params.update({"hall_id": hall_id, "kinds": list(kinds), "vals": list(values), "weights": list(weights)})
    levels = {w: [c for c, cw in category_weights.items() if cw == w] for w in (3, 2, 1)}
    if not item_weights and all(len(cats) <= 1 for cats in levels.values()):
        stmt = _CALL_ONE_CATEGORY
        params.update({f"cat{w}": cats[0] if cats else None for w, cats in levels.items()})
    else:
        stmt = _CALL_ANY_SKILLS
        params["items_all"] = list(item_weights)
        for w, cats in levels.items():
            params[f"cats{w}"] = cats
            params[f"items{w}"] = [code for code, iw in item_weights.items() if iw == w]
    return list((await session.execute(stmt, params)).all())


async def waiting_of_day(session: AsyncSession, hall_id: uuid.UUID, day: dt.date) -> list[Ticket]:
    """A hall's waiting tickets of a day, locked."""
    return list((await session.execute(select(Ticket).where(
        Ticket.hall_id == hall_id, Ticket.day == day, Ticket.status == "waiting").order_by(*CALL_ORDER)
        .with_for_update())).scalars())


async def release_targeted(session: AsyncSession, counter_id: uuid.UUID) -> list[Ticket]:
    """Waiting tickets sent to a counter go back to their category's line (keeping their place)."""
    return list((await session.execute(
        update(Ticket).where(Ticket.target_counter_id == counter_id, Ticket.status == "waiting")
        .values(target_counter_id=None).returning(Ticket), execution_options={"synchronize_session": False})
    ).scalars())


async def ahead_of(session: AsyncSession, ticket: Ticket) -> int:
    """Waiting tickets of the same category before this one in calling order."""
    return (await session.execute(_ahead_stmt(ticket))).scalar_one()


def _ahead_stmt(ticket: Ticket) -> Select[tuple[int]]:
    return select(func.count()).select_from(Ticket).where(
        Ticket.hall_id == ticket.hall_id, Ticket.day == ticket.day, Ticket.category == ticket.category,
        Ticket.status == "waiting", Ticket.target_counter_id.is_(None), Ticket.id != ticket.id,
        or_(Ticket.priority > ticket.priority,
            and_(Ticket.priority == ticket.priority,
                 or_(Ticket.queued_at < ticket.queued_at,
                     and_(Ticket.queued_at == ticket.queued_at, Ticket.id < ticket.id)))))


async def wait_figures(session: AsyncSession, ticket: Ticket) -> tuple[int, float | None, int]:
    """What a waiting ticket's view shows, in one statement: (`ahead_of`, the category's
    `average_service_seconds`, the open counters serving the category (`open_per_category`))."""
    avg = select(func.extract("epoch", Ticket.finished_at - func.coalesce(Ticket.started_at, Ticket.called_at))
                 .label("s")).where(Ticket.hall_id == ticket.hall_id, Ticket.status == "done",
                                    Ticket.finished_at.is_not(None), Ticket.category == ticket.category
                                    ).order_by(Ticket.finished_at.desc()).limit(30).subquery()
    serving = (select(func.count(func.distinct(Counter.id))).join(CounterSkill, Counter.id == CounterSkill.counter_id)
               .where(Counter.hall_id == ticket.hall_id, Counter.status == "open", CounterSkill.kind == "category",
                      CounterSkill.value == ticket.category, CounterSkill.weight > 0).scalar_subquery())
    row = (await session.execute(select(_ahead_stmt(ticket).scalar_subquery(),
                                        select(func.avg(avg.c.s)).scalar_subquery(), serving))).one()
    return int(row[0]), float(row[1]) if row[1] is not None else None, int(row[2])


async def front_of_line(session: AsyncSession, hall_id: uuid.UUID, day: dt.date, category: str,
                        n: int) -> list[tuple[uuid.UUID, str | None, dt.datetime | None]]:
    """The first `n` waiting tickets of a category in calling order: (id, person, notified at).
    Not locked: locking the head of the line would make every other counter skip it."""
    return list((await session.execute(_FRONT, {"hall_id": hall_id, "day": day, "category": category, "n": n})).all())


async def mark_notified(session: AsyncSession, ticket_id: uuid.UUID, at: dt.datetime) -> Ticket | None:
    """Mark a ticket's approach as told, unless someone else did it first (then None)."""
    return (await session.execute(update(Ticket).where(Ticket.id == ticket_id, Ticket.approach_notified_at.is_(None))
                                  .values(approach_notified_at=at).returning(Ticket))).scalar_one_or_none()


async def average_service_seconds(session: AsyncSession, hall_id: uuid.UUID, category: str | None = None,
                                  last: int = 30) -> float | None:
    """Rolling average service time over the hall's (category's) last `last` finished tickets."""
    stmt = select(func.extract("epoch", Ticket.finished_at - func.coalesce(Ticket.started_at, Ticket.called_at))
                  .label("s")).where(Ticket.hall_id == hall_id, Ticket.status == "done",
                                     Ticket.finished_at.is_not(None))
    if category:
        stmt = stmt.where(Ticket.category == category)
    recent = stmt.order_by(Ticket.finished_at.desc()).limit(last).subquery()
    value = (await session.execute(select(func.avg(recent.c.s)))).scalar()
    return float(value) if value is not None else None


async def waiting_counts(session: AsyncSession, hall_ids: list[uuid.UUID], day: dt.date) -> dict[
        tuple[uuid.UUID, str], int]:
    """Waiting tickets per (hall, category) today."""
    rows = (await session.execute(select(Ticket.hall_id, Ticket.category, func.count()).where(
        Ticket.hall_id.in_(hall_ids), Ticket.day == day, Ticket.status == "waiting")
        .group_by(Ticket.hall_id, Ticket.category))).all()
    return {(h, c): n for h, c, n in rows}


async def by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Ticket]:
    if not ids:
        return {}
    return {t.id: t for t in (await session.execute(select(Ticket).where(Ticket.id.in_(ids)))).scalars()}


def hall_query(hall_id: uuid.UUID, day: dt.date, status: str | None) -> Select[tuple[Ticket]]:
    """A hall's tickets of a day, in number order."""
    stmt = select(Ticket).where(Ticket.hall_id == hall_id, Ticket.day == day)
    if status:
        stmt = stmt.where(Ticket.status == status)
    return stmt.order_by(Ticket.category, Ticket.number, Ticket.id)


def person_query(person_sub: str) -> Select[tuple[Ticket]]:
    """A person's tickets, newest first."""
    return select(Ticket).where(Ticket.person_sub == person_sub).order_by(Ticket.created_at.desc(), Ticket.id)
