"""Problems in Chinese (tongban.shared.messages): every code any service can raise has a Chinese
title and detail; Accept-Language picks the language; the codes never change; a validation
error names its fields by their Chinese labels (the field's name where none is known)."""

import importlib

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from tongban.shared.auth import Principal, Requires, TokenVerifier
from tongban.shared.errors import AppError, NotFound, install_error_handlers
from tongban.shared.messages import CATALOGUE, EN, ZH, negotiate
from tongban.shared.metrics import Metrics
from tongban.shared.service import EdgeMiddleware

SERVICES = ("gateway", "catalog", "cases", "credentials", "queue", "interop")
HAN = range(0x4E00, 0xA000)


def chinese(text: str | None) -> bool:
    return bool(text) and any(ord(c) in HAN for c in text)


def every_error_class() -> list[type[AppError]]:
    found, stack = [], [AppError]
    while stack:
        kind = stack.pop()
        found.append(kind)
        stack.extend(kind.__subclasses__())
    return found


def test_every_code_of_every_service_has_chinese_words(monkeypatch):
    monkeypatch.setenv("TONGBAN_ENV", "development")
    for name in SERVICES:
        importlib.import_module(f"tongban.{name}.main")
    missing = sorted({k.code for k in every_error_class() if k.code not in CATALOGUE})
    assert not missing, f"codes without Chinese words in tongban.shared.messages: {missing}"
    for code, (title, detail) in CATALOGUE.items():
        assert chinese(title) and chinese(detail) and detail.endswith("。"), code
    for code in ("validation_failed", "malformed_json", "internal_error", "database_busy", "token_expired"):
        assert code in CATALOGUE


@pytest.mark.parametrize(("header", "language"), [
    ("zh-CN", ZH), ("zh", ZH), ("zh-Hans-CN,zh;q=0.9,en;q=0.8", ZH), ("en-US,en;q=0.9", EN), ("en", EN),
    ("en;q=0.5, zh-CN;q=0.8", ZH), ("zh-CN;q=0.2, en;q=0.9", EN), ("zh;q=0", EN), ("fr-FR", EN), ("", ZH),
    (None, ZH), ("zh;q=abc, en", EN), ("*", ZH), ("fr-FR, *;q=0.1", EN),
])
def test_accept_language_picks_the_language(header, language):
    assert negotiate(header) == language


class Applicant(BaseModel):
    id_number: str = Field(pattern=r"^\d{17}[\dX]$")
    phone: str = Field(max_length=11)
    favourite_colour: int


def app_with_edge(issuer) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.token_verifier = TokenVerifier("cases", "tongban-gateway", jwks_json=issuer.jwks_json)

    @app.post("/applicants")
    async def apply(body: Applicant) -> dict:
        return {}

    @app.get("/mine")
    async def mine(who: Principal = Depends(Requires())) -> dict:
        return {}

    @app.get("/mine/{number}")
    async def one_of_mine(number: str, who: Principal = Depends(Requires())) -> dict:
        raise NotFound(f"nothing numbered {number} here")

    app.add_middleware(EdgeMiddleware, max_body=1000, metrics=Metrics(), service="cases")
    return app


async def test_a_resident_reads_the_problem_in_chinese_and_a_client_keeps_english(token_issuer):
    app = app_with_edge(token_issuer)
    bad = {"id_number": "123", "phone": "1" * 20, "favourite_colour": "blue"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        zh = (await client.post("/applicants", json=bad, headers={"Accept-Language": "zh-CN,zh;q=0.9"})).json()
        en = (await client.post("/applicants", json=bad, headers={"Accept-Language": "en"})).json()
        assert zh["code"] == en["code"] == "validation_failed" and zh["status"] == en["status"] == 422
        assert zh["title"] == "填写有误" and en["title"] == "Invalid request"
        assert [e["field"] for e in zh["errors"]] == [e["field"] for e in en["errors"]] == [
            "id_number", "phone", "favourite_colour"]
        assert [e["label"] for e in zh["errors"]] == ["身份证号码", "手机号码", "favourite_colour"]
        assert zh["detail"] == "身份证号码：格式不正确；手机号码：太长；favourite_colour：应为整数。"
        assert "label" not in en["errors"][0] and "_type" not in en["errors"][0] and "_type" not in zh["errors"][0]
        assert en["detail"].startswith("id_number: String should match pattern")

        r = await client.get("/mine", headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 401 and r.json()["code"] == "unauthorized" and r.json()["title"] == "请先登录"
        expired = token_issuer.mint("citizen", "", ["cases"], ttl=-60)
        r = await client.get("/mine", headers={"Accept-Language": "zh-CN", "Authorization": f"Bearer {expired}"})
        assert r.json()["code"] == "token_expired" and r.json()["title"] == "登录已过期" and "刷新" in r.json()["detail"]
        r = await client.get("/mine", headers={"Accept-Language": "zh-CN", "Authorization": "Bearer x.y.z"})
        assert r.json()["code"] == "invalid_token" and r.json()["title"] == "登录凭证无效"
        r = await client.post("/applicants", content=b"{", headers={"Accept-Language": "zh",
                                                                    "Content-Type": "application/json"})
        assert r.json()["code"] == "malformed_json" and chinese(r.json()["detail"])


async def test_no_accept_language_reads_chinese_for_a_citizen_a_clerk_and_no_one(token_issuer):
    """The rule (messages.DEFAULT): without Accept-Language every caller reads Chinese, a resident,
    a company, the hall's clerk and a caller with no token alike (the language is chosen before the
    token is read); `en` keeps English; the code is the same either way."""
    app = app_with_edge(token_issuer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for role in ("citizen", "company", "clerk"):
            bearer = {"Authorization": f"Bearer {token_issuer.mint(role, '', ['cases'])}"}
            r = await client.get("/mine/X1", headers=bearer)
            assert "accept-language" not in {k.lower() for k in r.request.headers}
            assert r.status_code == 404 and r.json()["code"] == "not_found", role
            assert r.json()["title"] == "未找到" and r.json()["detail"] == "找不到您要的内容。", role
            r = await client.get("/mine/X1", headers={**bearer, "Accept-Language": "en"})
            assert r.json()["code"] == "not_found" and r.json()["detail"] == "nothing numbered X1 here", role
        r = await client.get("/mine")
        assert r.status_code == 401 and r.json()["code"] == "unauthorized" and r.json()["title"] == "请先登录"
        r = await client.get("/mine", headers={"Accept-Language": "en"})
        assert r.json()["code"] == "unauthorized" and not chinese(r.json()["title"])
        r = await client.get("/mine", headers={"Accept-Language": "fr-FR"})
        assert r.json()["code"] == "unauthorized" and not chinese(r.json()["title"])
