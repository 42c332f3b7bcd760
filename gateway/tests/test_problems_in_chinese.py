"""The gateway's own problems, and the proxy's refusals before a service is reached, are in the
caller's language (tongban.shared.messages); the codes are the same in both."""

import httpx

HAN = range(0x4E00, 0xA000)


def chinese(text: str | None) -> bool:
    return bool(text) and any(ord(c) in HAN for c in text)


async def test_the_gateway_answers_in_the_language_asked_for(gateway):
    client = gateway.client
    zh = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    # The proxy path: a garbage token refused at the door.
    r = await client.get("/api/v1/catalog/items", headers={**zh, "Authorization": "Bearer not.a.token"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token" and r.json()["title"] == "登录凭证无效"
    r = await client.get("/api/v1/catalog/items", headers={"Accept-Language": "en", "Authorization": "Bearer x.y.z"})
    assert r.json()["code"] == "invalid_token" and r.json()["title"] == "Invalid or expired access token"
    # The gateway's own routes: a wrong password, and a registration with a bad field.
    r = await client.post("/auth/token", headers=zh, data={"grant_type": "password", "username": "citizen",
                                                           "password": "wrong-password"})
    assert r.json()["code"] == "invalid_grant" and r.json()["title"] == "用户名或密码错误"
    r = await client.post("/auth/register", headers=zh, json={"username": "x"})
    body = r.json()
    assert r.status_code == 422 and body["code"] == "validation_failed" and body["title"] == "填写有误"
    assert "密码" in body["detail"] and {"password", "id_number"} <= {e["field"] for e in body["errors"]}


async def test_without_accept_language_the_gateway_answers_everyone_in_chinese(gateway):
    """messages.DEFAULT: no Accept-Language reads Chinese for a citizen, a company and a clerk alike
    (and for no token at all); `en` keeps English; the code is the same."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as bare:
        for who in ("citizen", "company", "clerk"):
            bearer = await gateway.bearer(who)
            # The proxy's own refusal: a service the platform does not have.
            r = await bare.get("/api/v1/nosuch/things", headers=bearer)
            assert "accept-language" not in {k.lower() for k in r.request.headers}
            assert r.status_code == 404 and r.json()["code"] == "unknown_service", who
            assert chinese(r.json()["title"]) and chinese(r.json()["detail"]), (who, r.json())
            r = await bare.get("/api/v1/nosuch/things", headers={**bearer, "Accept-Language": "en"})
            assert r.json()["code"] == "unknown_service" and r.json()["title"] == "No such service", who
        # The gateway's own route (a registration with a bad field), and the door without a token.
        r = await bare.post("/auth/register", json={"username": "x"})
        assert r.status_code == 422 and r.json()["code"] == "validation_failed" and r.json()["title"] == "填写有误"
        r = await bare.get("/api/v1/catalog/items", headers={"Authorization": "Bearer x.y.z"})
        assert r.json()["code"] == "invalid_token" and r.json()["title"] == "登录凭证无效"
