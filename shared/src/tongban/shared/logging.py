"""JSON logs, one object a line, with the request id and masked personal numbers; one access-log
line per request (`AccessLog`, written by the platform's edge middleware)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sys
from contextvars import ContextVar
from typing import Any

from tongban.shared.ids import mask_text

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)
# The current request's access record: a dict shared by every context copied from the request's
# (so a dependency run in a copied context can still name the caller).
_access_var: ContextVar[dict[str, Any] | None] = ContextVar("access_record", default=None)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        if (rid := request_id_var.get()) is not None:
            entry["request_id"] = rid
        if (tid := trace_id_var.get()) is not None:
            entry["trace_id"] = tid
        if (fields := getattr(record, "fields", None)) is not None:
            entry.update({k: mask_text(v) if isinstance(v, str) else v for k, v in fields.items()})
        if record.exc_info:
            entry["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def mask_subject(sub: str) -> str:
    """A caller's subject as logs show it: its kind, and a stable pseudonym for the rest (the
    same caller is the same pseudonym; ops who hold a subject can compute it)."""
    kind, sep, rest = sub.partition(":")
    if not sep:
        kind, rest = "subject", sub
    return f"{kind}:{hashlib.sha256(sub.encode()).hexdigest()[:12]}" if rest else kind


def note_caller(sub: str) -> None:
    """Name the verified caller of the current request in its access-log line (auth calls this)."""
    record = _access_var.get()
    if record is not None:
        record["subject"] = sub


class AccessLog:
    """One JSON line per request on the `tongban.access` logger: method, route template, status,
    duration, request id (and trace id) from the formatter, the caller's subject masked."""

    logger = logging.getLogger("tongban.access")

    def begin(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        _access_var.set(record)
        return record

    def end(self, record: dict[str, Any], method: str, route: str, status: int, seconds: float) -> None:
        self.proxied(method, route, status, seconds, record.get("subject"))

    def proxied(self, method: str, route: str, status: int, seconds: float, subject: str | None,
                request_id: str | None = None) -> None:
        """The line itself; the gateway's proxy, which answers outside any request context, names
        the request id explicitly."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        fields = {"method": method, "route": route, "status": status, "duration_ms": round(seconds * 1000, 2),
                  "subject": mask_subject(subject) if subject else None}
        if request_id is not None:
            fields["request_id"] = request_id
        self.logger.info("%s %s %d", method, route, status, extra={"fields": fields})


def configure_logging(service: str, level: str = "INFO") -> None:
    """Every log line (uvicorn's own included: its errors and tracebacks) as JSON on stderr. The
    access log follows `level` (LOG_LEVEL=WARNING, as tests and benches set, leaves it out)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn gives its loggers plain-text handlers of their own: hand them to the root's.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Our access log replaces uvicorn's (which knows neither the route nor the caller).
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    uvicorn_access.setLevel(logging.WARNING)
