"""Who may act for whom, end to end through the gateway (issue 16): real-name levels, a
daughter's delegation from her mother, a company agent's delegation, and staff scope. Every
process is real: gateway, svc-catalog and svc-cases under uvicorn, tokens verified by each.

(Licences, consent and the partner's holder access are svc-credentials' part of the story.)"""

import datetime as dt

import httpx
import pytest
from tongban.cases.main import SERVICE as CASES
from tongban.catalog.main import SERVICE as CATALOG
from tongban.gateway import seed as gateway_seed
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit
from tongban.shared.testing.plugin import platform_processes, wait_for

D1 = "11442000MB0000002B"                                       # the seeded approver's department
D2 = "11442000MB0000003" + credit_code_check_char("11442000MB0000003")
COMPANY = "91442000MA4W12346R"                                  # the seeded company
X1, X2, Y = "442020000901", "442020000902", "442020000903"     # items of D1, D1 and D2
MUM = "44200019480808222" + resident_id_check_digit("44200019480808222")
GIRL = "44200019780707333" + resident_id_check_digit("44200019780707333")


@pytest.fixture
async def gateway_url(infra, clean_nats, tmp_path):
    urls = {d.name: infra.fresh_database(d) for d in (GATEWAY, CATALOG, CASES)}
    engine = make_engine(urls["gateway"], 2)
    await gateway_seed.seed(make_sessionmaker(engine))
    await engine.dispose()
    async with platform_processes(infra, [GATEWAY, CATALOG, CASES], urls, tmp_path) as at:
        yield at["gateway"]


class Desk:
    """A client of the gateway that logs people in and keeps their headers."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def login(self, username: str, password: str) -> dict[str, str]:
        r = await self.client.post("/auth/token", data={"grant_type": "password", "username": username,
                                                        "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def register_and_verify(self, username: str, id_number: str, name: str, verify: bool = True):
        person = {"username": username, "password": f"{username.title()}#2026x", "display_name": name,
                  "id_number": id_number, "phone": "13700137000"}
        assert (await self.client.post("/auth/register", json=person)).status_code == 202
        headers = await self.login(username, person["password"])
        if verify:
            await self.verify(headers, id_number, name)
            headers = await self.login(username, person["password"])  # the new token says `verified`
        return headers, person["password"]

    async def verify(self, headers: dict[str, str], id_number: str, name: str) -> None:
        answer = (await self.client.post("/auth/real-name/local-provider/checks", json={
            "id_number": id_number, "name": name, "face_image": "ZmFjZQ=="})).json()
        r = await self.client.post("/auth/real-name/verifications", json=answer, headers=headers)
        assert r.status_code == 200 and r.json()["real_name_level"] == "verified", r.text

    async def account(self, admin: dict[str, str], **fields) -> str:
        r = await self.client.post("/auth/accounts", json=fields, headers=admin)
        assert r.status_code == 201, r.text
        return r.json()["id"]


def until(days: int = 30) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(microsecond=0).isoformat()


async def test_who_may_act_for_whom(gateway_url):
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=gateway_url, timeout=15) as client:
        desk = Desk(client)
        admin = await desk.login("admin", "Admin#2026")
        for code, dept in ((X1, D1), (X2, D1), (Y, D2)):
            r = await client.post("/api/v1/catalog/items", headers=admin, json={
                "basic_code": code, "name": f"事项 {code}", "exercise_level": 4, "case_type": "promised",
                "promised_limit": 5, "promised_limit_unit": "working_day", "implementing_body_credit_code": dept})
            assert r.status_code == 201, r.text
            if r.json().get("status") != "published":
                assert (await client.post(f"/api/v1/catalog/items/{r.json()['id']}/publish",
                                          headers=admin)).status_code == 200

        async def copied():
            page = (await client.get("/api/v1/cases/items", params={"limit": 100})).json()
            return {i["basic_code"] for i in page["items"]} >= {X1, X2, Y} or None

        await wait_for(copied, timeout=20)
        for username, hall in (("clerk_a", "hall-a"), ("clerk_b", "hall-b")):
            await desk.account(admin, username=username, password="Clerk#2026x", role="clerk",
                               display_name=username, hall=hall, departments=[D1, D2])
        await desk.account(admin, username="approver_2", password="Approver#2026x", role="approver",
                           display_name="审批二", department=D2)
        clerk_a = await desk.login("clerk_a", "Clerk#2026x")
        clerk_b = await desk.login("clerk_b", "Clerk#2026x")

        # A case keyed by the mother's ID number, taken at hall A's counter.
        r = await client.post("/api/v1/cases/cases", headers=clerk_a, json={
            "basic_code": X1, "applicant": {"type": "person", "id": MUM, "name": "王妈妈"}})
        assert r.status_code == 201, r.text
        counter_case = r.json()
        assert (counter_case["hall"], counter_case["department"]) == ("hall-a", D1)

        # 1. Registered online she sees none of it; verified through the provider she does.
        mum, mum_password = await desk.register_and_verify("mum", MUM, "王妈妈", verify=False)
        r = await client.get("/api/v1/cases/cases", headers=mum)
        assert r.status_code == 403 and r.json()["code"] == "real_name_required"
        assert "verif" in r.json()["detail"]
        r = await client.get(f"/api/v1/cases/cases/{counter_case['id']}", headers=mum)
        assert r.json()["code"] == "real_name_required"
        await desk.verify(mum, MUM, "王妈妈")
        mum = await desk.login("mum", mum_password)
        mine = (await client.get("/api/v1/cases/cases", headers=mum)).json()
        assert [c["id"] for c in mine["items"]] == [counter_case["id"]]

        # 2. Her daughter, under a delegation for X1, applies for it in her mother's name.
        girl, girl_password = await desk.register_and_verify("girl", GIRL, "王女儿")
        girl_id = (await client.get("/auth/userinfo", headers=girl)).json()["sub"]
        r = await client.post("/auth/delegations", headers=mum, json={
            "agent_id": girl_id, "items": [X1], "actions": ["read", "apply"], "expires_at": until()})
        assert r.status_code == 201, r.text
        delegation = r.json()["id"]
        girl = await desk.login("girl", girl_password)
        for_mum = {"type": "person", "id": MUM, "name": "王妈妈"}
        r = await client.post("/api/v1/cases/cases", headers=girl, json={"basic_code": X1, "applicant": for_mum})
        assert r.status_code == 201, r.text
        applied = r.json()
        assert (applied["applicant_id"], applied["submitted_by"], applied["delegation_id"]) == (MUM, girl_id,
                                                                                              delegation)
        # ... cannot apply for another item, nor for someone who never delegated to her.
        r = await client.post("/api/v1/cases/cases", headers=girl, json={"basic_code": X2, "applicant": for_mum})
        assert r.status_code == 403 and r.json()["code"] == "outside_delegation"
        r = await client.post("/api/v1/cases/cases", headers=girl, json={
            "basic_code": X1, "applicant": {"type": "person", "id": COMPANY_PERSON, "name": "别人"}})
        assert r.status_code == 403 and r.json()["code"] == "outside_delegation"
        # The mother sees what was done in her name: the case, and who did it under which delegation.
        assert {c["id"] for c in (await client.get("/api/v1/cases/cases", headers=mum)).json()["items"]} == {
            counter_case["id"], applied["id"]}
        [entry] = (await client.get(f"/api/v1/cases/cases/{applied['id']}/timeline", headers=mum)).json()["items"]
        assert (entry["actor"], entry["principal"], entry["delegation_id"]) == (girl_id, MUM, delegation)
        # The daughter sees her mother's X1 cases, masked nowhere (she acts for her), and only those.
        seen = (await client.get("/api/v1/cases/cases", headers=girl)).json()["items"]
        assert {c["id"] for c in seen} == {counter_case["id"], applied["id"]}
        # Revoked: refused on her very next call.
        r = await client.post(f"/auth/delegations/{delegation}/revoke", headers=mum, json={"reason": "不再需要"})
        assert r.status_code == 200, r.text
        r = await client.get(f"/api/v1/cases/cases/{applied['id']}", headers=girl)
        assert r.status_code == 401 and r.json()["code"] == "token_revoked"
        girl = await desk.login("girl", girl_password)
        assert (await client.get(f"/api/v1/cases/cases/{applied['id']}", headers=girl)).status_code == 404

        # 3. A company agent is not the company: without a delegation it sees nothing of it.
        rep = await desk.login("company", "Company#2026")
        r = await client.post("/api/v1/cases/cases", headers=rep, json={"basic_code": X1})
        assert r.status_code == 201, r.text
        agent_id = await desk.account(admin, username="agent_y", password="Agent#2026x", role="company",
                                      company_role="agent", display_name="代办小李", credit_code=COMPANY,
                                      phone="13600136000")
        agent = await desk.login("agent_y", "Agent#2026x")
        r = await client.get("/api/v1/cases/cases", headers=agent)
        assert r.status_code == 403 and r.json()["code"] == "outside_delegation"
        r = await client.post("/auth/delegations", headers=rep, json={
            "agent_id": agent_id, "items": [Y], "actions": ["read", "apply"], "expires_at": until()})
        assert r.status_code == 201, r.text
        agent = await desk.login("agent_y", "Agent#2026x")
        r = await client.post("/api/v1/cases/cases", headers=agent, json={"basic_code": Y})
        assert r.status_code == 201 and r.json()["applicant_id"] == COMPANY, r.text
        company_y = r.json()
        r = await client.post("/api/v1/cases/cases", headers=agent, json={"basic_code": X1})
        assert r.status_code == 403 and r.json()["code"] == "outside_delegation"
        assert [c["id"] for c in (await client.get("/api/v1/cases/cases", headers=agent)).json()["items"]] == [
            company_y["id"]]  # the company's X1 case stays out of its reach

        # 4. Staff scope: hall B's clerk cannot act on hall A's counter case; department 2's
        # approver cannot see department 1's case. Both refusals are in svc-cases' audit trail.
        r = await client.post(f"/api/v1/cases/cases/{counter_case['id']}/accept", headers=clerk_b)
        assert r.status_code == 403 and r.json()["code"] == "outside_scope"
        assert (await client.post(f"/api/v1/cases/cases/{counter_case['id']}/accept",
                                  headers=clerk_a)).json()["state"] == "accepted"
        approver_2 = await desk.login("approver_2", "Approver#2026x")
        r = await client.get(f"/api/v1/cases/cases/{counter_case['id']}", headers=approver_2)
        assert r.status_code == 403 and r.json()["code"] == "outside_scope"
        assert (await client.get(f"/api/v1/cases/cases/{company_y['id']}", headers=approver_2)).status_code == 200
        audit = (await client.get("/api/v1/cases/audit-events", headers=admin,
                                  params={"entity": "route", "limit": 50})).json()["items"]
        refused = {(e["actor_role"], e["reason"]) for e in audit if e["action"] == "policy.refused"}
        assert {("clerk", "outside_scope"), ("approver", "outside_scope"), ("company", "outside_delegation"),
                ("citizen", "outside_delegation")} <= refused


# Someone who delegated nothing to anyone (a valid ID number all the same).
COMPANY_PERSON = "44200019700101444" + resident_id_check_digit("44200019700101444")


# --- svc-credentials' part: licences follow the real name; a counter consent needs a real case ----

SEEDED_CITIZEN = "442000199001011233"     # the holder of svc-credentials' demo licences


@pytest.fixture
async def with_credentials(infra, clean_nats, tmp_path, monkeypatch):
    """Gateway, svc-cases and svc-credentials as processes; svc-credentials seeded with the demo
    licences and able to ask svc-cases about a case as itself (its service client)."""
    from tongban.credentials import seed as credentials_seed
    from tongban.credentials.main import SERVICE as CREDENTIALS

    definitions = [GATEWAY, CASES, CREDENTIALS]
    urls = {d.name: infra.fresh_database(d) for d in definitions}
    keys = {"CREDENTIALS_KEY_DIR": str(tmp_path / "keys"), "CREDENTIALS_KEY_PASSPHRASE": "story-passphrase"}
    for k, v in keys.items():
        monkeypatch.setenv(k, v)
    engine = make_engine(urls["gateway"], 2)
    await gateway_seed.seed(make_sessionmaker(engine))
    await gateway_seed.seed_service_clients(make_sessionmaker(engine), {"credentials": "story-client-secret"})
    await engine.dispose()
    engine = make_engine(urls["credentials"], 2)
    await credentials_seed.seed(make_sessionmaker(engine))
    await engine.dispose()

    def credentials_env(name: str, at: dict[str, str]) -> dict[str, str]:
        if name != "credentials":
            return {}
        return keys | {"CREDENTIALS_CASES_URL": at["cases"], "CREDENTIALS_TOKEN_URL": f"{at['gateway']}/auth/token",
                       "CREDENTIALS_SERVICE_CLIENT_ID": "svc-credentials",
                       "CREDENTIALS_SERVICE_CLIENT_SECRET": "story-client-secret"}

    async with platform_processes(infra, definitions, urls, tmp_path, extra=credentials_env) as at:
        yield at["gateway"]


async def test_licences_follow_the_real_name_and_a_counter_consent_needs_a_real_case(with_credentials):
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=with_credentials, timeout=15) as client:
        desk = Desk(client)
        # Anyone may register with any valid ID number: the account is self_declared and sees none of
        # the licences issued to that number (the demo citizen's, here), however it asks.
        claimant, password = await desk.register_and_verify("claimant", SEEDED_CITIZEN, "张三", verify=False)
        r = await client.get("/api/v1/credentials/me/licences", headers=claimant)
        assert r.status_code == 403 and r.json()["code"] == "real_name_required", r.text
        assert "verif" in r.json()["detail"]
        # Verified through the provider (face + ID number), she sees them.
        await desk.verify(claimant, SEEDED_CITIZEN, "张三")
        claimant = await desk.login("claimant", password)
        wallet = (await client.get("/api/v1/credentials/me/licences", headers=claimant)).json()
        assert wallet["total"] >= 1 and {w["holder_id"] for w in wallet["items"]} == {SEEDED_CITIZEN}

        # A clerk cannot invent a consent: svc-credentials asks svc-cases, which knows no such case.
        clerk = await desk.login("clerk", "Clerk#2026")
        r = await client.post("/api/v1/credentials/consents", headers=clerk, json={
            "licence_type_code": wallet["items"][0]["type_code"], "case_id": "3f0c1f9e-1d5e-4c0b-9c2a-000000000001",
            "holder_id": SEEDED_CITIZEN, "expires_at": until(1)})
        assert r.status_code == 422 and r.json()["code"] == "unknown_case", r.text
