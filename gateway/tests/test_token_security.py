"""Forged, expired and misaddressed tokens are refused at the gateway itself, both by its own
endpoints and by the proxy (which then forwards nothing)."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tongban.gateway.token.keys import jwk_thumbprint

FORGERIES = ["alg none", "HS256 signed with the public key", "expired", "tampered payload", "unknown kid",
             "signed by another key under the gateway's kid", "another issuer's key", "not a JWS",
             "wrong scheme", "wrong issuer", "wrong audience", "header a list", "header an empty list",
             "header null", "no token"]
# A JOSE header that is JSON but not an object: once a 500 at the gateway and every service.
MALFORMED = {"header a list": "Bearer WzFd.e30.x", "header an empty list": "Bearer W10.e30.x",
             "header null": "Bearer bnVsbA.e30.x", "no token": "Bearer"}
TARGETS = ["/auth/userinfo", "/api/v1/catalog/echo/private"]


def b64(data: bytes | dict) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


async def forge(gateway, token_issuer, case: str) -> str:
    """An Authorization header value for one kind of forgery, built from a real citizen token."""
    good = await gateway.token("citizen")
    head, body, sig = good.split(".")
    kid = jwt.get_unverified_header(good)["kid"]
    claims = claims_of(good)
    ring = gateway.state.keyring
    if case == "alg none":
        return f"Bearer {b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{body}."
    if case == "HS256 signed with the public key":
        (jwk,) = ring.jwks["keys"]
        public_pem = jwt.PyJWK(jwk).key.public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        hs_head = b64({"alg": "HS256", "kid": kid, "typ": "JWT"})
        mac = hmac.new(public_pem, f"{hs_head}.{body}".encode(), hashlib.sha256).digest()
        return f"Bearer {hs_head}.{body}.{b64(mac)}"
    if case == "expired":
        now = int(time.time())
        return "Bearer " + ring.sign({**claims, "iat": now - 700, "exp": now - 100})
    if case == "tampered payload":
        return f"Bearer {head}.{b64({**claims, 'role': 'admin', 'scope': 'catalog:write audit:read'})}.{sig}"
    other = ec.generate_private_key(ec.SECP256R1())
    if case == "unknown kid":
        return "Bearer " + jwt.encode(claims, other, algorithm="ES256", headers={"kid": "no-such-key"})
    if case == "signed by another key under the gateway's kid":
        return "Bearer " + jwt.encode(claims, other, algorithm="ES256", headers={"kid": kid})
    if case == "another issuer's key":
        return "Bearer " + token_issuer.mint("citizen", claims["scope"], claims["aud"], sub=claims["sub"])
    if case in MALFORMED:
        return MALFORMED[case]
    if case == "not a JWS":
        return "Bearer not-a-token"
    if case == "wrong scheme":
        return "Basic " + base64.b64encode(b"citizen:Citizen#2026").decode()
    if case == "wrong issuer":
        return "Bearer " + ring.sign({**claims, "iss": "someone-else"})
    if case == "wrong audience":  # genuine signature, but meant for svc-queue only
        return "Bearer " + ring.sign({**claims, "aud": ["queue"]})
    raise AssertionError(case)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", FORGERIES)
async def test_forged_tokens_are_refused(gateway, upstream, token_issuer, case, target):
    authorization = await forge(gateway, token_issuer, case)
    r = await gateway.client.get(target, headers={"Authorization": authorization})
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    if case == "expired":          # its own code: the client refreshes rather than signs in again
        assert r.json()["code"] == "token_expired"
        assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token", error_description=')
    else:
        assert r.json()["code"] == "invalid_token"
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert upstream.hits == 0


async def test_the_genuine_token_passes_both(gateway, upstream):
    headers = await gateway.bearer("citizen")
    assert (await gateway.client.get(TARGETS[0], headers=headers)).status_code == 200
    assert (await gateway.client.get(TARGETS[1], headers=headers)).status_code == 200
    assert upstream.hits == 1


async def test_people_reach_only_their_own_routes_of_the_partner_city_service(start_gateway, upstream):
    """svc-interop is for staff and partner systems: a citizen's or company's token reaches only
    the routes that show them their own cross-city business (PEOPLE_INTEROP_ROUTES)."""
    async with start_gateway(interop_url=upstream.url) as gw:
        for who in ("citizen", "company"):
            token = await gw.token(who)
            # Not the interop audience itself: svc-interop called directly holds it to the same routes.
            assert "interop" not in claims_of(token)["aud"] and "interop:people" in claims_of(token)["aud"]
            headers = {"Authorization": f"Bearer {token}"}
            for path in ("/api/v1/interop/messages", "/api/v1/interop/outgoing-cases-x",
                         "/api/v1/interop/audit/verify", "/api/v1/interop/"):
                r = await gw.client.get(path, headers=headers)
                assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", (who, path)
            assert upstream.hits == 0
            for path in ("/api/v1/interop/outgoing-cases", "/api/v1/interop/partner-licences/x"):
                assert (await gw.client.get(path, headers=headers)).status_code == 404, path  # reached the service
        clerk = await gw.bearer("clerk")
        assert (await gw.client.get("/api/v1/interop/messages", headers=clerk)).status_code == 404


def test_kid_is_the_rfc7638_thumbprint():
    # The example key of RFC 7638 §3.1 is RSA; this checks the EC member order and encoding instead.
    jwk = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
           "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
    members = b'{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",' \
              b'"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}'
    assert jwk_thumbprint({**jwk, "kid": "ignored", "use": "sig"}) == b64(hashlib.sha256(members).digest())


async def test_roles_reach_only_their_routes(gateway, upstream):
    """A citizen on admin routes, a partner on citizen routes, a citizen on interop routes: refused."""
    citizen = await gateway.bearer("citizen")
    r = await gateway.client.get("/auth/accounts", headers=citizen)
    assert r.status_code == 403 and r.json()["code"] == "not_permitted"  # the gateway policy: admins only
    r = await gateway.client.post("/auth/signing-keys", json={"reason": "x"}, headers=citizen)
    assert r.status_code == 403 and r.json()["code"] == "not_permitted"
    assert (await gateway.client.get("/api/v1/gateway/audit-events", headers=citizen)).status_code == 403
    r = await gateway.client.get("/api/v1/interop/messages", headers=citizen)
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"

    r = await gateway.client.post("/auth/token", data={"grant_type": "client_credentials"},
                                  auth=("shenzhen", "Shenzhen#2026"))
    assert r.status_code == 200, r.text
    partner = {"Authorization": f"Bearer {r.json()['access_token']}"}
    for target in ("/api/v1/catalog/echo/mine", "/auth/userinfo", "/auth/accounts"):
        r = await gateway.client.get(target, headers=partner)
        assert r.status_code == 401 and r.json()["code"] == "invalid_token", target
    assert upstream.hits == 0
