"""The gateway's own problems, and the proxy's refusals before a service is reached, are in the
caller's language (tongban.shared.messages); the codes are the same in both."""


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
