"""Logging in (OAuth 2.0 password grant), the tokens it yields, the JWKS and userinfo."""

import json

import jwt
import pytest
from sqlalchemy import update

from tongban.gateway.account.models import Account
from tongban.gateway.token.scopes import ROLE_AUDIENCES, ROLE_SCOPES
from tongban.shared.auth import InvalidToken, TokenVerifier
from tongban.shared.ids import normalize_credit_code, normalize_resident_id

ROLE_CLAIM = {"citizen": ("id_number", "442000199001011233"), "company": ("credit_code", "91442000MA4W12346R"),
              "clerk": ("hall", "0b0a4420-0001-4000-8000-000000000001"), "approver": ("department", "11442000MB0000002B"), "admin": None}


def problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code
    return body


@pytest.mark.parametrize("role", list(ROLE_CLAIM))
async def test_each_demo_role_logs_in_and_gets_a_token_for_its_services(gateway, role):
    r = await gateway.login(role)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == " ".join(ROLE_SCOPES[role])

    jwks = (await gateway.client.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "ES256"
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims = jwt.decode(body["access_token"], key=key, algorithms=["ES256"], audience="catalog",
                        issuer="tongban-gateway")
    assert claims["aud"] == list(ROLE_AUDIENCES[role]) and claims["role"] == role
    assert claims["scope"] == body["scope"] and claims["exp"] - claims["iat"] == 600 and claims["jti"]
    assert claims["name"]
    for name, value in [c for c in ROLE_CLAIM.values() if c]:
        assert claims.get(name) == (value if ROLE_CLAIM[role] == (name, value) else None)
    if role == "citizen":
        assert normalize_resident_id(claims["id_number"]) == claims["id_number"]
    if role == "company":
        assert normalize_credit_code(claims["credit_code"]) == claims["credit_code"]


async def test_services_accept_the_token_with_the_platform_verifier_within_its_audience(gateway):
    jwks_json = (await gateway.client.get("/.well-known/jwks.json")).text
    citizen = await gateway.token("citizen")
    principal = await TokenVerifier("cases", "tongban-gateway", jwks_json=jwks_json).verify(citizen)
    assert principal.role == "citizen" and principal.has("cases:apply") and not principal.has("cases:process")
    assert principal.id_number == "442000199001011233"
    # svc-interop is in a citizen's audience for their own cross-city routes (the gateway refuses the rest).
    assert (await TokenVerifier("interop", "tongban-gateway", jwks_json=jwks_json).verify(citizen)).role == "citizen"
    with pytest.raises(InvalidToken):  # a service outside the audience refuses it
        await TokenVerifier("elsewhere", "tongban-gateway", jwks_json=jwks_json).verify(citizen)
    admin = await TokenVerifier("interop", "tongban-gateway", jwks_json=jwks_json).verify(
        await gateway.token("admin"))
    assert admin.has("interop:admin")


@pytest.mark.parametrize("username, password", [("citizen", "wrong"), ("nobody", "Citizen#2026"),
                                                ("citizen", "citizen#2026")])
async def test_wrong_credentials_are_an_invalid_grant(gateway, username, password):
    r = await gateway.login(username, password)
    body = problem(r, 400, "invalid_grant")
    assert body["error"] == "invalid_grant" and body["title"] == "Wrong username or password"


@pytest.mark.parametrize("form, code", [
    ({"grant_type": "client_credentials", "client_id": "x"}, "invalid_request"),  # no secret
    ({"grant_type": "implicit"}, "unsupported_grant_type"),
    ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
    ({"username": "citizen", "password": "Citizen#2026"}, "invalid_request"),
    ({"grant_type": "password", "username": "citizen"}, "invalid_request"),
    ({"grant_type": "password", "username": "", "password": "x"}, "invalid_request"),
    ({"grant_type": "password", "username": "citizen", "password": "Citizen#2026", "scope": "catalog:write"},
     "invalid_scope"),
])
async def test_malformed_token_requests_are_refused_the_oauth_way(gateway, form, code):
    r = await gateway.client.post("/auth/token", data=form)
    assert problem(r, 400, code)["error"] == code


async def test_token_request_must_be_a_form_with_each_parameter_once(gateway):
    r = await gateway.client.post("/auth/token", json={"grant_type": "password", "username": "citizen",
                                                       "password": "Citizen#2026"})
    problem(r, 400, "invalid_request")
    r = await gateway.client.post("/auth/token", content=b"grant_type=password&username=citizen&username=admin"
                                  b"&password=Citizen%232026",
                                  headers={"content-type": "application/x-www-form-urlencoded"})
    problem(r, 400, "invalid_request")


async def test_scope_can_be_narrowed_but_not_widened(gateway):
    r = await gateway.login("clerk", scope="queue:operate catalog:read")
    assert r.status_code == 200 and r.json()["scope"] == "catalog:read queue:operate"


async def test_a_disabled_account_cannot_log_in(gateway):
    async with gateway.state.sessionmaker() as s, s.begin():
        await s.execute(update(Account).where(Account.username == "clerk").values(active=False))
    r = await gateway.login("clerk")
    problem(r, 400, "invalid_grant")


async def test_jwks_lists_the_public_key_only_and_may_be_cached(gateway):
    r = await gateway.client.get("/.well-known/jwks.json")
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=300"
    (key,) = r.json()["keys"]
    assert key["kid"] == gateway.state.keyring.kid
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key


async def test_userinfo_shows_the_owner_their_own_claims_unmasked(gateway):
    r = await gateway.client.get("/auth/userinfo", headers=await gateway.bearer("citizen"))
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["role"] == "citizen" and info["name"] == "张三"
    assert info["id_number"] == "442000199001011233"
    assert info["scope"] == " ".join(ROLE_SCOPES["citizen"])
    assert "credit_code" not in info and "hall" not in info
    company = (await gateway.client.get("/auth/userinfo", headers=await gateway.bearer("company"))).json()
    assert company["credit_code"] == "91442000MA4W12346R" and "id_number" not in company


async def test_userinfo_needs_a_token(gateway):
    r = await gateway.client.get("/auth/userinfo")
    problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_the_gateway_documents_its_own_api_and_keeps_an_audit_trail(gateway):
    spec = (await gateway.client.get("/api/v1/gateway/openapi.json")).json()
    assert {"/auth/token", "/auth/userinfo", "/.well-known/jwks.json", "/api/v1/gateway/audit-events"} <= set(
        spec["paths"])
    assert "application/x-www-form-urlencoded" in spec["paths"]["/auth/token"]["post"]["requestBody"]["content"]
    r = await gateway.client.get("/docs")
    assert r.status_code == 200 and "/openapi.json" in r.text  # the aggregated document (test_docs.py)
    assert (await gateway.client.get("/readyz")).json()["status"] == "ok"

    audit = await gateway.client.get("/api/v1/gateway/audit-events", params={"limit": 200},
                                     headers=await gateway.bearer("admin"))
    assert audit.status_code == 200, audit.text
    actions = [e["action"] for e in audit.json()["items"]]
    assert actions.count("account.created") == 5 and actions.count("signing_key.created") == 1
    assert "442000199001011233" not in json.dumps(audit.json())
    r = await gateway.client.get("/api/v1/gateway/audit-events", headers=await gateway.bearer("citizen"))
    problem(r, 403, "insufficient_scope")
