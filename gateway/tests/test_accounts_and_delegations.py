"""Citizen self-registration, real-name verification at a counter, staff accounts made by an
admin, and company delegations to agents, carried in the agents' tokens."""

import base64
import datetime as dt
import json

import pytest

from tongban.shared.ids import resident_id_check_digit


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))




def with_check_digit(first17: str) -> str:
    return first17 + resident_id_check_digit(first17)


CITIZEN = {"username": "lily", "password": "Lily#20260", "display_name": "李丽",
           "id_number": with_check_digit("44200019850303111"), "phone": "13700137000"}


async def test_a_citizen_registers_and_a_clerk_verifies_the_real_name(gateway):
    data = {**CITIZEN, "id_number": with_check_digit("44200019950505432")}
    bad = await gateway.client.post("/auth/register", json={**data, "id_number": data["id_number"][:-1] + (
        "0" if data["id_number"][-1] != "0" else "1")})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "id_number"
    r = await gateway.client.post("/auth/register", json=data, headers={"Idempotency-Key": "reg-1"})
    assert r.status_code == 201, r.text
    me = r.json()
    assert me["real_name_level"] == "self_declared" and me["id_number"] == data["id_number"]  # the owner sees it
    again = await gateway.client.post("/auth/register", json=data, headers={"Idempotency-Key": "reg-1"})
    assert again.status_code == 201 and again.json()["id"] == me["id"]
    assert again.headers["idempotent-replayed"] == "true"
    twice = await gateway.client.post("/auth/register", json={**data, "username": "lily2"})
    assert twice.status_code == 409 and twice.json()["code"] == "person_has_account"

    token = await gateway.login("lily", data["password"])
    assert claims_of(token.json()["access_token"])["real_name_level"] == "self_declared"
    citizen = {"Authorization": f"Bearer {token.json()['access_token']}"}
    path = f"/auth/accounts/{me['id']}/real-name-verification"
    assert (await gateway.client.post(path, json={"reason": "ID card"}, headers=citizen)).status_code == 403
    clerk = await gateway.bearer("clerk")
    r = await gateway.client.post(path, json={"reason": "ID card checked at counter 1"}, headers=clerk)
    assert r.status_code == 200, r.text
    assert r.json()["real_name_level"] == "verified_at_counter"
    assert r.json()["id_number"] == data["id_number"][:6] + "********" + data["id_number"][-4:]  # masked for the clerk
    own = await gateway.client.get(f"/auth/accounts/{me['id']}", headers=citizen)
    assert own.json()["id_number"] == data["id_number"] and own.json()["real_name_level"] == "verified_at_counter"
    audit = (await gateway.client.get("/api/v1/gateway/audit-events", params={"entity_id": me["id"]},
                                      headers=await gateway.bearer("admin"))).json()["items"]
    assert audit[0]["action"] == "account.real_name_verified" and audit[0]["reason"] == "ID card checked at counter 1"
    assert audit[0]["detail"]["hall"] == "0b0a4420-0001-4000-8000-000000000001"
    missing = await gateway.client.post("/auth/accounts/00000000-0000-0000-0000-000000000000/real-name-verification",
                                        json={"reason": "x"}, headers=clerk)
    assert missing.status_code == 404


async def test_an_admin_creates_staff_and_lists_accounts_masked(gateway):
    admin = await gateway.bearer("admin")
    clerk = {"username": "clerk2", "password": "Clerk2#2026", "role": "clerk", "display_name": "钱七",
             "hall": "zs-hall-2", "counter": "A03"}
    r = await gateway.client.post("/auth/accounts", json=clerk, headers={**admin, "Idempotency-Key": "c2"})
    assert r.status_code == 201, r.text
    assert r.json()["counter"] == "A03" and "password" not in r.json()
    again = await gateway.client.post("/auth/accounts", json=clerk, headers={**admin, "Idempotency-Key": "c2"})
    assert again.json()["id"] == r.json()["id"]
    bad = await gateway.client.post("/auth/accounts", json={**clerk, "username": "x2", "role": "auditor"},
                                    headers=admin)
    assert bad.status_code == 422  # hall and counter belong only to clerks
    token = claims_of(await gateway.token_for("clerk2", clerk["password"]))
    assert token["hall"] == "zs-hall-2" and token["counter"] == "A03"

    page = (await gateway.client.get("/auth/accounts", params={"limit": 2}, headers=admin)).json()
    assert page["total"] == 6 and len(page["items"]) == 2 and page["next_offset"] == 2
    citizens = (await gateway.client.get("/auth/accounts", params={"role": "citizen"}, headers=admin)).json()
    assert citizens["items"][0]["id_number"] == "442000********1233"
    assert citizens["items"][0]["phone"] == "138****8000"
    assert (await gateway.client.get("/auth/accounts", params={"limit": 0}, headers=admin)).status_code == 422


async def test_the_legal_representative_delegates_items_to_an_agent(gateway):
    admin = await gateway.bearer("admin")
    agent = {"username": "agent1", "password": "Agent1#2026", "role": "company", "company_role": "agent",
             "display_name": "孙八（代办）", "credit_code": "91442000MA4W12346R", "phone": "13600136000"}
    r = await gateway.client.post("/auth/accounts", json=agent, headers=admin)
    assert r.status_code == 201, r.text
    agent_id = r.json()["id"]
    rep = await gateway.bearer("company")
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(microsecond=0)
    body = {"agent_id": agent_id, "items": ["442020000900", "442020000777"], "expires_at": expires.isoformat()}
    r = await gateway.client.post("/auth/delegations", json=body, headers={**rep, "Idempotency-Key": "d1"})
    assert r.status_code == 201, r.text
    delegation = r.json()
    assert delegation["items"] == ["442020000777", "442020000900"]
    past = await gateway.client.post("/auth/delegations", json={**body, "expires_at": "2020-01-01T00:00:00+08:00"},
                                     headers=rep)
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "expires_at"

    agent_token = await gateway.token_for("agent1", agent["password"])
    claims = claims_of(agent_token)
    assert claims["company_role"] == "agent" and claims["credit_code"] == agent["credit_code"]
    assert claims["agent_for"] == {"credit_code": agent["credit_code"], "items": delegation["items"],
                                   "exp": int(expires.timestamp()), "delegations": [delegation["id"]]}
    agent_headers = {"Authorization": f"Bearer {agent_token}"}
    r = await gateway.client.post("/auth/delegations", json={**body, "agent_id": agent_id}, headers=agent_headers)
    assert r.status_code == 403 and r.json()["code"] == "not_legal_representative"
    listed = (await gateway.client.get("/auth/delegations", headers=agent_headers)).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == delegation["id"]

    r = await gateway.client.post(f"/auth/delegations/{delegation['id']}/revoke", json={"reason": "left the firm"},
                                  headers=rep)
    assert r.status_code == 200 and r.json()["revoked_at"]
    again = await gateway.client.post(f"/auth/delegations/{delegation['id']}/revoke", json={"reason": "x"},
                                      headers=rep)
    assert again.status_code == 409
    assert "agent_for" not in claims_of(await gateway.token_for("agent1", agent["password"]))


@pytest.mark.parametrize("field, value", [("phone", "12345"), ("username", "a"), ("password", "short")])
async def test_registration_names_the_bad_field(gateway, field, value):
    r = await gateway.client.post("/auth/register", json={**CITIZEN, field: value})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
