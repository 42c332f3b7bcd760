"""The exchange's edge: nothing an unauthenticated or unsigned caller sends is stored (it is
counted, logged with its digest and refused); an authenticated partner's refusals are in the
log with their request's digest, not its body, and the chain still verifies."""

import hashlib
import json
import uuid

import pytest

pytestmark = pytest.mark.usefixtures("clean_nats")
PUBLIC = "http://zs.test"
SHENZHEN = "440300"
CASES = "/api/v1/interop/exchange/cases"
ITEM = "440300000100"


def partner_body(city):
    return {"region_code": city.region, "name": "深圳市", "base_url": "http://sz.test",
            "services": ["discovery"], "items": [ITEM], "keys": [city.jwk()]}


async def _entries(zs, admin) -> list[dict]:
    return (await zs.get("/api/v1/interop/ledger/entries", params={"limit": 200}, headers=admin)).json()["items"]


def _counted(metrics: str, reason: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(f'interop_unauthenticated_refusals_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_unauthenticated_and_unsigned_requests_are_counted_logged_and_not_stored(
        infra, token_issuer, admin, kit, capsys):
    sz = kit.PartnerCity(SHENZHEN, token_issuer)
    async with kit.interop(infra, token_issuer, partner_sync_seconds=3600) as zs:
        assert (await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)).status_code == 201
        before = len(await _entries(zs, admin))
        junk = b"x" * 1_000_000

        # No token at all, whatever X-Interop-Sender claims.
        r = await zs.post(CASES, content=junk, headers={"x-interop-sender": SHENZHEN, "content-type": "text/plain"})
        assert r.status_code == 401 and r.json()["request_id"] == r.headers["x-request-id"]
        # A citizen's token (even one that names the interop audience) is not a partner's.
        citizen = token_issuer.mint("citizen", "interop:exchange", ["interop"])
        r = await zs.post(CASES, content=junk, headers={"authorization": f"Bearer {citizen}"})
        assert r.status_code == 403 and r.json()["code"] == "not_a_partner"
        # The partner's token, but no signature.
        r = await zs.post(CASES, content=junk, headers={"authorization": f"Bearer {sz.token}",
                                                        "x-interop-sender": SHENZHEN})
        assert r.status_code == 401 and r.json()["code"] == "signature_missing"
        # A well-formed message signed by a key the partner never registered.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        headers, raw, _ = sz.request("GET", PUBLIC + "/api/v1/interop/exchange/services",
                                     key=Ed25519PrivateKey.generate())
        r = await zs.get("/api/v1/interop/exchange/services", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "bad_signature"

        assert len(await _entries(zs, admin)) == before  # nothing stored
        metrics = (await zs.get("/metrics")).text
        for reason in ("unauthorized", "not_a_partner", "signature_missing", "bad_signature"):
            assert _counted(metrics, reason) == 1, reason
        logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
        lines = [e for e in logged if e["logger"] == "tongban.interop.exchange" and e.get("reason") == "unauthorized"]
        assert len(lines) == 1 and lines[0]["body_sha256"] == hashlib.sha256(junk).hexdigest()
        assert lines[0]["body_bytes"] == len(junk) and lines[0]["claimed_sender"] == SHENZHEN


async def test_an_authenticated_partners_refusal_keeps_the_digest_not_the_body(infra, token_issuer, admin, kit):
    sz = kit.PartnerCity(SHENZHEN, token_issuer)
    async with kit.interop(infra, token_issuer, partner_sync_seconds=3600) as zs:
        assert (await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)).status_code == 201
        identity = (await zs.get("/api/v1/interop/identity")).json()
        body = {"case_ref": str(uuid.uuid4()), "padding": "y" * 50_000}
        message_id = str(uuid.uuid4())
        headers, raw, signed = sz.request("POST", PUBLIC + CASES, body, message_id=message_id)
        r = await zs.post(CASES, content=raw, headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "service_not_granted"  # case.forward not granted
        kit.verify_answer(r, identity, signed)

        evidence = (await zs.get(f"/api/v1/interop/ledger/messages/{message_id}/evidence", headers=admin)).json()
        [entry] = evidence["entries"]
        assert entry["outcome"] == "refused" and entry["partner"] == SHENZHEN
        assert entry["request_body_b64"] == "" and entry["request_body_kept"] is False
        assert f'"request_body_sha256":"{hashlib.sha256(raw).hexdigest()}"' in entry["canonical"]
        assert evidence["chain"]["ok"] is True

        # An accepted message keeps its body.
        headers, raw, _ = sz.request("GET", PUBLIC + "/api/v1/interop/exchange/services")
        assert (await zs.get("/api/v1/interop/exchange/services", headers=headers)).status_code == 200
        assert (await zs.get("/api/v1/interop/ledger/verify", headers=admin)).json()["ok"] is True
