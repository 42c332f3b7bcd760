from typing import Any

from fastapi import FastAPI

API_PREFIX = "/api/v1/"
OWN_NAME = "gateway"


class GatewayASGI:
    """The gateway's outermost ASGI app. `/api/v1/<service>/...` goes straight to the proxy, with
    no framework routing or models on that path; everything else (the gateway's own API, health,
    docs) and the lifespan go to the FastAPI app, which builds the proxy at startup."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path.startswith(API_PREFIX):
                service = path[len(API_PREFIX):].partition("/")[0]
                if service != OWN_NAME:
                    return await self.app.state.proxy(scope, receive, send, service)
        await self.app(scope, receive, send)
