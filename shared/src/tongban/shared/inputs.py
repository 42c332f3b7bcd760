"""Input that no field of any service may carry is refused once, at the edge, before routing.

PostgreSQL refuses the NUL character in text, asyncpg cannot encode a lone UTF-16 surrogate,
a 64-bit column cannot hold a larger integer, and pydantic stops serialising past a fixed
depth: each of those, reached by any free-form string or JSON value, used to be a 500. Rather
than a text type on every schema field (and every query, path and form parameter of every
route, where one forgotten field is one more 500), `InputCheck` refuses them for every request
of every service with the platform's 422 problem naming the field:

- NUL or a lone surrogate in a JSON body (keys included), a form body, the query string or the path;
- a query string or form body whose percent-escapes are not UTF-8 (they would become U+FFFD);
- an integer in a JSON body outside the signed 64-bit range;
- JSON nested deeper than `MAX_JSON_DEPTH` (no schema of the platform is half as deep).

Cost: a JSON body is scanned once by a compiled regex and two byte counts (C speed); only a
body that might hold one of the above (a `\\u0000` or `\\uD8..` escape, 19 digits in a row,
more than `MAX_JSON_DEPTH` brackets) is parsed and walked. bench/input_check.py measures it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from tongban.shared.errors import problem_response

MAX_JSON_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# What sends a JSON body to the full parse: an escaped NUL or surrogate, a run of 19 digits (every
# integer of 18 digits or fewer is inside the 64-bit range), or brackets nested too deep. Each is
# looked for with C-speed bytes operations (a literal-prefixed regex, translate, find).
_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\\')
_STRING = re.compile(rb'"[^"]*"')
_PAIR = re.compile(rb"\[\]|\{\}")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_JSON_TYPES = (b"application/json", b"+json")
_FORM_TYPE = b"application/x-www-form-urlencoded"


def text_problem(value: str) -> str | None:
    """Why this string cannot be stored as text, or None."""
    if (m := _BAD_TEXT.search(value)) is None:
        return None
    if m.group() == "\x00":
        return "may not contain the NUL character (U+0000)"
    return "may not contain a lone surrogate (U+D800-U+DFFF): it is not Unicode text"


def json_problems(body: bytes) -> list[dict[str, str]]:
    """What in this JSON body no service may receive, as [{field, message}] (empty if nothing).
    A body that is not JSON at all is left to the route (its 400 malformed_json)."""
    if (_ESCAPE.search(body) is None and _LONG_NUMBER not in body.translate(_DIGITS_AS_ZERO)
            and not _may_nest_deeper(body, MAX_JSON_DEPTH)):
        return []
    try:
        value = json.loads(body)
    except RecursionError:
        return [{"field": "body", "message": f"is nested deeper than {MAX_JSON_DEPTH} levels"}]
    except ValueError:
        return []
    return _walk(value)


def _may_nest_deeper(body: bytes, limit: int) -> bool:
    """Whether the brackets outside strings nest deeper than `limit` (exact for valid JSON)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    # Keep brackets, quotes and backslashes; drop escaped backslashes and quotes, then strings.
    s = body.translate(None, _NOT_STRUCTURE).replace(b"\\\\", b"").replace(b'\\"', b"").replace(b"\\", b"")
    s = _STRING.sub(b"", s)
    for _ in range(limit):  # each pass takes away the innermost level
        s, found = _PAIR.subn(b"", s)
        if not s or not found:
            return False  # nested no deeper (or not JSON: the route refuses it)
    return True


def _walk(root: Any) -> list[dict[str, str]]:
    """Every bad string, integer and too-deep value of a parsed JSON document (iterative: a deep
    document must not exhaust the interpreter's stack here)."""
    problems: list[dict[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(root, "", 1)]
    while stack and len(problems) < 10:
        value, path, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                problems.append({"field": _printable(path or "body"),
                                 "message": f"is nested deeper than {MAX_JSON_DEPTH} levels"})
                continue
            if isinstance(value, dict):
                for key, item in value.items():
                    where = f"{path}.{key}" if path else str(key)
                    if (why := text_problem(key)) is not None:
                        problems.append({"field": _printable(where), "message": "a key " + why})
                        continue
                    stack.append((item, where, depth + 1))
            else:
                stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            if (why := text_problem(value)) is not None:
                problems.append({"field": _printable(path or "body"), "message": why})
        elif type(value) is int and not INT64_MIN <= value <= INT64_MAX:
            problems.append({"field": _printable(path or "body"), "message": "is outside the 64-bit integer range"})
    return problems


def _printable(name: str) -> str:
    """A field name as the answer can carry it (a key may itself hold the bad character; a
    path into deep JSON is cut short)."""
    name = _BAD_TEXT.sub("\N{REPLACEMENT CHARACTER}", name)
    return name if len(name) <= 120 else name[:117] + "..."


def query_problems(raw: bytes) -> list[dict[str, str]]:
    """What in a query string (or form body) no service may receive, as [{field, message}]."""
    if b"%" not in raw and b"\x00" not in raw:
        return []  # plain ASCII (and raw bytes uvicorn has already accepted): nothing to decode
    problems = []
    for part in raw.split(b"&"):
        name_raw, _, value_raw = part.partition(b"=")
        try:
            name = _unquote(name_raw)
        except UnicodeDecodeError:
            problems.append({"field": "query", "message": "a parameter name is not valid UTF-8"})
            continue
        field = _printable(name)
        if (why := text_problem(name)) is not None:
            problems.append({"field": field, "message": "the name " + why})
            continue
        try:
            value = _unquote(value_raw)
        except UnicodeDecodeError:
            problems.append({"field": field, "message": "is not valid UTF-8"})
            continue
        if (why := text_problem(value)) is not None:
            problems.append({"field": field, "message": why})
    return problems


def _unquote(raw: bytes) -> str:
    """As Starlette decodes a parameter, but strict: bytes that are not UTF-8 raise."""
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")


def path_problems(path: str) -> list[dict[str, str]]:
    """The path (already percent-decoded by the server) may not hold what a text column refuses."""
    if (why := text_problem(path)) is None:
        return []
    segment = next(i for i, s in enumerate(path.split("/")) if text_problem(s) is not None)
    return [{"field": "path", "message": f"segment {segment} {why}"}]


def refusal(problems: list[dict[str, str]], path: str | None) -> Any:
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return problem_response(422, "validation_failed", "Invalid request", detail, _printable(path or ""),
                            errors=problems)


class InputCheck:
    """Raw ASGI middleware: refuse what no field may carry (see the module's docstring) with 422
    before any route sees it. A JSON or form body is read whole here (the edge has already
    bounded its size) and handed on unchanged."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problems = path_problems(scope["path"]) + query_problems(scope.get("query_string", b""))
        if problems:
            return await refusal(problems, scope["path"])(scope, receive, send)
        content_type = _header(scope, b"content-type").split(b";", 1)[0].strip().lower()
        if content_type.endswith(_JSON_TYPES):
            check = json_problems
        elif content_type == _FORM_TYPE:
            check = query_problems
        else:
            return await self.app(scope, receive, send)
        body, receive = await _read_body(receive)
        if problems := check(body):
            return await refusal(problems, scope["path"])(scope, receive, send)
        await self.app(scope, receive, send)


def _header(scope: dict[str, Any], name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return b""


async def _read_body(receive: Any) -> tuple[bytes, Any]:
    """The whole request body, and a `receive` that gives it to the app once, then waits on the
    client as before (for its disconnect)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: let the app see it
            async def gone(message: dict[str, Any] = message) -> dict[str, Any]:
                return message
            return b"", gone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    given = False

    async def replay() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
