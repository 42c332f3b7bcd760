"""One error shape for the whole platform: RFC 9457 problem details.

Domain errors subclass AppError with a stable `code`; `install_error_handlers` turns them,
request validation failures, HTTP errors and anything unexpected into problem+json.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from tongban.shared.logging import request_id_var
from tongban.shared.messages import ERROR_TYPE, localize

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://tongban.gov.cn/problems/"
log = logging.getLogger("tongban.errors")


class AppError(Exception):
    """Base of every domain error: a stable machine code, an HTTP status and a short title."""

    code = "error"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(AppError):
    code, status, title = "not_found", 404, "Not found"


class Conflict(AppError):
    code, status, title = "conflict", 409, "Conflict"


class Unauthorized(AppError):
    code, status, title = "unauthorized", 401, "Authentication required"


class Forbidden(AppError):
    code, status, title = "forbidden", 403, "Not allowed"


class InvalidField(AppError):
    """A well-formed request whose field fails a domain check (a bad check digit, say)."""

    code, status, title = "invalid_field", 422, "Invalid field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])


class PayloadTooLarge(AppError):
    code, status, title = "payload_too_large", 413, "Request body too large"


class Problem(BaseModel):
    """RFC 9457 problem details, as documented in every service's OpenAPI."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_response(
    status: int, code: str, title: str, detail: str | None = None, instance: str | None = None,
    headers: dict[str, str] | None = None, language: str | None = None, **extra: Any,
) -> JSONResponse:
    # In the request's language (tongban.shared.messages): the code stays, the words change.
    title, detail, errors = localize(status, code, title, detail, extra.pop("errors", None), language)
    if errors is not None:
        extra["errors"] = errors
    body: dict[str, Any] = {
        "type": TYPE_BASE + code, "title": title, "status": status, "code": code,
        "detail": detail, "instance": instance, "request_id": request_id_var.get(),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each error's status documented as problem+json."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        entry = out.setdefault(err.status, {"model": Problem, "description": "", "content": {PROBLEM_JSON: {}}})
        entry["description"] = (entry["description"] + "; " if entry["description"] else "") + err.title
    return out


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


async def _app_error(request: Request, exc: AppError) -> JSONResponse:
    return problem_response(exc.status, exc.code, exc.title, exc.detail, request.url.path, **exc.extra)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        return problem_response(400, "malformed_json", "Malformed JSON", "the request body is not valid JSON",
                                request.url.path)
    fields = [{"field": _field_name(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid"),
               ERROR_TYPE: e.get("type")} for e in errs]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return problem_response(422, "validation_failed", "Invalid request", detail, request.url.path, errors=fields)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
        exc.status_code, f"http_{exc.status_code}")
    return problem_response(exc.status_code, code, str(exc.detail), None, request.url.path,
                            headers=getattr(exc, "headers", None))


def database_unavailable(exc: BaseException) -> tuple[str, str] | None:
    """(code, detail) when `exc` means the database cannot serve right now (every pooled
    connection busy, or the server unreachable): the client should retry, it did nothing wrong."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "database_busy", "every database connection is busy; retry shortly"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "database_unavailable", "the database connection was lost; retry shortly"
    cause: BaseException | None = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    seen = 0
    while cause is not None and seen < 5:  # asyncpg's connect errors arrive wrapped once or twice
        if isinstance(cause, (ConnectionError, TimeoutError)) or type(cause).__name__ in _PG_CONNECTION_ERRORS:
            return "database_unavailable", "the database cannot be reached; retry shortly"
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return None


# asyncpg's names for "the server is not there / not ready" (matched by name: no import of the driver here)
_PG_CONNECTION_ERRORS = {"CannotConnectNowError", "ConnectionDoesNotExistError", "ConnectionFailureError",
                         "TooManyConnectionsError", "PostgresConnectionError"}


def unexpected_response(exc: BaseException, method: str, path: str) -> JSONResponse:
    """The answer to an exception no handler took: 503 + Retry-After for a database that cannot
    serve (load, not a bug; logged in one line), else 500 with the traceback logged (as JSON,
    masked, by the platform's formatter)."""
    if (busy := database_unavailable(exc)) is not None:
        log.warning("database unavailable on %s %s: %s", method, path, busy[0])
        return problem_response(503, busy[0], "Service temporarily unavailable", busy[1], path,
                                headers={"Retry-After": "1"})
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return problem_response(500, "internal_error", "Internal error", "the error was logged with this request id",
                            path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Reached only by an app without the platform's edge middleware (which answers first).
    return unexpected_response(exc, request.method, request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
