"""Machine clients managed by admins, and our own services as OAuth clients: the shared
`ClientCredentials` source gets, caches and renews a service token from the real gateway."""

import base64
import json

import httpx

from tongban.shared.service_auth import BearerAuth, ClientCredentials, UpstreamUnavailable


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


async def test_an_admin_registers_a_service_client_and_the_service_gets_scoped_tokens(gateway):
    admin = await gateway.bearer("admin")
    made = await gateway.client.post("/auth/clients", json={"kind": "service", "service": "interop"},
                                     headers={**admin, "Idempotency-Key": "svc-interop-1"})
    assert made.status_code == 201, made.text
    body = made.json()
    secret = body["client_secret"]
    assert body["client_id"] == "svc-interop" and body["kind"] == "service" and "credentials:trust" in body["scope"]
    replay = await gateway.client.post("/auth/clients", json={"kind": "service", "service": "interop"},
                                       headers={**admin, "Idempotency-Key": "svc-interop-1"})
    assert replay.status_code == 201 and replay.json()["client_secret"] is None  # the secret is shown once
    again = await gateway.client.post("/auth/clients", json={"kind": "service", "service": "interop"}, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "client_exists"

    source = ClientCredentials(f"{gateway.url}/auth/token", "svc-interop", secret)
    token = await source.token()
    assert await source.token() == token  # cached until shortly before it expires
    claims = claims_of(token)
    assert claims["role"] == "service" and claims["sub"] == "service:interop" and claims["service"] == "interop"
    assert set(claims["aud"]) == {"catalog", "cases", "credentials"}  # what its scopes name, nothing else
    principal = await gateway.state.keyring.verify(token, "credentials")
    assert principal.has("credentials:trust") and not principal.has("credentials:admin")
    assert await source.token(refresh=True) != token

    listed = await gateway.client.get("/auth/clients", headers=admin)
    assert listed.status_code == 200
    assert {c["client_id"] for c in listed.json()["items"]} >= {"svc-interop", "shenzhen"}
    assert all("secret" not in json.dumps(c) for c in listed.json()["items"])

    off = await gateway.client.post("/auth/clients/svc-interop/deactivate", json={"reason": "key leaked"},
                                    headers=admin)
    assert off.status_code == 200 and off.json()["active"] is False
    try:
        await source.token(refresh=True)
        raise AssertionError("a deactivated client got a token")
    except UpstreamUnavailable as exc:
        assert "401" in exc.detail


async def test_client_management_is_for_admins_and_checks_its_input(gateway):
    citizen = await gateway.bearer("citizen")
    admin = await gateway.bearer("admin")
    denied = await gateway.client.post("/auth/clients", json={"kind": "service", "service": "cases"}, headers=citizen)
    assert denied.status_code == 403
    unknown = await gateway.client.post("/auth/clients", json={"kind": "service", "service": "catalog"}, headers=admin)
    assert unknown.status_code == 400 and "calls no other service" in unknown.json()["detail"]
    no_region = await gateway.client.post("/auth/clients", json={"kind": "partner", "client_id": "guangzhou",
                                                                  "name": "广州"}, headers=admin)
    assert no_region.status_code == 422 and no_region.json()["errors"][0]["field"] == "partner"
    too_wide = await gateway.client.post("/auth/clients", json={
        "kind": "partner", "client_id": "guangzhou", "name": "广州", "partner": "440100",
        "scopes": ["interop:exchange", "cases:admin"]}, headers=admin)
    assert too_wide.status_code == 400
    missing = await gateway.client.post("/auth/clients/nobody/deactivate", json={"reason": "x"}, headers=admin)
    assert missing.status_code == 404


async def test_bearer_auth_renews_the_token_once_when_the_callee_says_401(gateway):
    calls: list[str] = []

    class Rotating:
        async def token(self, *, refresh: bool = False) -> str:
            calls.append("refresh" if refresh else "cached")
            return "new" if refresh else "old"

    def callee(request: httpx.Request) -> httpx.Response:
        ok = request.headers["Authorization"] == "Bearer new"
        return httpx.Response(200 if ok else 401)

    async with httpx.AsyncClient(transport=httpx.MockTransport(callee), auth=BearerAuth(Rotating())) as http:
        assert (await http.get("http://callee/x")).status_code == 200
    assert calls == ["cached", "refresh"]
