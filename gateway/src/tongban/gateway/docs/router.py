from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tongban.gateway.policy import Public
from tongban.shared.apidocs import redoc_page, swagger_page

router = APIRouter(tags=["docs"])
# The pages' files are the gateway app's own (tongban.shared.apidocs, served at its prefix).
ASSETS = "/api/v1/gateway/docs/assets"
TITLE = "Tongban API"


@router.get("/openapi.json", include_in_schema=False, dependencies=[Public("docs.read")])
async def openapi(request: Request) -> dict[str, Any]:
    """Every service's routes under their public prefixes, and the gateway's own (public)."""
    return await request.app.state.openapi_aggregator.document(request.app.openapi())


@router.get("/docs", include_in_schema=False, dependencies=[Public("docs.read")])
async def docs() -> HTMLResponse:
    """Swagger UI over the aggregated document (public), with no CDN."""
    return swagger_page("/openapi.json", ASSETS, TITLE, "/api/v1/gateway/docs/oauth2-redirect")


@router.get("/redoc", include_in_schema=False, dependencies=[Public("docs.read")])
async def redoc() -> HTMLResponse:
    """ReDoc over the aggregated document (public), with no CDN."""
    return redoc_page("/openapi.json", ASSETS, TITLE)
