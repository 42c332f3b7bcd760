"""A service as its own entry point builds it (uvicorn --factory), plus a count of the SQL
statements its process sends (SQLAlchemy's cursor events on every engine), readable at
`GET /bench/statements` (and reset by `DELETE /bench/statements`): how benches count statements
per operation of a service that runs in its own process, as deployed.

    BENCH_APP=tongban.interop.main:create_app uvicorn --factory _counted:create_app

Every other request goes to the service untouched. For benches only.
"""

from __future__ import annotations

import collections
import gc
import time
import cProfile
import io
import pstats
import importlib
import json
import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

COUNTS: collections.Counter[str] = collections.Counter()
PATH = "/bench/statements"
# Deterministic profile of the process (cProfile): DELETE starts it, GET stops it and answers the
# top functions by own time and by inclusive time (pstats text). For `bench/interop.py --cprofile`.
PROFILE_PATH = "/bench/cprofile"
_PROFILE: list[cProfile.Profile] = []


@event.listens_for(Engine, "before_cursor_execute")
def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    COUNTS[" ".join(statement.split())[:90]] += 1


@event.listens_for(Pool, "connect")
def _connected(*_args: Any) -> None:
    COUNTS["(a new database connection)"] += 1


_GC_START: list[float] = [0.0]


def _gc_timed(phase: str, info: dict[str, Any]) -> None:
    """The garbage collector's pauses, by generation: `(gc ms gen N)` in the counts (not statements)."""
    if phase == "start":
        _GC_START[0] = time.perf_counter()
    else:
        GC[f"gen {info['generation']} ms"] += (time.perf_counter() - _GC_START[0]) * 1000
        GC[f"gen {info['generation']} runs"] += 1


gc.callbacks.append(_gc_timed)
GC: collections.Counter[str] = collections.Counter()


def create_app() -> Any:
    module, _, factory = os.environ["BENCH_APP"].partition(":")
    inner = getattr(importlib.import_module(module), factory)()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == PATH:
            if scope["method"] == "DELETE":
                COUNTS.clear()
                GC.clear()
            body = json.dumps({**COUNTS, **{f"(gc {k})": round(v, 2) for k, v in GC.items()}}).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] == "http" and scope["path"] == PROFILE_PATH:
            if scope["method"] == "DELETE":
                _PROFILE[:] = [cProfile.Profile()]
                _PROFILE[0].enable()
                text = "started"
            else:
                _PROFILE[0].disable()
                out = io.StringIO()
                stats = pstats.Stats(_PROFILE[0], stream=out)
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(60)
                text = out.getvalue()
            body = text.encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    return app
