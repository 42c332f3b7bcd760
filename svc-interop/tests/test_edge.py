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
    """What the ledger holds of messages that came in (the worker's first pull from the newly
    registered partner, an outbound entry, may land at any moment of the test)."""
    items = (await zs.get("/api/v1/interop/ledger/entries", params={"limit": 200}, headers=admin)).json()["items"]
    return [e for e in items if e["direction"] == "inbound"]


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


def test_partner_keys_claim_only_issuers_of_the_partners_region():
    from tongban.interop.trust.service import trusted_key
    from tongban.shared.ids import credit_code_check_char

    def jwk(issuer17: str, **extra):  # noqa: ANN003, ANN202
        return {"kid": "k1", "issuer": issuer17 + credit_code_check_char(issuer17), "kty": "OKP", "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", **extra}

    assert trusted_key(jwk("11440305MB0000001"), "440300", "442000").issuer_code.startswith("11440305")  # a district
    assert trusted_key(jwk("11442000MB0000001"), "440300", "442000") is None      # ours
    assert trusted_key(jwk("11440100MB0000001"), "440300", "442000") is None      # Guangzhou's
    assert trusted_key(jwk("11440300MB0000001", status="retired"), "440300", "442000").status == "retired"


async def test_partner_urls_stay_on_its_registered_base_and_off_private_addresses(infra, token_issuer, admin, kit):
    from tongban.interop.partner import urls

    assert urls.literal_problem("http://127.0.0.1:8100", False) == "names a loopback address"
    assert urls.literal_problem("http://10.1.2.3/", False) == "names not a public address"
    assert urls.literal_problem("http://[::1]/", False) is not None
    assert urls.literal_problem("http://localhost:8000", False) == "names localhost"
    assert urls.literal_problem("http://127.0.0.1:8100", True) is None        # the two-city demo
    assert urls.literal_problem("https://sz.example.gov.cn/", False) is None
    assert urls.under_base("https://sz.example/api/v1/credentials/status-lists/0", "https://sz.example")
    assert not urls.under_base("https://sz.example.evil/x", "https://sz.example")
    assert not urls.under_base("http://sz.example/x", "https://sz.example")
    assert not urls.under_base("https://sz.example/gw/../admin", "https://sz.example/gw")
    with pytest.raises(urls.UnsafeUrl, match="not under"):
        await urls.check_published("https://elsewhere.example/lists/0", ["https://sz.example"], False)
    with pytest.raises(urls.UnsafeUrl, match="loopback"):
        await urls.check_published("http://127.0.0.1:8000/l/0", ["http://127.0.0.1:8000"], False)

    sz = kit.PartnerCity(SHENZHEN, token_issuer)
    async with kit.interop(infra, token_issuer, allow_private_partner_urls=False) as zs:
        body = {**partner_body(sz), "base_url": "http://127.0.0.1:8100"}
        r = await zs.post("/api/v1/interop/partners", json=body, headers=admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "base_url"
        body = {**partner_body(sz), "token_url": "http://169.254.169.254/latest"}
        r = await zs.post("/api/v1/interop/partners", json=body, headers=admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "token_url"
        assert (await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)).status_code == 201
        r = await zs.patch(f"/api/v1/interop/partners/{SHENZHEN}", json={"base_url": "http://10.0.0.5"},
                           headers=admin)
        assert r.status_code == 422
