"""Requests whose framing or identity headers two HTTP parsers could read differently are refused
before any application code sees them (request smuggling, RFC 9112 §6.3 and §11.2).

uvicorn's httptools parser (llhttp) already refuses, with a plain 400, a repeated or non-numeric
`Content-Length`, `Content-Length` beside `Transfer-Encoding`, a repeated `Transfer-Encoding` and
one whose last coding is not `chunked`. It lets through `Transfer-Encoding: gzip, chunked`, a
repeated `Host` and a repeated `Authorization`: which of two values wins differs between servers
(the gateway once judged the last `Authorization`, Starlette the first). `FramingCheck` refuses
those in every service (built in by `build_app`), and the gateway's proxy applies the same rules
(`invalid_request` below) on both of its paths, so the gateway and the services always judge one
and the same header.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tongban.shared.errors import TYPE_BASE, problem_response

CODE, TITLE = "invalid_headers", "Invalid request headers"
TYPE = TYPE_BASE + CODE
# Headers a request may carry once only: the body's framing, where it goes, who sends it.
SINGLE = (b"content-length", b"transfer-encoding", b"host", b"authorization")
# What `Connection` may never declare hop-by-hop (the gateway would otherwise drop them).
PROTECTED = frozenset(SINGLE)


def invalid_request(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why these request headers (lower-case names, as in an ASGI scope) are refused, or None."""
    seen: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in PROTECTED:
            if name in seen:
                return f"{name.decode('ascii')} may be sent only once"
            seen[name] = value
    return framing_problem(seen.get(b"content-length"), seen.get(b"transfer-encoding"))


def framing_problem(content_length: bytes | None, transfer_encoding: bytes | None) -> str | None:
    """Why this pair of framing headers is refused, or None."""
    if transfer_encoding is not None:
        if content_length is not None:
            return "Content-Length and Transfer-Encoding may not be sent together"
        if transfer_encoding.strip().lower() != b"chunked":
            return "the only Transfer-Encoding accepted is chunked"
    elif content_length is not None and not content_length.isdigit():
        return "Content-Length must be a number of bytes"
    return None


def refusal(detail: str, path: str | None) -> Any:
    """The 400 problem+json; the connection is closed after it (its framing is not trusted)."""
    return problem_response(400, CODE, TITLE, detail, path, headers={"Connection": "close"})


class FramingCheck:
    """Raw ASGI middleware: refuse ambiguous requests before routing (see the module's docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (detail := invalid_request(scope["headers"])) is not None:
            return await refusal(detail, scope.get("path"))(scope, receive, send)
        await self.app(scope, receive, send)
