"""What no field may carry (tongban.shared.inputs), refused once for every service: NUL and lone
surrogates in JSON and form bodies, query strings and paths; integers past 64 bits; deep JSON;
and the bounded integers of tongban.shared.fields."""

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from tongban.shared.errors import install_error_handlers
from tongban.shared.fields import Id32
from tongban.shared.inputs import MAX_JSON_DEPTH, InputCheck, json_problems, path_problems, query_problems
from tongban.shared.messages import language_of, language_var
from tongban.shared.pagination import MAX_OFFSET, PageDep


class Form(BaseModel):
    name: str
    form_data: dict = {}


def _languaged(app: Any) -> Any:
    """The request's language set as the platform's edge middleware sets it (this bare app has none)."""
    async def outer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        token = language_var.set(language_of(scope.get("headers")))
        try:
            await app(scope, receive, send)
        finally:
            language_var.reset(token)
    return outer


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/forms")
    async def post_form(body: Form) -> dict:
        return body.model_dump()

    @app.post("/token")
    async def token(request: Request) -> dict:
        return dict(await request.form())

    @app.get("/things/{name}")
    async def thing(name: str, page: PageDep, q: str = "") -> dict:
        return {"name": name, "q": q, "offset": page.offset}

    @app.get("/lists/{list_id}")
    async def status_list(list_id: Id32) -> dict:
        return {"id": list_id}

    app.add_middleware(InputCheck)
    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, transport=httpx.ASGITransport(app=_languaged(_app())),
                                 base_url="http://t") as c:
        yield c


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("body, field", [
    ('{"name": "a\\u0000b"}', "name"),
    ('{"name": "x", "form_data": {"list": ["ok", "\\ud800"]}}', "form_data.list[1]"),
    ('{"name": "x", "form_data": {"k\\u0000": 1}}', "form_data.k\N{REPLACEMENT CHARACTER}"),
    ('{"name": "x", "form_data": {"n": 9223372036854775808}}', "form_data.n"),
    ('{"name": "x", "form_data": {"n": -9223372036854775809}}', "form_data.n"),
    ('{"name": "\\udc00"}', "name"),
])
async def test_a_json_body_with_what_no_column_takes_is_422_naming_the_field(client, body, field):
    r = await client.post("/forms", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "validation_failed" and [e["field"] for e in r.json()["errors"]] == [field]


async def test_deep_json_is_refused_before_the_route_and_shallow_json_passes(client):
    deep = {"name": "x", "form_data": _nested(MAX_JSON_DEPTH + 5)}
    r = await client.post("/forms", json=deep)
    assert r.status_code == 422 and "nested deeper" in r.json()["detail"], r.text
    very_deep = '{"name": "x", "form_data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    r = await client.post("/forms", content=very_deep, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "nested deeper" in r.json()["detail"]
    ok = {"name": "x", "form_data": _nested(MAX_JSON_DEPTH - 2)}
    assert (await client.post("/forms", json=ok)).status_code == 200


async def test_what_is_fine_passes_unchanged(client):
    body = {"name": "张三\U0001f600", "form_data": {"id": 922337203685477580, "note": "a\\u0000 is text here",
                                                  "items": [{"x": i} for i in range(100)]}}
    r = await client.post("/forms", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json() == body
    # Not JSON at all: left to the route's own 400.
    r = await client.post("/forms", content=b'{"name":', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"


async def test_query_path_and_form_are_checked_too(client):
    r = await client.get("/things/a", params={"q": "a\x00b"})
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "q", "message":
                                                            "may not contain the NUL character (U+0000)"}]
    r = await client.get("/things/a?q=%ED%A0%80")  # a surrogate's UTF-8 bytes: not UTF-8
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "q"
    r = await client.get("/things/a%00b")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path"
    r = await client.post("/token", data={"username": "admin\x00", "password": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "username"
    r = await client.get("/things/%E5%BC%A0", params={"q": "张 三"})
    assert r.status_code == 200 and r.json() == {"name": "张", "q": "张 三", "offset": 0}


async def test_offsets_and_integer_ids_are_bounded(client):
    r = await client.get("/things/a", params={"offset": str(2**63)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "offset"
    assert (await client.get("/things/a", params={"offset": MAX_OFFSET})).status_code == 200
    r = await client.get("/lists/35345664430297161728")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "list_id"
    assert (await client.get("/lists/2147483648")).status_code == 422
    assert (await client.get("/lists/7")).json() == {"id": 7}


def test_the_checks_alone():
    assert json_problems(b'{"a": "plain", "b": [1, 2, 3]}') == []
    assert json_problems(b'{"a": "\\\\u0000"}') == []        # an escaped backslash, then text
    assert json_problems(b'{"a": "\\ud83d\\ude00"}') == []    # a surrogate pair is one character
    assert json_problems(b'{"a": "\\ud83d"}')[0]["field"] == "a"
    assert json_problems(b'{"a": 1.23456789012345678901}') == []
    assert query_problems(b"a=1&b=%E4%B8%AD") == [] and query_problems(b"a=%00")[0]["field"] == "a"
    assert path_problems("/x/y") == [] and path_problems("/x/\x00")[0]["message"].startswith("segment 2")


def test_a_local_time_has_no_offset():
    from pydantic import TypeAdapter, ValidationError
    from tongban.shared.fields import LocalTime

    adapter = TypeAdapter(LocalTime)
    assert adapter.validate_python("08:30").isoformat() == "08:30:00"
    for bad in (0, "08:30+08:00"):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
