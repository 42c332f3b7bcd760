"""A service as its own entry point builds it (uvicorn --factory), plus a count of the SQL
statements its process sends (SQLAlchemy's cursor events on every engine), readable at
`GET /bench/statements` (and reset by `DELETE /bench/statements`): how benches count statements
per operation of a service that runs in its own process, as deployed.

    BENCH_APP=tongban.interop.main:create_app uvicorn --factory _counted:create_app

Every other request goes to the service untouched. For benches only.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

COUNTS: collections.Counter[str] = collections.Counter()
PATH = "/bench/statements"


@event.listens_for(Engine, "before_cursor_execute")
def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    COUNTS[" ".join(statement.split())[:90]] += 1


@event.listens_for(Pool, "connect")
def _connected(*_args: Any) -> None:
    COUNTS["(a new database connection)"] += 1


def create_app() -> Any:
    module, _, factory = os.environ["BENCH_APP"].partition(":")
    inner = getattr(importlib.import_module(module), factory)()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == PATH:
            if scope["method"] == "DELETE":
                COUNTS.clear()
            body = json.dumps(dict(COUNTS)).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    return app
