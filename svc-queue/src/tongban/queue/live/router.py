import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from tongban.queue import clock
from tongban.queue.clock import SettingsDep
from tongban.queue.counter.errors import NotYourHall
from tongban.queue.hall.errors import HallNotFound
from tongban.queue.hall.service import get_hall
from tongban.queue.live import service
from tongban.queue.live.board import board_page
from tongban.queue.live.schemas import CityStats, HallDayStats, HallLive, NearbyHall
from tongban.queue.policy import ERRORS as AUTH_ERRORS, Can, Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.policy import Target
from tongban.shared.pagination import Page, PageDep, page_of

router = APIRouter(tags=["live"])
QueueAdmin = Caller("city_stats.read")
Staff = Can("hall_stats.read")
KEEPALIVE_SECONDS = 15.0


@router.get("/halls/{hall_id}/live", summary="大厅实时排队情况", dependencies=[Public("live.read")],
            response_model=HallLive, responses=responses(HallNotFound))
async def hall_live(hall_id: uuid.UUID, session: SessionDep, settings: SettingsDep) -> HallLive:
    """Waiting per category with estimated waits, each counter's current number, the last calls
    (public: numbers only)."""
    return await service.hall_live(session, settings, hall_id)


def _sse(kind: str, data: object) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


@router.get("/halls/{hall_id}/events", dependencies=[Public("live.read")],
            responses={200: {"content": {"text/event-stream": {}}},
                                                  **responses(HallNotFound)})
async def hall_events(hall_id: uuid.UUID, request: Request, session: SessionDep,
                      settings: SettingsDep) -> StreamingResponse:
    """Server-Sent Events of a hall (public: numbers only): a `snapshot` first, then `called`,
    `issued`, `started`, `finished`, `skipped`, `transferred`, `cancelled` as they commit."""
    hub = request.app.state.live_hub
    # Subscribe before the snapshot: an update committed in between is sent twice, never lost.
    queue = hub.subscribe(str(hall_id))
    try:
        snapshot = (await service.hall_live(session, settings, hall_id)).model_dump(mode="json")
    except BaseException:
        hub.unsubscribe(str(hall_id), queue)
        raise

    async def stream() -> AsyncIterator[str]:
        try:
            yield _sse("snapshot", snapshot)
            while True:
                try:
                    update = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if update is None:  # too slow: dropped by the hub; the browser reconnects
                    return
                yield _sse(update["kind"], update)
        finally:
            hub.unsubscribe(str(hall_id), queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/halls/{hall_id}/board", dependencies=[Public("live.read")],
            response_class=HTMLResponse, responses=responses(HallNotFound))
async def board(hall_id: uuid.UUID, session: SessionDep, request: Request) -> HTMLResponse:
    """The hall's display board (public web page), updated live over SSE."""
    hall = await get_hall(session, hall_id)
    return HTMLResponse(board_page(hall.id, hall.name, request.app.state.prefix))


@router.get("/nearest-halls", summary="附近的办事大厅", dependencies=[Public("live.read")],
            response_model=Page[NearbyHall])
async def nearest_halls(
    session: SessionDep, settings: SettingsDep, page: PageDep,
    latitude: Annotated[float, Query(ge=-90, le=90)], longitude: Annotated[float, Query(ge=-180, le=180)],
    item_code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
) -> Page[NearbyHall]:
    """Open halls (handling the item, if given) ranked by travel time plus estimated wait, each
    with the reason for its rank (public)."""
    ranked = await service.nearest(session, settings, latitude, longitude, item_code, limit=10_000)
    return page_of(ranked[page.offset:page.offset + page.limit], len(ranked), page)


@router.get("/halls/{hall_id}/stats", response_model=HallDayStats,
            responses=responses(*AUTH_ERRORS, HallNotFound, NotYourHall))
async def hall_stats(hall_id: uuid.UUID, session: SessionDep, settings: SettingsDep, access: Staff,
                     day: dt.date | None = None) -> HallDayStats:
    """A hall's statistics of a day (admins, or the hall's clerks)."""
    await get_hall(session, hall_id)
    access.check(Target(hall=str(hall_id)))
    return (await service.day_stats(session, day or clock.today(settings), hall_id)).per_hall[0]


@router.get("/stats", response_model=CityStats, responses=responses(*AUTH_ERRORS))
async def city_stats(session: SessionDep, settings: SettingsDep, actor: QueueAdmin,
                     day: dt.date | None = None) -> CityStats:
    """Every hall's statistics of a day and the city-wide roll-up (admins)."""
    return await service.day_stats(session, day or clock.today(settings))
