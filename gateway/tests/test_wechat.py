"""WeChat login through the local WeChat simulator (an ASGI app under uvicorn, as in `make run`):
wx.login codes, binding once the real name is verified, unionid across mini-programs,
getPhoneNumber, the access_token's expiry; and the refresh grace window."""

import asyncio
from contextlib import asynccontextmanager
import base64
import datetime as dt
import json

import httpx
import pytest

from tongban.gateway.wechat.simulator import DEV_APPS, WeChatSimulator
from tongban.gateway.wechat.simulator import create_app as simulator_app
from tongban.shared import clock
from tongban.shared.ids import resident_id_check_digit

RESIDENT, HALL = sorted(DEV_APPS)
OTHER_APP = "wx9f8e7d6c5b4a3001"   # a mini-program of another open platform (no unionid)


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


@asynccontextmanager
async def platform(serve_app, start_gateway, **settings):
    """The simulator, and a gateway configured with its URL and the mini-programs' secrets."""
    apps = {**DEV_APPS, OTHER_APP: "secret-of-another-platform"}
    sim = WeChatSimulator(apps, open_platform=frozenset(DEV_APPS))
    async with serve_app(simulator_app(sim), lifespan="off") as url, httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=url) as device:
        async with start_gateway(wechat_api_url=url, wechat_apps=json.dumps(apps), **settings) as gw:
            yield sim, device, gw


@pytest.fixture
async def wechat(serve_app, start_gateway):
    async with platform(serve_app, start_gateway) as parts:
        yield parts


async def wx_login(device: httpx.AsyncClient, appid: str, user: str) -> str:
    r = await device.post("/simulator/login", json={"appid": appid, "user": user})
    assert r.status_code == 200, r.text
    return r.json()["code"]


async def wx_phone(device: httpx.AsyncClient, appid: str, user: str, number: str) -> str:
    r = await device.post("/simulator/phone", json={"appid": appid, "user": user, "phone_number": number})
    assert r.status_code == 200, r.text
    return r.json()["code"]


async def registered(gw, username: str, first17: str) -> tuple[dict[str, str], dict[str, str]]:
    """A citizen who registered in the mini-program (self-declared): her form and a token."""
    form = {"username": username, "password": f"{username.title()}#2026x", "display_name": "梅",
            "id_number": first17 + resident_id_check_digit(first17), "phone": "13600136000"}
    assert (await gw.client.post("/auth/register", json=form)).status_code == 202
    return form, {"Authorization": f"Bearer {await gw.token_for(username, form['password'])}"}


async def verify(gw, form: dict[str, str], headers: dict[str, str]) -> dict[str, str]:
    """Her face check at the local real-name provider; a fresh token says `verified`."""
    check = {"id_number": form["id_number"], "name": form["display_name"], "face_image": "eA=="}
    answer = (await gw.client.post("/auth/real-name/local-provider/checks", json=check)).json()
    assert (await gw.client.post("/auth/real-name/verifications", json=answer, headers=headers)).status_code == 200
    return {"Authorization": f"Bearer {await gw.token_for(form['username'], form['password'])}"}


async def verified_citizen(gw, username: str = "wxmei", first17: str = "44200019920202222") -> dict[str, str]:
    return await verify(gw, *await registered(gw, username, first17))


async def test_simulator_answers_as_wechat_does(wechat):
    sim, device, _ = wechat
    code = await wx_login(device, RESIDENT, "zhang")
    q = {"appid": RESIDENT, "secret": DEV_APPS[RESIDENT], "js_code": code, "grant_type": "authorization_code"}
    assert (await device.get("/sns/jscode2session", params={**q, "secret": "wrong"})).json()["errcode"] == 40125
    assert (await device.get("/sns/jscode2session", params={**q, "appid": "wxnope"})).json()["errcode"] == 40013
    first = (await device.get("/sns/jscode2session", params=q)).json()
    assert first["openid"] == sim.openid(RESIDENT, "zhang") and first["unionid"] == sim.unionid("zhang")
    assert (await device.get("/sns/jscode2session", params=q)).json()["errcode"] == 40163   # single use
    other = (await device.get("/sns/jscode2session", params={
        **q, "appid": HALL, "secret": DEV_APPS[HALL], "js_code": await wx_login(device, RESIDENT, "zhang")})).json()
    assert other["errcode"] == 40029   # a code of another mini-program
    late = await wx_login(device, RESIDENT, "zhang")
    with clock.pinned(clock.now() + dt.timedelta(minutes=5, seconds=5)):
        assert (await device.get("/sns/jscode2session", params={**q, "js_code": late})).json()["errcode"] == 40029
    token = (await device.post("/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": RESIDENT, "secret": DEV_APPS[RESIDENT]})).json()
    again = (await device.post("/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": RESIDENT, "secret": DEV_APPS[RESIDENT]})).json()
    assert token["access_token"] == again["access_token"] and token["expires_in"] > 7000
    phone = await wx_phone(device, RESIDENT, "zhang", "13700137000")
    url = "/wxa/business/getuserphonenumber"
    assert (await device.post(url, params={"access_token": "nope"}, json={"code": phone})).json()["errcode"] == 40001
    with clock.pinned(clock.now() + dt.timedelta(hours=2, seconds=1)):
        expired = await device.post(url, params={"access_token": token["access_token"]}, json={"code": phone})
        assert expired.json()["errcode"] == 42001
    info = (await device.post(url, params={"access_token": token["access_token"]}, json={"code": phone})).json()
    assert info["errcode"] == 0 and info["phone_info"]["purePhoneNumber"] == "13700137000"
    assert info["phone_info"]["watermark"]["appid"] == RESIDENT


async def test_wechat_login_binds_once_verified_and_unionid_links_the_city_s_mini_programs(wechat):
    sim, device, gw = wechat
    code = await wx_login(device, RESIDENT, "zhang")
    r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": RESIDENT, "code": code})
    assert r.status_code == 400 and r.json()["code"] == "wechat_not_bound" and r.json()["error"] == "invalid_grant"
    ticket = r.json()["bind_ticket"]
    assert "/auth/wechat/bindings" in r.json()["detail"]
    r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": RESIDENT, "code": code})
    assert r.status_code == 400 and r.json()["code"] == "wechat_code_invalid" and r.json()["wechat_errcode"] == 40163
    r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": "wx0000000000000000", "code": "x"})
    assert r.status_code == 400 and r.json()["code"] == "unknown_mini_program"

    # A self-declared citizen cannot bind: WeChat would then reach what her password does.
    form, declared = await registered(gw, "wxmei", "44200019920202222")
    r = await gw.client.post("/auth/wechat/bindings", json={"bind_ticket": ticket}, headers=declared)
    assert r.status_code == 403 and r.json()["code"] == "real_name_required"
    citizen = await verify(gw, form, declared)
    sub = claims_of(citizen["Authorization"][7:])["sub"]
    bad = ticket[:-3] + ("AAA" if not ticket.endswith("AAA") else "BBB")
    r = await gw.client.post("/auth/wechat/bindings", json={"bind_ticket": bad}, headers=citizen)
    assert r.status_code == 400 and r.json()["code"] == "invalid_bind_ticket"
    bound = await gw.client.post("/auth/wechat/bindings", json={"bind_ticket": ticket}, headers=citizen)
    assert bound.status_code == 201, bound.text
    assert bound.json()["appid"] == RESIDENT and bound.json()["unionid_linked"] is True
    again = await gw.client.post("/auth/wechat/bindings", json={"bind_ticket": ticket}, headers=citizen)
    assert again.status_code == 201 and again.json()["id"] == bound.json()["id"]

    # Bound: straight in, here and (same unionid) in the city's other mini-program.
    for appid in (RESIDENT, HALL):
        r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": appid,
                                                      "code": await wx_login(device, appid, "zhang")})
        assert r.status_code == 200, r.text
        assert claims_of(r.json()["access_token"])["sub"] == sub and r.json()["refresh_token"]
    listed = (await gw.client.get("/auth/wechat/bindings", headers=citizen)).json()
    assert sorted(b["appid"] for b in listed["items"]) == [RESIDENT, HALL]
    # Another mini-program's openid without unionid is another person as far as WeChat tells.
    r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": OTHER_APP,
                                                  "code": await wx_login(device, OTHER_APP, "zhang")})
    assert r.status_code == 400 and r.json()["code"] == "wechat_not_bound"

    # Another WeChat user cannot take this account, nor this WeChat user another account.
    r = await gw.client.post("/auth/wechat/bindings", headers=citizen, json={
        "appid": RESIDENT, "code": await wx_login(device, RESIDENT, "li")})
    assert r.status_code == 409 and r.json()["code"] == "account_has_other_wechat"

    # Unbinding removes the person's bindings in every mini-program of the city.
    r = await gw.client.delete(f"/auth/wechat/bindings/{bound.json()['id']}", headers=citizen)
    assert r.status_code == 204
    r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": HALL,
                                                  "code": await wx_login(device, HALL, "zhang")})
    assert r.status_code == 400 and r.json()["code"] == "wechat_not_bound"
    assert (await gw.client.delete(f"/auth/wechat/bindings/{bound.json()['id']}", headers=citizen)).status_code == 404


async def test_phone_number_login_after_wechat_confirmed_the_number(wechat):
    sim, device, gw = wechat
    code = await wx_phone(device, RESIDENT, "zhang", "13700137000")
    r = await gw.client.post("/auth/token", data={"grant_type": "wechat_phone", "appid": RESIDENT, "code": code})
    assert r.status_code == 400 and r.json()["code"] == "phone_not_bound"
    citizen = await verified_citizen(gw)
    r = await gw.client.post("/auth/wechat/phone", headers=citizen, json={
        "appid": RESIDENT, "code": await wx_phone(device, RESIDENT, "zhang", "13700137000")})
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "13700137000"
    # The simulator's access tokens expire: the gateway fetches a new one and asks again.
    for token in sim.tokens.values():
        token.expires_at = clock.now() - dt.timedelta(seconds=1)
    r = await gw.client.post("/auth/token", data={
        "grant_type": "wechat_phone", "appid": RESIDENT, "code": await wx_phone(device, RESIDENT, "zhang", "13700137000")})
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["sub"] == claims_of(citizen["Authorization"][7:])["sub"]
    me = (await gw.client.get(f"/auth/accounts/{claims_of(r.json()['access_token'])['sub']}",
                              headers={"Authorization": f"Bearer {r.json()['access_token']}"})).json()
    assert me["phone"] == "13700137000"


async def test_wechat_away_is_503(start_gateway):
    async with start_gateway(wechat_api_url="http://127.0.0.1:9") as gw:
        r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": RESIDENT, "code": "abc"})
        assert r.status_code == 503 and r.json()["code"] == "wechat_unavailable"
        assert r.json()["error"] == "temporarily_unavailable"
        r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": RESIDENT, "code": "a b"})
        assert r.status_code == 400 and r.json()["code"] == "invalid_request"


async def test_refused_wechat_codes_count_as_failed_logins(serve_app, start_gateway):
    async with platform(serve_app, start_gateway, login_free_failures_per_address=2,
                        login_backoff_seconds=600) as (_, device, gw):
        for _ in range(2):
            r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": RESIDENT, "code": "guessed"})
            assert r.status_code == 400 and r.json()["code"] == "wechat_code_invalid"
        # The same back-off as wrong passwords: this address waits, even with a good code.
        r = await gw.client.post("/auth/token", data={"grant_type": "wechat", "appid": RESIDENT,
                                                      "code": await wx_login(device, RESIDENT, "zhang")})
        assert r.status_code == 429 and r.json()["code"] == "login_locked"


async def refresh(gw, token: str) -> httpx.Response:
    return await gw.client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": token})


async def test_concurrent_refreshes_get_one_pair_and_reuse_after_the_window_ends_the_login(gateway):
    r0 = (await gateway.login("citizen")).json()["refresh_token"]
    first, second = await asyncio.gather(refresh(gateway, r0), refresh(gateway, r0))
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    assert first.json()["refresh_token"] == second.json()["refresh_token"]
    assert first.json()["access_token"] == second.json()["access_token"]
    r1 = first.json()["refresh_token"]
    # After the window the rotated token is a copy again: the whole login ends.
    with clock.pinned(clock.now() + dt.timedelta(seconds=11)):
        late = await refresh(gateway, r0)
    assert late.status_code == 400 and "already used" in late.json()["detail"]
    assert (await refresh(gateway, r1)).status_code == 400

    # Within the window, but once the successor was used, it is a reuse as well.
    a0 = (await gateway.login("citizen")).json()["refresh_token"]
    a1 = (await refresh(gateway, a0)).json()["refresh_token"]
    a2 = await refresh(gateway, a1)
    assert a2.status_code == 200
    replay = await refresh(gateway, a0)
    assert replay.status_code == 400 and "already used" in replay.json()["detail"]
    assert (await refresh(gateway, a2.json()["refresh_token"])).status_code == 400
