import uuid

from fastapi import APIRouter

from tongban.queue import flows
from tongban.queue.counter import repository, service
from tongban.queue.counter.errors import (
    ClerkElsewhere, CounterBusy, CounterNotFound, CounterNotOpen, CounterNumberTaken, CounterTaken, NotYourHall,
)
from tongban.queue.counter.schemas import CounterCreate, CounterRead, SkillsUpdate
from tongban.queue.hall.errors import HallNotFound
from tongban.queue.hall.service import get_hall
from tongban.queue.policy import ERRORS as AUTH_ERRORS, Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, page_of, paginate

router = APIRouter(tags=["counters"])
QueueAdmin = Caller("hall.manage")
Clerk = Caller("counter.operate")
OPERATE_ERRORS = (*AUTH_ERRORS, CounterNotFound, NotYourHall, CounterTaken, CounterNotOpen)


@router.post("/halls/{hall_id}/counters", status_code=201, response_model=CounterRead,
             responses=responses(*AUTH_ERRORS, HallNotFound, CounterNumberTaken, InvalidField, IdempotencyKeyReused))
async def create_counter(hall_id: uuid.UUID, body: CounterCreate, session: SessionDep, actor: QueueAdmin,
                         idem: IdempotencyDep):
    """Add a counter with its skills (admins). Item skills must name items of the catalogue."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    counter = await service.create_counter(session, hall_id, body, actor)
    return await idem.remember(session, 201, (await service.read(session, [counter]))[0])


@router.get("/halls/{hall_id}/counters", dependencies=[Public("hall.read")],
            response_model=Page[CounterRead], responses=responses(HallNotFound))
async def list_counters(hall_id: uuid.UUID, session: SessionDep, page: PageDep) -> Page[CounterRead]:
    """A hall's counters with their state and skills (public)."""
    await get_hall(session, hall_id)
    raw = await paginate(session, repository.list_query(hall_id), page)
    return page_of(await service.read(session, raw.items), raw.total, page)


@router.put("/counters/{counter_id}/skills", response_model=CounterRead,
            responses=responses(*AUTH_ERRORS, CounterNotFound, InvalidField))
async def set_skills(counter_id: uuid.UUID, body: SkillsUpdate, session: SessionDep, actor: QueueAdmin) -> CounterRead:
    """Replace a counter's skills (admins)."""
    counter = await service.set_skills(session, counter_id, body.skills, actor)
    return (await service.read(session, [counter]))[0]


@router.post("/counters/{counter_id}/sign-in", response_model=CounterRead,
             responses=responses(*OPERATE_ERRORS, ClerkElsewhere))
async def sign_in(counter_id: uuid.UUID, session: SessionDep, actor: Clerk) -> CounterRead:
    """A clerk of the hall takes the counter."""
    return (await service.read(session, [await service.sign_in(session, counter_id, actor)]))[0]


@router.post("/counters/{counter_id}/sign-out", response_model=CounterRead,
             responses=responses(*OPERATE_ERRORS, CounterBusy))
async def sign_out(counter_id: uuid.UUID, session: SessionDep, actor: Clerk) -> CounterRead:
    """The clerk leaves the counter (refused while a ticket is at it)."""
    return (await service.read(session, [await flows.sign_out(session, counter_id, actor)]))[0]


@router.post("/counters/{counter_id}/pause", response_model=CounterRead, responses=responses(*OPERATE_ERRORS))
async def pause(counter_id: uuid.UUID, session: SessionDep, actor: Clerk) -> CounterRead:
    """Stop calling for a while."""
    return (await service.read(session, [await service.pause(session, counter_id, actor, True)]))[0]


@router.post("/counters/{counter_id}/resume", response_model=CounterRead, responses=responses(*OPERATE_ERRORS))
async def resume(counter_id: uuid.UUID, session: SessionDep, actor: Clerk) -> CounterRead:
    """Call again after a pause."""
    return (await service.read(session, [await service.pause(session, counter_id, actor, False)]))[0]
