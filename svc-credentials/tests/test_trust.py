"""Mutual recognition (深中互认): the partner city's keys on our trust list, and the type mapping."""

import time

from tongban.credentials.presentation import token
from tongban.credentials.signing import algorithms

API = "/api/v1/credentials"
SHENZHEN = "440300"
SZ_ISSUER = "11440300MB2C12345X"   # pattern only: trust-list issuer codes are the partner's business


def shenzhen_presentation(kid: str, algorithm: str, private: bytes, typ: str = "SZ-BIZ-001",
                          **extra) -> str:  # noqa: ANN003
    now = int(time.time())
    document = {"v": 1, "pid": "sz-presentation-0001", "lid": "1.2.156.3005.2.SZ.1.1.X", "ver": 1, "typ": typ,
                "iss": SZ_ISSUER, "iat": now, "exp": now + 300, "kid": kid, "valid_until": None,
                "fields": {"company_name": "深圳市某某科技有限公司"}, "status": {"list": 1, "index": 7}, **extra}
    return token.encode(document, algorithms.sign(algorithm, private, algorithms.canonical(document)))


def key_entry(kid: str, algorithm: str, public: bytes) -> dict:
    return {"kid": kid, "issuer_code": SZ_ISSUER, "algorithm": algorithm, "public_key": algorithms.b64u(public)}


def interop_headers(tokens) -> dict:  # noqa: ANN001
    return tokens.headers("service", "credentials:read credentials:trust", sub="service:svc-interop")


async def verify(svc, qr: str) -> dict:  # noqa: ANN001
    r = await svc.post(f"{API}/verifications", json={"presentation": qr})
    assert r.status_code == 200, r.text
    return r.json()


async def test_partner_presentation_verifies_once_its_key_is_trusted(svc, tokens) -> None:
    ed_private, ed_public = algorithms.generate("Ed25519")
    sm_private, sm_public = algorithms.generate("SM2")
    qr = shenzhen_presentation("sz-ed-1", "Ed25519", ed_private)
    assert (await verify(svc, qr))["result"] == "forged"   # not on the trust list yet

    body = {"name": "深圳市", "keys": [key_entry("sz-ed-1", "Ed25519", ed_public),
                                      key_entry("sz-sm2-1", "SM2", sm_public)]}
    r = await svc.put(f"{API}/trusted-issuers/{SHENZHEN}", json=body, headers=interop_headers(tokens))
    assert r.status_code == 200, r.text
    assert {k["kid"]: k["status"] for k in r.json()["keys"]} == {"sz-ed-1": "active", "sz-sm2-1": "active"}
    again = await svc.put(f"{API}/trusted-issuers/{SHENZHEN}", json=body, headers=interop_headers(tokens))
    assert again.json() == r.json()   # idempotent
    audit = (await svc.get(f"{API}/audit-events", params={"entity": "trusted_region"}, headers=tokens.admin)).json()
    assert audit["total"] == 1 and audit["items"][0]["actor"] == "service:svc-interop"

    # The mapping table: Shenzhen's business licence stands for ours.
    mapping = {"region_code": SHENZHEN, "partner_type_code": "SZ-BIZ-001", "partner_type_name": "营业执照（深圳）",
               "our_type_code": "BIZ-LICENCE"}
    r = await svc.post(f"{API}/licence-type-mappings", json=mapping, headers=tokens.admin)
    assert r.status_code == 201, r.text
    dup = await svc.post(f"{API}/licence-type-mappings", json=mapping, headers=tokens.admin)
    assert dup.status_code == 409
    assert (await svc.post(f"{API}/licence-type-mappings", json=mapping,
                           headers=interop_headers(tokens))).status_code == 403

    answer = await verify(svc, qr)
    assert answer["result"] == "valid" and answer["issuer_region"] == SHENZHEN and answer["issuer_name"] == "深圳市"
    assert answer["fields"] == {"company_name": "深圳市某某科技有限公司"}
    assert answer["recognised_as"] == ["BIZ-LICENCE"]
    sm2_qr = shenzhen_presentation("sz-sm2-1", "SM2", sm_private)
    assert (await verify(svc, sm2_qr))["result"] == "valid"
    tampered = token.encode({**token.decode(qr)[0], "fields": {"company_name": "别的公司"}}, token.decode(qr)[2])
    assert (await verify(svc, tampered))["result"] == "forged"
    stale = shenzhen_presentation("sz-ed-1", "Ed25519", ed_private, exp=int(time.time()) - 1)
    assert (await verify(svc, stale))["result"] == "invalid"
    far = shenzhen_presentation("sz-ed-1", "Ed25519", ed_private, iat=10 ** 15, exp=10 ** 15)
    assert (await verify(svc, far))["result"] == "invalid"   # signed, but no 500 on absurd times
    other_issuer = shenzhen_presentation("sz-ed-1", "Ed25519", ed_private, iss="11440300MB2C99999X")
    assert (await verify(svc, other_issuer))["result"] == "forged"

    # Shenzhen drops its Ed25519 key: retired, not forgotten; it still verifies what it signed.
    r = await svc.put(f"{API}/trusted-issuers/{SHENZHEN}", json={"name": "深圳市", "keys": [body["keys"][1]]},
                      headers=tokens.admin)
    assert {k["kid"]: k["status"] for k in r.json()["keys"]} == {"sz-ed-1": "retired", "sz-sm2-1": "active"}
    assert (await verify(svc, shenzhen_presentation("sz-ed-1", "Ed25519", ed_private)))["result"] == "valid"

    listed = (await svc.get(f"{API}/trusted-issuers", headers=interop_headers(tokens))).json()
    assert listed["total"] == 1 and len(listed["items"][0]["keys"]) == 2
    assert (await svc.get(f"{API}/trusted-issuers", headers=tokens.citizen)).status_code == 403

    ok = (await svc.get(f"{API}/licence-type-mappings/satisfies",
                        params={"type_code": "SZ-BIZ-001", "required_type_code": "BIZ-LICENCE"})).json()
    assert ok["satisfies"] and ok["via"]["region_code"] == SHENZHEN
    no = (await svc.get(f"{API}/licence-type-mappings/satisfies",
                        params={"type_code": "SZ-FOOD-002", "required_type_code": "BIZ-LICENCE"})).json()
    assert no["satisfies"] is False


async def test_trust_list_refuses_bad_and_changed_keys(svc, tokens, k) -> None:
    _, public = algorithms.generate("Ed25519")
    url = f"{API}/trusted-issuers/{SHENZHEN}"
    headers = interop_headers(tokens)
    assert (await svc.put(url, json={"name": "深圳市", "keys": [key_entry("sz-1", "Ed25519", public)]},
                          headers=headers)).status_code == 200
    _, other = algorithms.generate("Ed25519")
    r = await svc.put(url, json={"name": "深圳市", "keys": [key_entry("sz-1", "Ed25519", other)]}, headers=headers)
    assert r.status_code == 422 and "new kid" in r.json()["detail"]
    for bad in (key_entry("sz-2", "SM2", b"\x04" + b"\x01" * 64), key_entry("sz-2", "Ed25519", b"short"),
                {**key_entry("sz-2", "Ed25519", public), "public_key": "***"}):
        r = await svc.put(url, json={"name": "深圳市", "keys": [bad]}, headers=headers)
        assert r.status_code == 422, bad
    r = await svc.put(f"{API}/trusted-issuers/44030", json={"name": "深圳市", "keys": []}, headers=headers)
    assert r.status_code == 422
    r = await svc.put(url, json={"name": "深圳市", "keys": []}, headers=tokens.citizen)
    assert r.status_code == 403
    # Our own issuers' kids cannot be smuggled in as a partner's.
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    # Our published keys carry `public_key` in the very encoding the trust list takes.
    ours = (await svc.get(f"{API}/keys")).json()["keys"]
    assert all(algorithms.unb64u(j["public_key"]) == algorithms.public_key_from_jwk(j)[1] for j in ours)
    r = await svc.put(f"{API}/trusted-issuers/440100", json={"name": "广州市", "keys": [
        {**key_entry(lic["kid"], "Ed25519", public)}]}, headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "keys[0].kid"
    # A kid belongs to one region.
    r = await svc.put(f"{API}/trusted-issuers/440100", json={"name": "广州市", "keys": [
        key_entry("sz-1", "Ed25519", public)]}, headers=headers)
    assert r.status_code == 422
    listed = (await svc.get(f"{API}/trusted-issuers", headers=tokens.admin)).json()
    assert [region["region_code"] for region in listed["items"]] == [SHENZHEN]   # nothing half-written
