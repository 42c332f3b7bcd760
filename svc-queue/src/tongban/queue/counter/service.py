"""Counter rules: skills name real categories and items; only a clerk of the counter's hall
operates it, and only the clerk signed in to it calls from it."""

import uuid
from typing import NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue import clock
from tongban.queue.catalog_copy import repository as catalog
from tongban.queue.counter import repository
from tongban.queue.counter.errors import (
    ClerkElsewhere, CounterBusy, CounterNotFound, CounterNotOpen, CounterNumberTaken, CounterTaken, NotYourHall,
)
from tongban.queue.counter.models import WEIGHT_NAMES, WEIGHTS, Counter, CounterSkill
from tongban.queue.counter.schemas import CounterCreate, CounterRead, Skill
from tongban.queue.db import audit, outbox
from tongban.queue.hall import repository as halls
from tongban.queue.hall import service as hall_service
from tongban.shared.auth import Principal
from tongban.shared.contracts.queue import (
    COUNTER_PAUSED, COUNTER_RESUMED, COUNTER_SIGNED_IN, COUNTER_SIGNED_OUT, CounterChangedV1,
)
from tongban.shared.errors import InvalidField
from tongban.shared.events.envelope import make_event


class CounterSeen(NamedTuple):
    """What 下一位 reads of its counter row (locked by a prebuilt statement, no mapped object)."""

    id: uuid.UUID
    hall_id: uuid.UUID
    number: str


async def read(session: AsyncSession, counters: list[Counter]) -> list[CounterRead]:
    """Counters with their skills, as the API shows them (never the clerk's identity)."""
    skills = await repository.skills(session, [c.id for c in counters])
    return [CounterRead(
        id=c.id, hall_id=c.hall_id, number=c.number, kind=c.kind, status=c.status, signed_in_at=c.signed_in_at,
        current_ticket_id=c.current_ticket_id,
        skills=[Skill(**{"category" if s.kind == "category" else "item_code": s.value},
                      weight=WEIGHT_NAMES[s.weight]) for s in skills[c.id]]) for c in counters]


async def _checked_skills(session: AsyncSession, hall_id: uuid.UUID, counter_id: uuid.UUID,
                          skills: list[Skill]) -> list[CounterSkill]:
    known_categories = {c.code for c in (await halls.categories(session, [hall_id]))[hall_id]}
    known_items = await catalog.known_codes(session, {s.item_code for s in skills if s.item_code})
    out: dict[tuple[str, str], CounterSkill] = {}
    for i, s in enumerate(skills):
        if s.category is not None and s.category not in known_categories:
            raise InvalidField(f"skills.{i}.category", f"the hall has no category {s.category}")
        if s.item_code is not None and s.item_code not in known_items:
            raise InvalidField(f"skills.{i}.item_code", f"{s.item_code} is not an item of the catalogue")
        kind, value = ("category", s.category) if s.category else ("item", s.item_code)
        if (kind, value) in out:
            raise InvalidField(f"skills.{i}", f"{kind} {value} is listed twice")
        out[(kind, value)] = CounterSkill(counter_id=counter_id, kind=kind, value=value, weight=WEIGHTS[s.weight])
    return list(out.values())


async def create_counter(session: AsyncSession, hall_id: uuid.UUID, data: CounterCreate,
                         actor: Principal) -> Counter:
    """Add a counter with its skills to a hall (admins)."""
    await hall_service.get_hall(session, hall_id)
    if await repository.get_by_number(session, hall_id, data.number) is not None:
        raise CounterNumberTaken(f"counter {data.number} exists in this hall")
    counter = Counter(hall_id=hall_id, number=data.number, kind=data.kind, status="closed")
    try:
        async with session.begin_nested():
            await repository.add(session, counter)
    except IntegrityError as exc:
        raise CounterNumberTaken(f"counter {data.number} exists in this hall") from exc
    await repository.replace_skills(session, counter.id, await _checked_skills(session, hall_id, counter.id,
                                                                               data.skills))
    await audit.record(session, actor, "counter.created", "counter", str(counter.id),
                       detail={"hall_id": str(hall_id), "number": data.number, "skills": len(data.skills)})
    return counter


async def get_counter(session: AsyncSession, counter_id: uuid.UUID, lock: bool = False) -> Counter:
    counter = await repository.get(session, counter_id, lock=lock)
    if counter is None:
        raise CounterNotFound()
    return counter


async def set_skills(session: AsyncSession, counter_id: uuid.UUID, skills: list[Skill], actor: Principal) -> Counter:
    """Replace a counter's skills (admins)."""
    counter = await get_counter(session, counter_id, lock=True)
    await repository.replace_skills(session, counter.id, await _checked_skills(session, counter.hall_id, counter.id,
                                                                               skills))
    await audit.record(session, actor, "counter.skills_set", "counter", str(counter.id),
                       detail={"skills": [s.model_dump(exclude_none=True) for s in skills]})
    return counter


def ensure_operator(actor: Principal, counter: Counter | CounterSeen) -> None:
    """A clerk operates only the counters of the halls named in their token (policy: scope "hall")."""
    if str(counter.hall_id) not in actor.halls:
        raise NotYourHall()


async def operated_counter(session: AsyncSession, counter_id: uuid.UUID, actor: Principal) -> Counter:
    """The counter, locked, when `actor` is the clerk signed in to it and it is open."""
    counter = await get_counter(session, counter_id, lock=True)
    ensure_operator(actor, counter)
    if counter.status != "open":
        raise CounterNotOpen(f"counter {counter.number} is {counter.status}")
    if counter.clerk_sub != actor.sub:
        raise CounterTaken(f"counter {counter.number} is operated by another clerk")
    return counter


async def _changed(session: AsyncSession, counter: Counter, subject: str, actor: Principal, action: str) -> None:
    await outbox.add(session, make_event("queue", subject, CounterChangedV1(
        hall_id=counter.hall_id, counter_id=counter.id, counter_number=counter.number, status=counter.status,
        clerk_sub=counter.clerk_sub), subject=str(counter.id)))
    await audit.record(session, actor, action, "counter", str(counter.id), detail={"status": counter.status})


async def sign_in(session: AsyncSession, counter_id: uuid.UUID, actor: Principal) -> Counter:
    """The clerk takes the counter; it opens for calling."""
    counter = await get_counter(session, counter_id, lock=True)
    ensure_operator(actor, counter)
    if counter.status != "closed" and counter.clerk_sub != actor.sub:
        raise CounterTaken(f"counter {counter.number} is operated by another clerk")
    # One counter per clerk: calls, audit records and ratings name the clerk at the counter.
    elsewhere = await repository.operated_by(session, actor.sub)
    if elsewhere is not None and elsewhere.id != counter.id:
        raise ClerkElsewhere(f"sign out of counter {elsewhere.number} first")
    counter.status, counter.clerk_sub, counter.signed_in_at = "open", actor.sub, clock.now()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # the same clerk signed in to another counter at the same moment
        raise ClerkElsewhere("the clerk is signing in to another counter") from exc
    await _changed(session, counter, COUNTER_SIGNED_IN, actor, "counter.signed_in")
    return counter


async def sign_out(session: AsyncSession, counter_id: uuid.UUID, actor: Principal) -> Counter:
    """The clerk leaves; refused while a ticket is still at the counter (flows.sign_out also sends
    the tickets transferred to it back to their line)."""
    counter = await get_counter(session, counter_id, lock=True)
    ensure_operator(actor, counter)
    if counter.status != "closed" and counter.clerk_sub != actor.sub:
        raise CounterTaken(f"counter {counter.number} is operated by another clerk")
    if counter.current_ticket_id is not None:
        raise CounterBusy("finish, skip or transfer the current ticket first")
    counter.status, counter.clerk_sub, counter.signed_in_at = "closed", None, None
    await session.flush()
    await _changed(session, counter, COUNTER_SIGNED_OUT, actor, "counter.signed_out")
    return counter


async def pause(session: AsyncSession, counter_id: uuid.UUID, actor: Principal, paused: bool) -> Counter:
    """Pause (no calling; a break) or resume the counter."""
    if paused:
        counter = await operated_counter(session, counter_id, actor)
        counter.status = "paused"
    else:
        counter = await get_counter(session, counter_id, lock=True)
        ensure_operator(actor, counter)
        if counter.status != "paused" or counter.clerk_sub != actor.sub:
            raise CounterNotOpen(f"counter {counter.number} is not paused by you")
        counter.status = "open"
    await session.flush()
    await _changed(session, counter, COUNTER_PAUSED if paused else COUNTER_RESUMED, actor,
                   "counter.paused" if paused else "counter.resumed")
    return counter
