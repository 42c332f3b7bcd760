from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from tongban.gateway.policy import Public

router = APIRouter(tags=["docs"])


@router.get("/openapi.json", include_in_schema=False, dependencies=[Public("docs.read")])
async def openapi(request: Request) -> dict[str, Any]:
    """Every service's routes under their public prefixes, and the gateway's own (public)."""
    return await request.app.state.openapi_aggregator.document(request.app.openapi())


@router.get("/docs", include_in_schema=False, dependencies=[Public("docs.read")])
async def docs() -> HTMLResponse:
    """Swagger UI over the aggregated document (public)."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Tongban API")
