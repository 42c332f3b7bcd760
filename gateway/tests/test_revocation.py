"""Revocation reaches access tokens at once: a login that ends, a delegation revoked or a client
switched off stops the tokens it produced on the next request, in the process that made the
change, in every other gateway process (by event) and in one started later (from its database)."""

import base64
import datetime as dt
import json

import httpx

from tongban.shared import clock
from tongban.shared.events import bus
from tongban.shared.testing.plugin import wait_for

PING = "/api/v1/catalog/echo/ping"


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def revoked(r: httpx.Response) -> bool:
    if r.status_code != 401:
        return False
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "token_revoked"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    return True


async def refused_everywhere(gateways: list, path: str, headers: dict[str, str]) -> None:
    """Refused by the first gateway (it made the change) at once; by the others once the event
    arrived (milliseconds: polled, never timed)."""
    assert revoked(await gateways[0].client.get(path, headers=headers))
    for other in gateways[1:]:
        async def refused(gw=other) -> bool:
            return revoked(await gw.client.get(path, headers=headers))
        await wait_for(refused, timeout=10)


async def test_a_logout_stops_the_access_token_in_every_gateway_process(start_gateway, upstream):
    async with start_gateway() as one, start_gateway() as two:
        login = (await one.login("citizen")).json()
        other_login = (await one.login("citizen")).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        other = {"Authorization": f"Bearer {other_login['access_token']}"}
        assert claims_of(login["access_token"])["sid"] != claims_of(other_login["access_token"])["sid"]
        for gw in (one, two):  # both have verified (and cached) the token before it is revoked
            assert (await gw.client.get(PING, headers=headers)).status_code == 200
            assert (await gw.client.get("/auth/userinfo", headers=headers)).status_code == 200

        r = await one.client.post("/auth/logout", data={"refresh_token": login["refresh_token"]}, headers=headers)
        assert r.status_code == 204
        await refused_everywhere([one, two], PING, headers)
        assert two.state.denylist_feed.received >= 1  # by the event, not by a re-read of the database
        assert revoked(await two.client.get("/auth/userinfo", headers=headers))  # the gateway's own routes too
        assert (await two.client.get(PING, headers=other)).status_code == 200  # the other login lives on

        # A process that starts after the revocation loads it from the database.
        async with start_gateway() as three:
            assert revoked(await three.client.get(PING, headers=headers))
            assert (await three.client.get(PING, headers=other)).status_code == 200


async def test_revoking_a_delegation_stops_the_agents_tokens_that_carry_it(start_gateway, upstream):
    async with start_gateway() as one, start_gateway() as two:
        admin = await one.bearer("admin")
        agent = {"username": "agent9", "password": "Agent9#2026", "role": "company", "company_role": "agent",
                 "display_name": "代办九", "credit_code": "91442000MA4W12346R", "phone": "13600136009"}
        r = await one.client.post("/auth/accounts", json=agent, headers=admin)
        assert r.status_code == 201, r.text
        rep = await one.bearer("company")
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        r = await one.client.post("/auth/delegations", headers={**rep, "Idempotency-Key": "rv-1"}, json={
            "agent_id": r.json()["id"], "items": ["442020000900"], "expires_at": expires.isoformat()})
        assert r.status_code == 201, r.text
        delegation = r.json()["id"]
        token = await one.token_for("agent9", agent["password"])
        assert [d["id"] for d in claims_of(token)["agent_for"]["delegations"]] == [delegation]
        headers = {"Authorization": f"Bearer {token}"}
        for gw in (one, two):
            assert (await gw.client.get(PING, headers=headers)).status_code == 200

        r = await one.client.post(f"/auth/delegations/{delegation}/revoke", json={"reason": "left the firm"},
                                  headers=rep)
        assert r.status_code == 200, r.text
        await refused_everywhere([one, two], PING, headers)
        # A new token no longer carries the delegation, and passes.
        fresh = await two.token_for("agent9", agent["password"])
        assert "agent_for" not in claims_of(fresh)
        assert (await one.client.get(PING, headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


async def test_a_reused_refresh_token_stops_the_thiefs_and_the_holders_access_tokens(gateway):
    login = (await gateway.login("citizen")).json()
    data = {"grant_type": "refresh_token", "refresh_token": login["refresh_token"]}
    rotated = (await gateway.client.post("/auth/token", data=data)).json()
    headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert (await gateway.client.get(PING, headers=headers)).status_code == 200
    with clock.pinned(clock.now() + dt.timedelta(seconds=11)):  # past the grace window (token/grace.py)
        assert (await gateway.client.post("/auth/token", data=data)).json()["code"] == "invalid_grant"  # reused
    assert revoked(await gateway.client.get(PING, headers=headers))


async def test_a_client_switched_off_loses_its_tokens_at_once(start_gateway, upstream):
    async with start_gateway(interop_url=upstream.url) as gw:
        r = await gw.client.post("/auth/token", data={"grant_type": "client_credentials"},
                                 auth=("shenzhen", "Shenzhen#2026"))
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        path = "/api/v1/interop/anything"
        assert (await gw.client.get(path, headers=headers)).status_code == 404  # reached the service
        admin = await gw.bearer("admin")
        r = await gw.client.post("/auth/clients/shenzhen/deactivate", json={"reason": "key leaked"}, headers=admin)
        assert r.status_code == 200, r.text
        assert revoked(await gw.client.get(path, headers=headers))
        r = await gw.client.post("/auth/clients/shenzhen/activate", json={"reason": "new secret"}, headers=admin)
        assert r.status_code == 200
        assert revoked(await gw.client.get(path, headers=headers))  # switching it back on revives nothing


async def test_an_account_switched_off_loses_its_tokens_and_its_logins(gateway):
    admin = await gateway.bearer("admin")
    me = (await gateway.client.get("/auth/userinfo", headers=admin)).json()["sub"]
    r = await gateway.client.post(f"/auth/accounts/{me}/deactivate", json={"reason": "oops"}, headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "cannot_deactivate_self"

    login = (await gateway.login("citizen")).json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    citizen = (await gateway.client.get("/auth/userinfo", headers=headers)).json()["sub"]
    assert (await gateway.client.get(PING, headers=headers)).status_code == 200
    r = await gateway.client.post(f"/auth/accounts/{citizen}/deactivate", json={"reason": "reported stolen"},
                                  headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert r.json()["id_number"].count("*") > 0  # masked: the admin is not the owner
    assert revoked(await gateway.client.get(PING, headers=headers))
    assert (await gateway.login("citizen")).status_code == 400
    refreshed = await gateway.client.post("/auth/token", data={"grant_type": "refresh_token",
                                                               "refresh_token": login["refresh_token"]})
    assert refreshed.status_code == 400

    r = await gateway.client.post(f"/auth/accounts/{citizen}/activate", json={"reason": "card found"}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is True
    assert revoked(await gateway.client.get(PING, headers=headers))  # old tokens stay refused
    events = (await gateway.client.get("/api/v1/gateway/audit-events", params={"entity_id": citizen},
                                       headers=admin))
    assert events.status_code == 200, events.text
    actions = {e["action"] for e in events.json()["items"]}
    assert {"account.deactivated", "account.activated"} <= actions


async def test_the_gateway_stream_keeps_revocations_for_a_day_only(gateway, infra):
    nc = await bus.connect(infra.nats.url, "test-stream-info")
    try:
        info = await nc.jetstream().stream_info("GATEWAY")
        assert info.config.max_age == 86_400 and info.config.subjects == ["gateway.>"]
    finally:
        await nc.close()
