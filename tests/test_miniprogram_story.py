"""A mini-program's resident, end to end through the gateway (issue 20): WeChat login through the
local WeChat simulator (as `make run` starts it), binding once her real name is verified, her
phone number confirmed by WeChat and logging in with it, the city's second mini-program knowing
her by unionid, an application with a material uploaded as `wx.uploadFile` sends it
(multipart), and two pages refreshing the login at once. Every process is real: the simulator,
the gateway, svc-catalog and svc-cases under uvicorn."""

import asyncio
import json

import httpx
import pytest
from tongban.cases.main import SERVICE as CASES
from tongban.catalog.main import SERVICE as CATALOG
from tongban.gateway import seed as gateway_seed
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.gateway.wechat.simulator import DEV_APPS
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.ids import resident_id_check_digit
from tongban.shared.localinfra import ServiceProcess, free_port
from tongban.shared.messages import CATALOGUE
from tongban.shared.testing.plugin import platform_processes, wait_for

RESIDENT_APP, HALL_APP = sorted(DEV_APPS)
DEPT = "11442000MB0000002B"                                     # the seeded approver's department
ITEM = "442020000931"
MEI = "44200019930303444" + resident_id_check_digit("44200019930303444")
PDF = b"%PDF-1.7\n" + b"scan " * 400


@pytest.fixture
async def platform(infra, clean_nats, tmp_path):
    sim = ServiceProcess("wechat", "tongban.gateway.wechat.simulator:create_app", free_port(),
                         {"WECHAT_SIMULATOR_APPS": json.dumps(DEV_APPS)}, log_file=tmp_path / "wechat.log")
    sim.start()
    urls = {d.name: infra.fresh_database(d) for d in (GATEWAY, CATALOG, CASES)}
    engine = make_engine(urls["gateway"], 2)
    await gateway_seed.seed(make_sessionmaker(engine))
    await engine.dispose()

    def wechat(name: str, _urls: dict[str, str]) -> dict[str, str]:
        if name != "gateway":
            return {}
        return {"GATEWAY_WECHAT_API_URL": sim.url, "GATEWAY_WECHAT_APPS": json.dumps(DEV_APPS)}

    try:
        await asyncio.to_thread(sim.wait_ready)
        async with platform_processes(infra, [GATEWAY, CATALOG, CASES], urls, tmp_path, extra=wechat) as at:
            yield at["gateway"], sim.url
    finally:
        sim.stop()


class Phone:
    """What WeChat's client does on the phone: wx.login and getPhoneNumber give the app codes."""

    def __init__(self, wechat: httpx.AsyncClient, user: str) -> None:
        self.wechat, self.user = wechat, user

    async def login(self, appid: str = RESIDENT_APP) -> str:
        r = await self.wechat.post("/simulator/login", json={"appid": appid, "user": self.user})
        return r.raise_for_status().json()["code"]

    async def phone_number(self, number: str, appid: str = RESIDENT_APP) -> str:
        r = await self.wechat.post("/simulator/phone", json={"appid": appid, "user": self.user,
                                                             "phone_number": number})
        return r.raise_for_status().json()["code"]


async def token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/auth/token", data=form)


def bearer(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_a_resident_logs_in_with_wechat_applies_with_an_upload_and_refreshes_from_two_pages(platform):
    gateway_url, wechat_url = platform
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=gateway_url, timeout=15) as client, \
            httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=wechat_url, timeout=5) as wechat:
        admin = bearer(await token(client, grant_type="password", username="admin", password="Admin#2026"))
        r = await client.post("/api/v1/catalog/items", headers=admin, json={
            "basic_code": ITEM, "name": "个体工商户设立登记", "exercise_level": 4, "case_type": "promised",
            "promised_limit": 5, "promised_limit_unit": "working_day", "implementing_body_credit_code": DEPT})
        assert r.status_code == 201, r.text
        if r.json().get("status") != "published":
            assert (await client.post(f"/api/v1/catalog/items/{r.json()['id']}/publish",
                                      headers=admin)).status_code == 200
        phone = Phone(wechat, "mei-wechat")

        # 1. wx.login in the mini-program: WeChat knows her, the platform does not yet.
        r = await token(client, grant_type="wechat", appid=RESIDENT_APP, code=await phone.login())
        assert r.status_code == 400 and r.json()["code"] == "wechat_not_bound", r.text
        ticket = r.json()["bind_ticket"]

        # 2. She registers, verifies her real name (face check) and binds WeChat with the ticket.
        form = {"username": "mei", "password": "Mei#2026xyz", "display_name": "林美", "id_number": MEI,
                "phone": "13500135000"}
        assert (await client.post("/auth/register", json=form)).status_code == 202
        mei = bearer(await token(client, grant_type="password", username="mei", password=form["password"]))
        answer = (await client.post("/auth/real-name/local-provider/checks", json={
            "id_number": MEI, "name": "林美", "face_image": "ZmFjZQ=="})).json()
        assert (await client.post("/auth/real-name/verifications", json=answer, headers=mei)).status_code == 200
        mei = bearer(await token(client, grant_type="password", username="mei", password=form["password"]))
        r = await client.post("/auth/wechat/bindings", json={"bind_ticket": ticket}, headers=mei)
        assert r.status_code == 201, r.text

        # 3. From now on WeChat logs her straight in, in the city's other mini-program too (unionid).
        login = await token(client, grant_type="wechat", appid=RESIDENT_APP, code=await phone.login())
        me = (await client.get("/auth/userinfo", headers=bearer(login))).json()
        assert me["id_number"] == MEI and me["real_name_level"] == "verified"
        hall = await token(client, grant_type="wechat", appid=HALL_APP, code=await phone.login(HALL_APP))
        assert (await client.get("/auth/userinfo", headers=bearer(hall))).json()["sub"] == me["sub"]

        # 4. Her phone number, confirmed by WeChat (getPhoneNumber), also logs her in.
        r = await client.post("/auth/wechat/phone", headers=bearer(login), json={
            "appid": RESIDENT_APP, "code": await phone.phone_number("13500135001")})
        assert r.status_code == 200 and r.json()["phone"] == "13500135001", r.text
        by_phone = await token(client, grant_type="wechat_phone", appid=RESIDENT_APP,
                               code=await phone.phone_number("13500135001"))
        assert (await client.get("/auth/userinfo", headers=bearer(by_phone))).json()["sub"] == me["sub"]

        # 5. She applies with a scan uploaded as wx.uploadFile sends it (multipart, octet-stream).
        async def copied():
            page = (await client.get("/api/v1/cases/items", params={"limit": 100})).json()
            return ITEM in {i["basic_code"] for i in page["items"]} or None

        await wait_for(copied, timeout=20)
        r = await client.post("/api/v1/cases/documents", headers=bearer(login) | {"Idempotency-Key": "scan-1"},
                              data={"purpose": "营业执照申请"},
                              files={"file": ("tmp_e1a2.pdf", PDF, "application/octet-stream")})
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["mime_type"], doc["size"]) == ("application/pdf", len(PDF))
        r = await client.post("/api/v1/cases/cases", headers=bearer(login) | {"Idempotency-Key": "apply-1"}, json={
            "basic_code": ITEM, "materials": [{"name": "经营场所证明", "document_id": doc["id"]}]})
        assert r.status_code == 201, r.text
        case = r.json()
        assert case["applicant_id"] == MEI
        r = await client.get(f"/api/v1/cases/documents/{doc['id']}/content", headers=bearer(login))
        assert r.status_code == 200 and r.content == PDF

        # 6. Two pages refresh the login at once with the same refresh token: one new pair for both,
        # and the login lives on with it.
        refresh = login.json()["refresh_token"]
        first, second = await asyncio.gather(*(token(client, grant_type="refresh_token", refresh_token=refresh)
                                               for _ in range(2)))
        assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
        assert first.json()["refresh_token"] == second.json()["refresh_token"]
        assert first.json()["access_token"] == second.json()["access_token"]
        r = await client.get(f"/api/v1/cases/cases/{case['id']}", headers=bearer(second))
        assert r.status_code == 200 and r.json()["id"] == case["id"]
        nxt = await token(client, grant_type="refresh_token", refresh_token=first.json()["refresh_token"])
        assert nxt.status_code == 200, nxt.text

        # 7. Five common mistakes, answered in words she can read (Accept-Language: zh-CN), the
        # codes unchanged for the mini-program's own logic.
        zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
        mistakes = [
            ("invalid_grant", await client.post("/auth/token", headers=zh, data={
                "grant_type": "password", "username": "mei", "password": "wrong-password"})),
            ("unauthorized", await client.get("/api/v1/cases/cases", headers=zh)),
            ("invalid_token", await client.get("/api/v1/cases/cases", headers=zh | {"Authorization": "Bearer x.y.z"})),
            ("case_not_found", await client.get("/api/v1/cases/cases/00000000-0000-4000-8000-000000000000",
                                                headers=zh | bearer(second))),
            ("validation_failed", await client.post("/api/v1/cases/cases", json={"materials": []},
                                                    headers=zh | bearer(second) | {"Idempotency-Key": "apply-2"})),
        ]
        for code, answer in mistakes:
            problem = answer.json()
            assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
            assert problem["code"] == code, (code, answer.text)
            assert (problem["title"], problem["detail"]) == CATALOGUE[code] or code == "validation_failed", problem
            assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["title"] + problem["detail"]), problem
        invalid = mistakes[-1][1].json()   # the field she left out, named and explained in Chinese
        assert invalid["title"] == CATALOGUE["validation_failed"][0]
        assert all(e["message"] and e["label"] for e in invalid["errors"]), invalid
        assert all(f"{e['label']}：{e['message']}" in invalid["detail"] for e in invalid["errors"]), invalid
