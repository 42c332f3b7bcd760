"""Every service verifies tokens itself: forged, expired and misaddressed tokens are refused."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tongban.shared.auth import InvalidToken, NotOwner, Principal, TokenVerifier, ensure_owner
from tongban.shared.testing.plugin import TokenIssuer


@pytest.fixture(scope="module")
def issuer():
    return TokenIssuer()


@pytest.fixture
def verifier(issuer):
    return TokenVerifier("cases", "tongban-gateway", jwks_json=issuer.jwks_json)


def b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


async def test_good_token_gives_the_principal(issuer, verifier):
    token = issuer.mint("citizen", "cases:read", ["cases"], sub="u1", id_number="X")
    p = await verifier.verify(token)
    assert (p.sub, p.role, p.has("cases:read"), p.id_number) == ("u1", "citizen", True, "X")
    assert await verifier.verify(token) is p  # cached


def forged(issuer) -> dict[str, str]:
    good = issuer.mint("admin", "cases:admin", ["cases"])
    head, body, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    pub_pem = issuer.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_head = b64({"alg": "HS256", "kid": issuer.kid, "typ": "JWT"})
    hs_sig = base64.urlsafe_b64encode(hmac.new(pub_pem, f"{hs_head}.{body}".encode(), hashlib.sha256).digest())
    return {
        "alg none": f"{b64({'alg': 'none', 'kid': issuer.kid})}.{body}.",
        "HS256 with the public key": f"{hs_head}.{body}.{hs_sig.rstrip(b'=').decode()}",
        "tampered payload": f"{head}.{b64({**claims, 'role': 'root'})}.{sig}",
        "expired": issuer.mint("admin", "cases:admin", ["cases"], ttl=-60),
        "wrong audience": issuer.mint("admin", "cases:admin", ["catalog"]),
        "unknown kid": jwt.encode({**claims, "exp": int(time.time()) + 60}, issuer.key, algorithm="ES256",
                                  headers={"kid": "nobody"}),
        "another key": TokenIssuer().mint("admin", "cases:admin", ["cases"]),
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize("case", ["alg none", "HS256 with the public key", "tampered payload", "expired",
                                  "wrong audience", "unknown kid", "another key", "garbage"])
async def test_forged_tokens_are_refused(issuer, verifier, case):
    with pytest.raises(InvalidToken):
        await verifier.verify(forged(issuer)[case])


def test_ownership_rules():
    citizen = Principal(sub="c", role="citizen", scopes=frozenset(), id_number="A")
    ensure_owner(citizen, person="A")
    with pytest.raises(NotOwner):
        ensure_owner(citizen, person="B")
    approver = Principal(sub="a", role="approver", scopes=frozenset({"cases:read"}), department="D1")
    ensure_owner(approver, person="B", department="D1", staff_scope="cases:read")
    with pytest.raises(NotOwner):
        ensure_owner(approver, person="B", department="D2", staff_scope="cases:read")
    company = Principal(sub="k", role="company", scopes=frozenset({"cases:read"}), credit_code="C")
    ensure_owner(company, company="C")
    with pytest.raises(NotOwner):
        ensure_owner(company, company="D", staff_scope="cases:read")
