"""Refresh tokens (rotating, hashed, a family revoked on reuse), logout and revocation (RFC 7009),
partner systems' client credentials, and signing-key rotation across replicas."""

import base64
import datetime as dt
import hashlib
import json

import jwt
from sqlalchemy import select

from tongban.gateway.token import service as token_service
from tongban.shared import clock
from tongban.gateway.token.models import RefreshToken

FORM = "application/x-www-form-urlencoded"


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


async def refresh(gateway, token: str):
    return await gateway.client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": token})


async def family(gateway, family_id) -> list[RefreshToken]:
    async with gateway.state.sessionmaker() as s:
        stmt = select(RefreshToken).where(RefreshToken.family_id == family_id).order_by(RefreshToken.created_at)
        return list((await s.execute(stmt)).scalars())


async def test_refresh_rotates_and_a_reused_token_ends_the_whole_login(gateway):
    first = (await gateway.login("citizen")).json()
    r1 = first["refresh_token"]
    second = await refresh(gateway, r1)
    assert second.status_code == 200, second.text
    r2 = second.json()["refresh_token"]
    assert r2 != r1 and claims_of(second.json()["access_token"])["role"] == "citizen"
    async with gateway.state.sessionmaker() as s:
        stored = (await s.execute(select(RefreshToken))).scalars().all()
    assert {t.token_hash for t in stored} == {hashlib.sha256(r.encode()).hexdigest() for r in (r1, r2)}
    assert len({t.family_id for t in stored}) == 1

    with clock.pinned(clock.now() + dt.timedelta(seconds=11)):  # past the grace window (token/grace.py)
        reused = await refresh(gateway, r1)  # someone replays the rotated token
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert "already used" in reused.json()["detail"]
    dead = await refresh(gateway, r2)  # and the legitimate newest token is dead with it
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    tokens = await family(gateway, stored[0].family_id)
    assert len(tokens) == 2 and all(t.revoked_at is not None for t in tokens)

    widened = await refresh(gateway, (await gateway.login("citizen", scope="catalog:read")).json()["refresh_token"])
    assert widened.status_code == 200 and widened.json()["scope"] == "catalog:read"


async def test_revocation_and_logout_end_logins(gateway):
    login = (await gateway.login("clerk")).json()
    r = await gateway.client.post("/auth/revoke", data={"token": login["refresh_token"]})
    assert r.status_code == 200
    assert (await refresh(gateway, login["refresh_token"])).status_code == 400
    assert (await gateway.client.post("/auth/revoke", data={"token": "never-issued"})).status_code == 200
    assert (await gateway.client.post("/auth/revoke", data={})).status_code == 400

    a, b = (await gateway.login("clerk")).json(), (await gateway.login("clerk")).json()
    headers = {"Authorization": f"Bearer {a['access_token']}"}
    r = await gateway.client.post("/auth/logout", data={"refresh_token": a["refresh_token"]}, headers=headers)
    assert r.status_code == 204
    assert (await refresh(gateway, a["refresh_token"])).status_code == 400
    assert (await refresh(gateway, b["refresh_token"])).status_code == 200  # the other login lives on
    # The access token of the login that ended is refused at once, not when it expires.
    r = await gateway.client.post("/auth/logout", headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"
    c = (await gateway.login("clerk")).json()
    c_headers = {"Authorization": f"Bearer {c['access_token']}"}
    assert (await gateway.client.post("/auth/logout", headers=c_headers)).status_code == 204  # everywhere
    assert (await refresh(gateway, c["refresh_token"])).status_code == 400
    assert (await gateway.client.get("/auth/userinfo", headers=c_headers)).json()["code"] == "token_revoked"
    assert (await gateway.client.post("/auth/logout")).status_code == 401


async def test_a_partner_system_gets_an_interop_token_with_its_region(gateway):
    r = await gateway.client.post("/auth/token", data={"grant_type": "client_credentials"},
                                  auth=("shenzhen", "Shenzhen#2026"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body and body["scope"] == "interop:exchange interop:verify"
    claims = claims_of(body["access_token"])
    assert claims["aud"] == ["interop"] and claims["role"] == "partner" and claims["partner"] == "440300"
    assert claims["sub"] == "client:shenzhen"
    principal = await gateway.state.keyring.verify(body["access_token"], "interop")
    assert principal.partner == "440300" and principal.has("interop:exchange")

    in_form = await gateway.client.post("/auth/token", data={
        "grant_type": "client_credentials", "client_id": "shenzhen", "client_secret": "Shenzhen#2026",
        "scope": "interop:verify"})
    assert in_form.status_code == 200 and in_form.json()["scope"] == "interop:verify"
    wrong = await gateway.client.post("/auth/token", data={"grant_type": "client_credentials"},
                                      auth=("shenzhen", "guess"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    unknown = await gateway.client.post("/auth/token", data={"grant_type": "client_credentials"}, auth=("x", "y"))
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    wider = await gateway.client.post("/auth/token", data={"grant_type": "client_credentials",
                                                           "scope": "catalog:write"}, auth=("shenzhen", "Shenzhen#2026"))
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


async def test_key_rotation_keeps_old_tokens_valid_until_the_old_key_is_retired(gateway):
    ring = gateway.state.keyring
    old_kid = ring.kid
    old_token = await gateway.token("citizen")
    # A second replica, started before the rotation, with its own copy of the keys.
    settings = gateway.state.settings
    replica = await token_service.open_key_ring(gateway.state.sessionmaker, settings.token_issuer,
                                                settings.key_passphrase.get_secret_value().encode())
    admin = await gateway.bearer("admin")
    r = await gateway.client.post("/auth/signing-keys", json={"reason": "yearly rotation"}, headers=admin)
    assert r.status_code == 201, r.text
    new_kid = r.json()["kid"]
    assert new_kid != old_kid and r.json()["signing"] is True
    jwks = (await gateway.client.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
    new_token = await gateway.token("citizen")
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    for token in (old_token, new_token):
        assert (await gateway.client.get("/auth/userinfo", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    # The other replica meets the new kid and reloads its keys.
    assert (await replica.verify(new_token, "catalog")).role == "citizen"
    assert replica.kid == new_kid

    r = await gateway.client.post(f"/auth/signing-keys/{new_kid}/retire", json={"reason": "x"}, headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "signing_key_in_use"
    r = await gateway.client.post(f"/auth/signing-keys/{old_kid}/retire", json={"reason": "rolled over"},
                                  headers=admin)
    assert r.status_code == 204
    assert [k["kid"] for k in (await gateway.client.get("/.well-known/jwks.json")).json()["keys"]] == [new_kid]
    r = await gateway.client.get("/auth/userinfo", headers={"Authorization": f"Bearer {old_token}"})
    assert r.status_code == 401
    # The admin's own token was signed by the retired key too: a fresh one, from the new key.
    audit = (await gateway.client.get("/api/v1/gateway/audit-events", params={"entity": "signing_key"},
                                      headers=await gateway.bearer("admin"))).json()
    assert [e["action"] for e in audit["items"]][:2] == ["signing_key.retired", "signing_key.created"]
