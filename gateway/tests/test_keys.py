"""Signing keys: created once (even by replicas starting together), stored encrypted, kept across
restarts; a wrong or default passphrase keeps the gateway from starting."""

import asyncio

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import ValidationError
from sqlalchemy import func, select

from tongban.gateway.config import Settings
from tongban.gateway.main import create_app
from tongban.gateway.token import service as token_service
from tongban.gateway.token.keys import KeyUnusable
from tongban.gateway.token.models import SigningKey
from tongban.shared.db import make_engine, make_sessionmaker


async def test_the_private_key_is_stored_encrypted(gateway):
    async with gateway.state.sessionmaker() as s:
        (key,) = (await s.execute(select(SigningKey))).scalars().all()
    assert key.kid == gateway.state.keyring.kid and key.algorithm == "ES256" and key.retired_at is None
    assert key.private_pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # no password, no key
        load_pem_private_key(key.private_pem.encode(), password=None)
    assert load_pem_private_key(key.private_pem.encode(), password=b"dev-only-change-me")
    assert "d" not in key.public_jwk


async def test_a_restart_keeps_the_key_and_earlier_tokens_stay_valid(start_gateway):
    async with start_gateway() as first:
        kid = first.state.keyring.kid
        token = await first.token("approver")
    async with start_gateway() as second:
        assert second.state.keyring.kid == kid
        r = await second.client.get("/auth/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["department"] == "11442000MB0000002B"


async def test_a_wrong_passphrase_keeps_the_gateway_from_starting(start_gateway, infra, gateway_db):
    async with start_gateway(key_passphrase="the-first-one"):
        pass
    settings = Settings(database_url=gateway_db, nats_url=infra.nats.url, key_passphrase="another-one",
                        log_level="WARNING")
    app = create_app(settings).app
    with pytest.raises(KeyUnusable, match="GATEWAY_KEY_PASSPHRASE"):
        async with app.router.lifespan_context(app):
            pass


async def test_replicas_starting_together_create_one_key(fresh_db):
    engine = make_engine(fresh_db, 8)
    sessionmaker = make_sessionmaker(engine)

    async def replica() -> str | None:
        async with sessionmaker() as s, s.begin():
            return await token_service.ensure_signing_key(s, b"pass")

    try:
        created = await asyncio.gather(*(replica() for _ in range(6)))
        async with sessionmaker() as s:
            count = (await s.execute(select(func.count()).select_from(SigningKey))).scalar_one()
        assert count == 1 and len([kid for kid in created if kid]) == 1
        ring = await token_service.open_key_ring(sessionmaker, "tongban-gateway", b"pass")
        assert ring.kid == next(kid for kid in created if kid)
    finally:
        await engine.dispose()


async def test_a_new_key_signs_once_loaded_and_the_old_one_still_verifies(gateway):
    ring = gateway.state.keyring
    old_kid = ring.kid
    old_token = await gateway.token("citizen")
    async with gateway.state.sessionmaker() as s, s.begin():
        new_kid = await token_service.add_signing_key(s, b"dev-only-change-me")
    await ring.load(gateway.state.sessionmaker)
    assert ring.kid == new_kid != old_kid
    new_token = await gateway.token("citizen")
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    for token in (old_token, new_token):
        r = await gateway.client.get("/auth/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        r = await gateway.client.get("/api/v1/catalog/echo/x", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    kids = {k["kid"] for k in (await gateway.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert kids == {old_kid, new_kid}


def test_production_refuses_the_development_passphrase(monkeypatch):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql://x@127.0.0.1/gateway")
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="GATEWAY_KEY_PASSPHRASE"):
        Settings()
    monkeypatch.setenv("GATEWAY_KEY_PASSPHRASE", "a real secret from the vault")
    settings = Settings()  # and no JWKS setting is needed: the gateway verifies with its own keys
    assert settings.jwks_url is None and settings.jwks_json is None
    assert settings.upstreams["interop"] == "http://127.0.0.1:8005"
