"""Every route of svc-cases names its permission in the one policy (the shared audit route answers to
the policy's `audit.read` through PLATFORM_ROUTES; the probes are public on purpose)."""

from fastapi.routing import APIRoute
from tongban.cases.main import SERVICE, create_app
from tongban.cases.policy import PLATFORM_ROUTES, POLICY, PUBLIC_ROUTES
from tongban.shared.policy import declared_permission

# Routes still guarded by scopes alone (Requires), to be moved into the policy next: none.
NOT_YET: tuple[str, ...] = ()


def api_routes(routes, prefix: str = ""):
    """Every APIRoute, through included routers (which this FastAPI keeps nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            yield from api_routes(route.original_router.routes, prefix + (getattr(context, "prefix", "") or ""))


def test_case_routes_declare_their_permission():
    app = create_app(SERVICE.settings(database_url="postgresql+asyncpg://x@/x", nats_url="nats://x", jwks_json="{\"keys\": []}"))
    undeclared, declared = [], []
    for prefix, route in api_routes(app.routes):
        path = (prefix + route.path).removeprefix(SERVICE.prefix)
        permission = declared_permission(route)
        if permission is not None:
            assert permission in POLICY.permissions
            declared.append(path)
        elif path in PUBLIC_ROUTES or any(k.endswith(SERVICE.prefix + path) for k in PLATFORM_ROUTES):
            continue
        elif not path.startswith(NOT_YET) or not NOT_YET:
            undeclared.append(f"{sorted(route.methods)} {path}")
    assert undeclared == []
    assert {"/cases", "/cases/{case_id}", "/cases/{case_id}/{action}", "/cases/{case_id}/materials"} <= set(declared)
