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


async def test_registration_tells_nobody_what_is_taken(gateway):
    data = {**CITIZEN, "id_number": with_check_digit("44200019950505432")}
    bad = await gateway.client.post("/auth/register", json={**data, "id_number": data["id_number"][:-1] + (
        "0" if data["id_number"][-1] != "0" else "1")})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "id_number"
    r = await gateway.client.post("/auth/register", json=data, headers={"Idempotency-Key": "reg-1"})
    assert r.status_code == 202, r.text
    again = await gateway.client.post("/auth/register", json=data, headers={"Idempotency-Key": "reg-1"})
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    # The same ID number under another username, and the same username again: the same answer.
    same_person = await gateway.client.post("/auth/register", json={**data, "username": "lily2",
                                                                    "password": "Squat#20260"})
    same_name = await gateway.client.post("/auth/register", json={**data, "id_number": CITIZEN["id_number"],
                                                                  "password": "Other#20260"})
    assert {r.status_code, same_person.status_code, same_name.status_code} == {202}
    assert r.json() == same_person.json() == same_name.json()
    assert (await gateway.login("lily", "Other#20260")).status_code == 400  # the taken name stayed its owner's

    token = await gateway.login("lily", data["password"])
    assert claims_of(token.json()["access_token"])["real_name_level"] == "self_declared"
    citizen = {"Authorization": f"Bearer {token.json()['access_token']}"}
    me = (await gateway.client.get("/auth/userinfo", headers=citizen)).json()["sub"]
    path = f"/auth/accounts/{me}/real-name-verification"
    assert (await gateway.client.post(path, json={"reason": "ID card"}, headers=citizen)).status_code == 403
    clerk = await gateway.bearer("clerk")
    r = await gateway.client.post(path, json={"reason": "ID card checked at counter 1"}, headers=clerk)
    assert r.status_code == 200, r.text
    assert r.json()["real_name_level"] == "counter_verified"
    assert r.json()["id_number"] == data["id_number"][:6] + "********" + data["id_number"][-4:]  # masked for the clerk
    own = await gateway.client.get(f"/auth/accounts/{me}", headers=citizen)
    assert own.json()["id_number"] == data["id_number"] and own.json()["real_name_level"] == "counter_verified"
    # The squatter who only declared the same ID number is switched off: its login fails.
    assert (await gateway.login("lily2", "Squat#20260")).status_code == 400
    audit = (await gateway.client.get("/api/v1/gateway/audit-events", params={"entity_id": me},
                                      headers=await gateway.bearer("admin"))).json()["items"]
    assert audit[0]["action"] == "account.real_name_verified" and "ID card checked at counter 1" in audit[0]["reason"]
    missing = await gateway.client.post("/auth/accounts/00000000-0000-0000-0000-000000000000/real-name-verification",
                                        json={"reason": "x"}, headers=clerk)
    assert missing.status_code == 404


async def test_a_real_name_provider_answer_verifies_once(gateway):
    data = {**CITIZEN, "username": "mei", "id_number": with_check_digit("44200019600606222")}
    assert (await gateway.client.post("/auth/register", json=data)).status_code == 202
    citizen = {"Authorization": f"Bearer {await gateway.token_for('mei', data['password'])}"}
    check = {"id_number": data["id_number"], "name": "李梅", "face_image": "aGVsbG8="}
    answer = (await gateway.client.post("/auth/real-name/local-provider/checks", json=check)).json()
    forged = answer["answer"][:-4] + ("AAAA" if not answer["answer"].endswith("AAAA") else "BBBB")
    r = await gateway.client.post("/auth/real-name/verifications", json={"provider": "local", "answer": forged},
                                  headers=citizen)
    assert r.status_code == 422 and r.json()["code"] == "invalid_provider_answer"
    other = (await gateway.client.post("/auth/real-name/local-provider/checks",
                                       json={**check, "id_number": CITIZEN["id_number"]})).json()
    r = await gateway.client.post("/auth/real-name/verifications", json=other, headers=citizen)
    assert r.status_code == 422 and r.json()["code"] == "answer_for_another_person"
    r = await gateway.client.post("/auth/real-name/verifications", json=answer, headers=citizen)
    assert r.status_code == 200, r.text
    assert r.json()["real_name_level"] == "verified" and r.json()["display_name"] == "李梅"
    again = await gateway.client.post("/auth/real-name/verifications", json=answer, headers=citizen)
    assert again.status_code == 409 and again.json()["code"] == "provider_answer_used"
    assert claims_of(await gateway.token_for("mei", data["password"]))["real_name_level"] == "verified"


async def test_a_verified_citizen_delegates_to_her_daughter_and_staff_scope_travels(gateway):
    mum = {**CITIZEN, "username": "mum", "id_number": with_check_digit("44200019500101222")}
    girl = {**CITIZEN, "username": "girl", "id_number": with_check_digit("44200019800101333")}
    for person in (mum, girl):
        assert (await gateway.client.post("/auth/register", json=person)).status_code == 202
    mum_headers = {"Authorization": f"Bearer {await gateway.token_for('mum', mum['password'])}"}
    girl_id = claims_of(await gateway.token_for("girl", girl["password"]))["sub"]
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(microsecond=0)
    body = {"agent_id": girl_id, "items": ["442020000900"], "actions": ["read", "apply"],
            "expires_at": expires.isoformat()}
    r = await gateway.client.post("/auth/delegations", json=body, headers=mum_headers)
    assert r.status_code == 403 and r.json()["code"] == "real_name_required"  # not verified yet
    check = {"id_number": mum["id_number"], "name": "妈妈", "face_image": "eA=="}
    answer = (await gateway.client.post("/auth/real-name/local-provider/checks", json=check)).json()
    assert (await gateway.client.post("/auth/real-name/verifications", json=answer,
                                      headers=mum_headers)).status_code == 200
    mum_headers = {"Authorization": f"Bearer {await gateway.token_for('mum', mum['password'])}"}
    r = await gateway.client.post("/auth/delegations", json={**body, "actions": ["fly"]}, headers=mum_headers)
    assert r.status_code == 422
    r = await gateway.client.post("/auth/delegations", json=body, headers=mum_headers)
    assert r.status_code == 201, r.text
    assert (r.json()["principal_kind"], r.json()["granted_via"]) == ("person", "online")
    agent_for = claims_of(await gateway.token_for("girl", girl["password"]))["agent_for"]
    assert agent_for == {"kind": "person", "id_number": mum["id_number"], "name": "妈妈", "delegations": [
        {"id": r.json()["id"], "items": ["442020000900"], "actions": ["apply", "read"],
         "until": dt.datetime.fromisoformat(r.json()["expires_at"]).isoformat()}]}

    # At a counter: a clerk witnesses a written 委托书 for a company, which needs the document.
    clerk = await gateway.bearer("clerk")
    witnessed = {**body, "principal_kind": "person", "principal_id": with_check_digit("44200019400101111"),
                 "principal_name": "外婆"}
    assert (await gateway.client.post("/auth/delegations/witnessed", json=witnessed, headers=clerk)).status_code == 422
    r = await gateway.client.post("/auth/delegations/witnessed", json={**witnessed, "document_ref": "WT-2026-001"},
                                  headers=clerk)
    assert r.status_code == 201 and r.json()["granted_via"] == "counter" and r.json()["document_ref"] == "WT-2026-001"

    admin = await gateway.bearer("admin")
    accounts = (await gateway.client.get("/auth/accounts", params={"role": "clerk"}, headers=admin)).json()
    clerk_id = accounts["items"][0]["id"]
    r = await gateway.client.put(f"/auth/accounts/{clerk_id}/scope", headers=admin,
                                 json={"halls": ["H1", "H2"], "departments": ["D1"], "reason": "moved"})
    assert r.status_code == 200 and r.json()["halls"] == ["H1", "H2"]
    assert (await gateway.client.get("/auth/userinfo", headers=clerk)).json()["code"] == "token_revoked"
    claims = claims_of(await gateway.token_for("clerk", "Clerk#2026"))
    assert (claims["halls"], claims["departments"]) == (["H1", "H2"], ["D1"])


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
    assert claims["agent_for"] == {"kind": "company", "credit_code": agent["credit_code"], "name": "李四（中山市通办科技有限公司）",
                                   "delegations": [{"id": delegation["id"], "items": delegation["items"],
                                                    "actions": ["apply", "read"],
                                                    "until": dt.datetime.fromisoformat(delegation["expires_at"])
                                                    .isoformat()}]}
    agent_headers = {"Authorization": f"Bearer {agent_token}"}
    r = await gateway.client.post("/auth/delegations", json={**body, "agent_id": agent_id}, headers=agent_headers)
    assert r.status_code == 403 and r.json()["code"] == "outside_delegation"  # an agent acts only within its delegations
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
