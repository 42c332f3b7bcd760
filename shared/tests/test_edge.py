"""The platform's edge (EdgeMiddleware): every answer carries its request id, metrics count the
status sent, one JSON access-log line per request, and nothing escapes as a plain-text traceback."""

import json
import socket

import httpx
import pytest
from fastapi import Depends, FastAPI
from prometheus_client import generate_latest
from pydantic import SecretStr, model_validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tongban.shared.auth import Principal, Requires, TokenVerifier
from tongban.shared.config import ServiceSettings, load_settings, secret_or_dev, service_config
from tongban.shared.errors import install_error_handlers
from tongban.shared.ids import resident_id_check_digit
from tongban.shared.logging import configure_logging, mask_subject
from tongban.shared.metrics import Metrics
from tongban.shared.service import EdgeMiddleware

PID = "44200019900101123" + resident_id_check_digit("44200019900101123")


def _unreachable_engine():  # noqa: ANN202
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return create_async_engine(f"postgresql+asyncpg://u:p@127.0.0.1:{port}/x", pool_size=1)


def _app(engine, metrics: Metrics, issuer) -> FastAPI:  # noqa: ANN001
    app = FastAPI()
    install_error_handlers(app)
    app.state.token_verifier = TokenVerifier("cases", "tongban-gateway", jwks_json=issuer.jwks_json)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str, who: Principal = Depends(Requires())) -> dict:
        async with engine.connect() as conn:
            return {"one": (await conn.execute(text("SELECT 1"))).scalar()}

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError(f"bug while handling {PID}")

    @app.get("/fine")
    async def fine() -> dict:
        return {"ok": True}

    app.add_middleware(EdgeMiddleware, max_body=1000, metrics=metrics, service="cases")
    return app


async def _get(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=headers)


def _lines(err: str) -> list[dict]:
    lines = [line for line in err.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is JSON: no plain-text traceback


def _count(metrics: Metrics, route: str, status: str) -> float:
    value = metrics.registry.get_sample_value("http_requests_total", {"method": "GET", "route": route,
                                                                      "status": status})
    return value or 0.0


async def test_database_unavailable_carries_request_id_counts_503_and_logs_json(token_issuer, capsys):
    configure_logging("cases", "INFO")
    engine, metrics = _unreachable_engine(), Metrics()
    token = token_issuer.mint("citizen", "cases:read", ["cases"], sub=f"citizen:{PID}")
    try:
        resp = await _get(_app(engine, metrics, token_issuer), "/things/1", authorization=f"Bearer {token}",
                          **{"x-request-id": "req-db-1"})
    finally:
        await engine.dispose()
    assert resp.status_code == 503
    assert resp.headers["x-request-id"] == "req-db-1"
    assert resp.json()["request_id"] == "req-db-1" and resp.json()["code"] == "database_unavailable"
    assert resp.headers["retry-after"] == "1"
    assert _count(metrics, "/things/{thing_id}", "503") == 1
    assert _count(metrics, "/things/{thing_id}", "500") == 0
    lines = _lines(capsys.readouterr().err)
    access = [e for e in lines if e["logger"] == "tongban.access"]
    assert len(access) == 1
    assert {k: access[0][k] for k in ("method", "route", "status", "request_id")} == {
        "method": "GET", "route": "/things/{thing_id}", "status": 503, "request_id": "req-db-1"}
    assert access[0]["duration_ms"] >= 0
    assert access[0]["subject"] == mask_subject(f"citizen:{PID}") and PID not in json.dumps(lines)


async def test_uncaught_exception_is_one_masked_json_line_and_a_500_with_request_id(token_issuer, capsys):
    configure_logging("cases", "INFO")
    metrics = Metrics()
    resp = await _get(_app(None, metrics, token_issuer), "/boom")
    assert resp.status_code == 500 and resp.json()["code"] == "internal_error"
    rid = resp.headers["x-request-id"]
    assert resp.json()["request_id"] == rid
    assert _count(metrics, "/boom", "500") == 1
    lines = _lines(capsys.readouterr().err)
    errors = [e for e in lines if e["level"] == "error"]
    assert len(errors) == 1 and errors[0]["request_id"] == rid
    assert "RuntimeError" in errors[0]["exception"] and PID not in errors[0]["exception"]
    access = [e for e in lines if e["logger"] == "tongban.access"]
    assert access[0]["status"] == 500 and access[0]["subject"] is None


async def test_access_log_follows_the_log_level(token_issuer, capsys):
    configure_logging("cases", "WARNING")
    resp = await _get(_app(None, Metrics(), token_issuer), "/fine")
    assert resp.status_code == 200 and resp.headers["x-request-id"]
    assert not [e for e in _lines(capsys.readouterr().err) if e["logger"] == "tongban.access"]


def test_metrics_text_has_the_status_sent():
    metrics = Metrics()
    metrics.observe("GET", "/x", 503, 0.01)
    assert b'status="503"' in generate_latest(metrics.registry)


class _Settings(ServiceSettings):
    model_config = service_config("EDGETEST_")
    key_passphrase: SecretStr | None = None

    @model_validator(mode="after")
    def _secret(self) -> "_Settings":
        self.key_passphrase = secret_or_dev(self.key_passphrase, "EDGETEST_KEY_PASSPHRASE", "dev-value")
        return self


def test_a_missing_secret_stops_the_service_outside_development(monkeypatch):
    monkeypatch.delenv("TONGBAN_ENV", raising=False)
    monkeypatch.delenv("EDGETEST_KEY_PASSPHRASE", raising=False)
    with pytest.raises(SystemExit) as stopped:
        load_settings(_Settings, "edgetest", database_url="postgresql://x/y", jwks_json="{}")
    assert "EDGETEST_KEY_PASSPHRASE" in str(stopped.value) and "TONGBAN_ENV=development" in str(stopped.value)
    monkeypatch.setenv("TONGBAN_ENV", "production")
    with pytest.raises(SystemExit):
        load_settings(_Settings, "edgetest", database_url="postgresql://x/y", jwks_json="{}")
    monkeypatch.setenv("EDGETEST_KEY_PASSPHRASE", "from-the-environment")
    got = load_settings(_Settings, "edgetest", database_url="postgresql://x/y", jwks_json="{}")
    assert got.key_passphrase.get_secret_value() == "from-the-environment"


def test_development_defaults_only_when_said_explicitly(monkeypatch):
    monkeypatch.delenv("EDGETEST_KEY_PASSPHRASE", raising=False)
    monkeypatch.setenv("TONGBAN_ENV", "development")
    got = load_settings(_Settings, "edgetest", database_url="postgresql://x/y", jwks_json="{}")
    assert got.key_passphrase.get_secret_value() == "dev-value"
