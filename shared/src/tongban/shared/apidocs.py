"""The API's documentation, the same at the gateway and every service, and readable offline.

- Swagger UI and ReDoc come from the pinned `fastapi-offline` package's files, served by the
  service itself under `<prefix>/docs/assets/` (no CDN: many government networks reach none).
- `describe(schema, app)` completes the OpenAPI document FastAPI builds: the security schemes
  (an HTTP bearer JWT, and OAuth2 client credentials at the gateway's token URL for partner
  systems), a `security` on every operation that needs a token (none on public ones), and tags
  per audience (居民 / 企业 / 窗口 / 审批 / 合作城市 / 管理), read off the route's policy rules.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response

# The gateway's token endpoint: partners' client credentials, everyone's refresh and password grants.
TOKEN_URL = "/auth/token"
BEARER = "bearer"
CLIENT_CREDENTIALS = "partner"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
             "description": "网关签发的访问令牌（`POST /auth/token`）。An access token from the gateway."},
    CLIENT_CREDENTIALS: {"type": "oauth2", "description": "合作城市与对接系统：客户端凭证模式。Partner systems.",
                         "flows": {"clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": {}}}},
}
# Who a rule's role is, as the docs group operations (in this order).
AUDIENCES = (("citizen", "居民"), ("company", "企业"), ("clerk", "窗口"), ("approver", "审批"),
             ("partner", "合作城市"), ("admin", "管理"), ("auditor", "管理"), ("service", "管理"))
AUDIENCE_TAGS = [
    {"name": "居民", "description": "Residents: the mini-program and the web portal (个人办事)."},
    {"name": "企业", "description": "Companies and their agents (法人办事)."},
    {"name": "窗口", "description": "Counter clerks in the halls (窗口受理)."},
    {"name": "审批", "description": "Approvers of the departments (审批)."},
    {"name": "合作城市", "description": "Partner cities and systems, with client credentials (跨域通办)."},
    {"name": "管理", "description": "Administrators, auditors and the platform's own services (管理)."},
    {"name": "公开", "description": "Public: no token needed (无需登录)."},
]
PUBLIC_TAG = "公开"
# The tags of a route every caller uses, whose own check reads no policy (the gateway's /auth/token).
EVERYONE_TAGS = [t["name"] for t in AUDIENCE_TAGS]
PUBLIC_ROLES = frozenset({"anonymous", "anyone"})
_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
           "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}


def asset(name: str) -> bytes:
    """One of the documentation pages' files, from the pinned package."""
    return resources.files("fastapi_offline").joinpath("static", name).read_bytes()


def swagger_page(openapi_url: str, assets_url: str, title: str, oauth2_redirect_url: str | None = None) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} - Swagger UI",
                               swagger_js_url=f"{assets_url}/swagger-ui-bundle.js",
                               swagger_css_url=f"{assets_url}/swagger-ui.css",
                               swagger_favicon_url=f"{assets_url}/favicon.png",
                               oauth2_redirect_url=oauth2_redirect_url,
                               swagger_ui_parameters={"persistAuthorization": True})


def redoc_page(openapi_url: str, assets_url: str, title: str) -> HTMLResponse:
    return get_redoc_html(openapi_url=openapi_url, title=f"{title} - ReDoc",
                          redoc_js_url=f"{assets_url}/redoc.standalone.js",
                          redoc_favicon_url=f"{assets_url}/favicon.png", with_google_fonts=False)


def docs_router(prefix: str, title: str, openapi_url: str | None = None) -> APIRouter:
    """`<prefix>/docs` (Swagger UI), `<prefix>/redoc`, the OAuth2 redirect page and the assets,
    all public (tongban.shared.policy.platform_public lists them). Plain routes, as FastAPI's own
    docs pages are: no models, no dependencies, nothing in the document."""
    openapi_url = openapi_url or f"{prefix}/openapi.json"
    assets_url = f"{prefix}/docs/assets"
    redirect_url = f"{prefix}/docs/oauth2-redirect"
    router = APIRouter()

    async def swagger(request: Request) -> Response:
        return swagger_page(openapi_url, assets_url, title, redirect_url)

    async def redoc(request: Request) -> Response:
        return redoc_page(openapi_url, assets_url, title)

    async def oauth2_redirect(request: Request) -> Response:
        return get_swagger_ui_oauth2_redirect_html()

    async def assets(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:
            raise HTTPException(404)
        return Response(asset(name), media_type=_ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})

    for path, endpoint in ((f"{prefix}/docs", swagger), (f"{prefix}/redoc", redoc), (redirect_url, oauth2_redirect),
                           (assets_url + "/{name}", assets)):
        router.add_route(path, endpoint, methods=["GET"], include_in_schema=False)
    return router


def _audiences(route: Any) -> tuple[list[str], bool, list[str] | None] | None:
    """(audience tags, public, the scopes a system needs or None when no system may call it) of a
    route, from its policy rules; None for a route that names no permission."""
    from tongban.shared.auth import Requires
    from tongban.shared.policy import Authorize  # late: policy imports errors and auth, not this

    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Requires):  # the shared audit trail: staff holding a scope
            return ["管理"], False, None
        if isinstance(dep.call, Authorize):
            rules = dep.call.policy[dep.call.permission]
            roles = {r.who for r in rules}
            tags: list[str] = []
            for role, tag in AUDIENCES:
                if (role in roles or "anyone" in roles) and tag not in tags:
                    tags.append(tag)
            public = bool(roles & PUBLIC_ROLES)
            systems = [r for r in rules if r.who in ("partner", "service")]
            scopes = sorted({s for r in systems for s in r.scopes}) if systems else None
            return tags, public, scopes
        stack.extend(dep.dependencies)
    return None


def describe(schema: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """Security schemes, per-operation security and audience tags (in place; returns `schema`)."""
    from fastapi.routing import APIRoute

    from tongban.shared.policy import routes_of

    by_operation: dict[tuple[str, str], Any] = {}
    for path, methods, route in routes_of(app):
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in methods:
                by_operation[(path, method.lower())] = route
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    used: set[str] = set()
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or method not in ("get", "put", "post", "delete", "patch"):
                continue
            route = by_operation.get((path, method))
            found = _audiences(route) if route is not None else None
            if found is None:
                mine = [t for t in op.get("tags", []) if t in EVERYONE_TAGS]
                if mine:
                    op["tags"] = [*mine, *[t for t in op["tags"] if t not in mine]]
                used.update(mine)
                continue
            audiences, public, scopes = found
            tags = [*audiences, PUBLIC_TAG] if public else audiences
            op["tags"] = [*tags, *[t for t in op.get("tags", []) if t not in tags]]
            used.update(tags)
            if public:
                continue
            security: list[dict[str, list[str]]] = [{BEARER: []}]
            if scopes is not None:
                security.append({CLIENT_CREDENTIALS: scopes})
            op["security"] = security
    schema["tags"] = [t for t in AUDIENCE_TAGS if t["name"] in used] + [
        t for t in schema.get("tags", []) if t.get("name") not in {a["name"] for a in AUDIENCE_TAGS}]
    return schema


def install_openapi(app: FastAPI) -> None:
    """FastAPI's document, described as above, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes, servers=app.servers or None)
            app.openapi_schema = describe(schema, app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
