import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from tongban.queue.clock import SettingsDep
from tongban.queue.dashboard import service
from tongban.queue.dashboard.page import dashboard_page
from tongban.queue.dashboard.schemas import Dashboard
from tongban.queue.live.hub import EVERY_HALL
from tongban.queue.policy import ERRORS as AUTH_ERRORS, Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses

router = APIRouter(tags=["dashboard"])
CityManager = Caller("dashboard.read")
# After an update, wait this long for more before recomputing (a busy city sends many per second).
SETTLE_SECONDS = 0.5
# Figures are sent again at least this often (waits grow while nothing happens; the day turns).
RESEND_SECONDS = 30.0


@router.get("/dashboard", dependencies=[Public("dashboard.page")], response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    """The city's service dashboard (a public page with no figures in it: it reads them, with the
    token the wall screen was given, from `GET /dashboard/events`)."""
    return HTMLResponse(dashboard_page(request.app.state.prefix), headers={"Cache-Control": "no-store"})


@router.get("/dashboard/figures", response_model=Dashboard, responses=responses(*AUTH_ERRORS))
async def figures(session: SessionDep, settings: SettingsDep, actor: CityManager) -> Dashboard:
    """Today's figures of every hall (waiting, longest wait, counters open, appointments kept and
    missed, tickets per hour) and department (cases received, decided, overdue, on-time rate,
    instant approvals, ratings and bad ones still open): city managers and admins."""
    return await service.dashboard(session, settings)


@router.get("/dashboard/events", responses={200: {"content": {"text/event-stream": {}}}, **responses(*AUTH_ERRORS)})
async def events(request: Request, settings: SettingsDep, actor: CityManager) -> StreamingResponse:
    """Server-Sent Events of the dashboard: a `figures` event (the body of `GET /dashboard/figures`)
    at once, again shortly after any hall or case figure changes, and at least every 30 s; the
    stream ends when the caller's token expires."""
    hub = request.app.state.live_hub
    sessionmaker = request.app.state.sessionmaker
    # The stream ends when the token does (the page reconnects, and a stale token is refused then).
    expires = float(actor.claims.get("exp", time.time() + RESEND_SECONDS))

    async def current() -> str:
        async with sessionmaker() as session, session.begin():
            body = (await service.dashboard(session, settings)).model_dump_json()
        return f"event: figures\ndata: {body}\n\n"

    async def stream() -> AsyncIterator[str]:
        queue = hub.subscribe(EVERY_HALL)  # before the first figures: no change falls in between
        try:
            yield await current()
            while (left := expires - time.time()) > 0:
                try:
                    update = await asyncio.wait_for(queue.get(), timeout=min(RESEND_SECONDS, left))
                except TimeoutError:
                    if time.time() >= expires:
                        return
                    yield await current()
                    continue
                if update is None:  # too slow: dropped by the hub; the page reconnects
                    return
                await asyncio.sleep(SETTLE_SECONDS)
                with contextlib.suppress(asyncio.QueueEmpty):
                    while True:  # what arrived meanwhile is in the figures computed now
                        if queue.get_nowait() is None:
                            return
                yield await current()
        finally:
            hub.unsubscribe(EVERY_HALL, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
