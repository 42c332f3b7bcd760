from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tongban.queue.clock import SettingsDep
from tongban.queue.dashboard import service
from tongban.queue.dashboard.page import dashboard_page
from tongban.queue.dashboard.schemas import Dashboard
from tongban.queue.policy import ERRORS as AUTH_ERRORS, Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses

router = APIRouter(tags=["dashboard"])
CityManager = Caller("dashboard.read")


@router.get("/dashboard", dependencies=[Public("dashboard.page")], response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    """The city's service dashboard (a public page with no figures in it: it fetches them with the
    token the wall screen was given, see `GET /dashboard/figures`)."""
    return HTMLResponse(dashboard_page(request.app.state.prefix), headers={"Cache-Control": "no-store"})


@router.get("/dashboard/figures", response_model=Dashboard, responses=responses(*AUTH_ERRORS))
async def figures(session: SessionDep, settings: SettingsDep, actor: CityManager) -> Dashboard:
    """Today's figures of every hall (waiting, longest wait, counters open, appointments kept and
    missed, tickets per hour) and department (cases received, decided, overdue, on-time rate,
    instant approvals, ratings and bad ones still open): city managers and admins."""
    return await service.dashboard(session, settings)
