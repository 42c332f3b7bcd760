"""Mutual recognition (深中互认): the partner city's keys on our trust list, and the type mapping."""

import datetime as dt
import secrets
import time
import urllib.parse

import httpx
import pytest
from sqlalchemy import select

from tongban.credentials.licence.service import encode_bitstring
from tongban.credentials.presentation import service as presentations
from tongban.credentials.presentation import token
from tongban.credentials.presentation.models import PresentationCheck
from tongban.credentials.signing import algorithms, keystore, proof

API = "/api/v1/credentials"
SHENZHEN = "440300"
SZ_ISSUER = "11440300MB2C12345X"   # pattern only: trust-list issuer codes are the partner's business
SZ_LISTS = "https://sz.example/api/v1/credentials/status-lists/{list}"
SZ_LIST_SIGNER = "sz-status-1"


def shenzhen_presentation(kid: str, algorithm: str, private: bytes, typ: str = "SZ-BIZ-001",
                          **extra) -> str:  # noqa: ANN003
    now = int(time.time())
    document = {"v": 1, "pid": secrets.token_urlsafe(16), "lid": "1.2.156.3005.2.SZ.1.1.X", "ver": 1, "typ": typ,
                "iss": SZ_ISSUER, "iat": now, "exp": now + 300, "kid": kid, "valid_until": None,
                "fields": {"company_name": "深圳市某某科技有限公司"}, "status": {"list": 1, "index": 7}, **extra}
    return token.encode(document, algorithms.sign(algorithm, private, algorithms.canonical(document)))


def key_entry(kid: str, algorithm: str, public: bytes) -> dict:
    return {"kid": kid, "issuer_code": SZ_ISSUER, "algorithm": algorithm, "public_key": algorithms.b64u(public)}


def interop_headers(tokens) -> dict:  # noqa: ANN001
    return tokens.headers("service", "credentials:read credentials:trust", sub="service:svc-interop")


async def verify(svc, qr: str, headers: dict | None = None) -> dict:  # noqa: ANN001
    r = await svc.post(f"{API}/verifications", json={"presentation": qr}, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()


class ShenzhenLists:
    """Shenzhen's published status lists, as its svc-credentials would serve them (the partner
    city is outside our platform: a fake HTTP transport stands for it). Signed with a Shenzhen key
    (made in the test's key store, published to our trust list as Shenzhen's)."""

    def __init__(self) -> None:
        self.public = keystore.current().generate(SZ_LIST_SIGNER, "Ed25519")
        self.served: dict[tuple[str, str], dict | int] = {}
        self.calls = 0

    def key(self) -> dict:
        return key_entry(SZ_LIST_SIGNER, "Ed25519", self.public)

    def publish(self, list_id: int, purpose: str, positions: list[int], valid_for: int = 86400,
                as_id: int | None = None) -> dict:
        now = int(time.time())
        url = SZ_LISTS.format(list=as_id or list_id) + f"?purpose={purpose}"
        credential = {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": url,
                      "type": ["VerifiableCredential", "BitstringStatusListCredential"],
                      "validFrom": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                      "validUntil": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + valid_for)),
                      "credentialSubject": {"id": url + "#list", "type": "BitstringStatusList",
                                            "statusPurpose": purpose, "encodedList": encode_bitstring(131072, positions)}}
        signed = proof.add_proof(credential, SZ_LIST_SIGNER, "Ed25519", f"https://sz.example/keys#{SZ_LIST_SIGNER}",
                                 credential["validFrom"])
        self.served[(str(list_id), purpose)] = signed
        return signed

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        list_id = request.url.path.rsplit("/", 1)[1]
        purpose = urllib.parse.parse_qs(request.url.query.decode()).get("purpose", [""])[0]
        answer = self.served.get((list_id, purpose), 404)
        return httpx.Response(answer, json={}) if isinstance(answer, int) else httpx.Response(200, json=answer)


@pytest.fixture
def shenzhen(svc) -> ShenzhenLists:  # noqa: ANN001
    lists = ShenzhenLists()
    for purpose in ("revocation", "suspension"):
        lists.publish(1, purpose, [])
    svc.app.state.partner_status_lists.http = httpx.AsyncClient(headers={"Accept-Language": "en"}, transport=httpx.MockTransport(lists.handler))
    return lists


async def test_partner_presentation_verifies_once_its_key_is_trusted(svc, tokens, shenzhen) -> None:
    ed_private, ed_public = algorithms.generate("Ed25519")
    sm_private, sm_public = algorithms.generate("SM2")
    qr = shenzhen_presentation("sz-ed-1", "Ed25519", ed_private)
    assert (await verify(svc, qr))["result"] == "forged"   # not on the trust list yet

    body = {"name": "深圳市", "status_list_url": SZ_LISTS,
            "keys": [key_entry("sz-ed-1", "Ed25519", ed_public), key_entry("sz-sm2-1", "SM2", sm_public),
                     shenzhen.key()]}
    r = await svc.put(f"{API}/trusted-issuers/{SHENZHEN}", json=body, headers=interop_headers(tokens))
    assert r.status_code == 200, r.text
    assert {k["kid"]: k["status"] for k in r.json()["keys"]} == {"sz-ed-1": "active", "sz-sm2-1": "active",
                                                                 SZ_LIST_SIGNER: "active"}
    assert r.json()["status_list_url"] == SZ_LISTS
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

    # Shenzhen drops its Ed25519 key: retired, not forgotten; it still verifies what it signed
    # before, nothing new. A sync that leaves the status-list URL out keeps it.
    r = await svc.put(f"{API}/trusted-issuers/{SHENZHEN}", json={"name": "深圳市", "keys": body["keys"][1:]},
                      headers=tokens.admin)
    assert {k["kid"]: k["status"] for k in r.json()["keys"]} == {"sz-ed-1": "retired", "sz-sm2-1": "active",
                                                                 SZ_LIST_SIGNER: "active"}
    assert r.json()["status_list_url"] == SZ_LISTS
    before = shenzhen_presentation("sz-ed-1", "Ed25519", ed_private, iat=int(time.time()) - 60)
    assert (await verify(svc, before))["result"] == "valid"
    after = shenzhen_presentation("sz-ed-1", "Ed25519", ed_private, iat=int(time.time()) + 5)
    assert (await verify(svc, after)) == {**(await verify(svc, after)), "result": "forged",
                                          "reason": "signed by a partner key after it was retired"}

    listed = (await svc.get(f"{API}/trusted-issuers", headers=interop_headers(tokens))).json()
    assert listed["total"] == 1 and len(listed["items"][0]["keys"]) == 3
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
    # A partner vouches only for issuers registered in its region (Guangzhou's is 4401xx).
    r = await svc.put(f"{API}/trusted-issuers/440100", json={"name": "广州市", "keys": [
        key_entry("gz-1", "Ed25519", public)]}, headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "keys[0].issuer_code"
    # A kid belongs to one region.
    r = await svc.put(f"{API}/trusted-issuers/440100", json={"name": "广州市", "keys": [
        key_entry("sz-1", "Ed25519", public)]}, headers=headers)
    assert r.status_code == 422
    listed = (await svc.get(f"{API}/trusted-issuers", headers=tokens.admin)).json()
    assert [region["region_code"] for region in listed["items"]] == [SHENZHEN]   # nothing half-written


async def test_partner_status_lists_and_replays(svc, tokens, shenzhen) -> None:
    private, public = algorithms.generate("Ed25519")   # kid sz-ed-2: verifiers cache keys by kid for good
    body = {"name": "深圳市", "keys": [key_entry("sz-ed-2", "Ed25519", public), shenzhen.key()]}
    url = f"{API}/trusted-issuers/{SHENZHEN}"
    assert (await svc.put(url, json=body, headers=interop_headers(tokens))).status_code == 200

    def shown(list_id: int = 1, index: int = 7, **extra) -> str:  # noqa: ANN003
        return shenzhen_presentation("sz-ed-2", "Ed25519", private, status={"list": list_id, "index": index}, **extra)

    # No status-list URL on the trust list: signed, but its status cannot be known.
    answer = await verify(svc, shown())
    assert answer["result"] == "unknown" and answer["reason"].startswith("status unknown") and answer["fields"] is None
    r = await svc.put(url, json={**body, "status_list_url": "ftp://sz.example/{list}"}, headers=interop_headers(tokens))
    assert r.status_code == 422
    assert (await svc.put(url, json={**body, "status_list_url": SZ_LISTS},
                          headers=interop_headers(tokens))).status_code == 200

    assert (await verify(svc, shown()))["result"] == "valid"
    shenzhen.publish(2, "revocation", [7])
    shenzhen.publish(2, "suspension", [])
    shenzhen.publish(3, "revocation", [])
    shenzhen.publish(3, "suspension", [9])
    assert (await verify(svc, shown(2)))["result"] == "revoked"
    assert (await verify(svc, shown(3, 9)))["result"] == "suspended"
    assert (await verify(svc, shown(3, 10)))["result"] == "valid"
    calls = shenzhen.calls
    assert (await verify(svc, shown(3, 11)))["result"] == "valid" and shenzhen.calls == calls   # cached copies

    # What cannot be fetched or trusted is "unknown", never a 500.
    shenzhen.served[("4", "revocation")] = 503
    assert (await verify(svc, shown(4)))["result"] == "unknown"
    forged = dict(shenzhen.publish(5, "revocation", []))
    forged["credentialSubject"] = {**forged["credentialSubject"], "encodedList": encode_bitstring(131072, [7])}
    shenzhen.served[("5", "revocation")] = forged
    assert (await verify(svc, shown(5)))["result"] == "unknown"
    shenzhen.publish(6, "revocation", [], as_id=1)   # a good list of another id stands in
    assert (await verify(svc, shown(6)))["result"] == "unknown"
    assert (await verify(svc, shown(3, 131072 * 8)))["result"] == "unknown"
    assert (await verify(svc, shown(index=-1)))["result"] == "unknown"

    # Replays: the first verifier may check again (a retry); another verifier may not, nor anyone
    # anonymous, nor anyone once it has expired.
    qr = shown()
    alice = tokens.headers("approver", "credentials:use", sub="verifier-a", department="11442000MB0000002B")
    bob = tokens.headers("approver", "credentials:use", sub="verifier-b", department="11442000MB0000002B")
    assert (await verify(svc, qr, alice))["result"] == "valid"
    assert (await verify(svc, qr, alice))["result"] == "valid"
    for headers in (bob, None):
        again = await verify(svc, qr, headers)
        assert again["result"] == "invalid" and again["reason"].startswith("replayed") and again["fields"] is None
    anonymous_qr = shown()
    assert (await verify(svc, anonymous_qr))["result"] == "valid"
    assert (await verify(svc, anonymous_qr))["reason"].startswith("replayed")
    document, _, _ = token.decode(qr)
    late = token.encode({**document, "exp": int(time.time()) - 1},
                        algorithms.sign("Ed25519", private, algorithms.canonical({**document, "exp": int(time.time()) - 1})))
    # Same pid, past its expiry: seen before, so a replay; never seen, merely expired.
    assert (await verify(svc, late, alice))["reason"].startswith("replayed")
    assert (await verify(svc, shown(exp=int(time.time()) - 1)))["reason"] == "the presentation has expired"


async def test_replay_records_are_purged_after_expiry(svc) -> None:  # noqa: ANN001
    now = dt.datetime.now(dt.UTC)
    async with svc.app.state.sessionmaker() as s, s.begin():
        s.add_all([PresentationCheck(origin=SHENZHEN, pid="old", verifier="anonymous",
                                     expires_at=now - dt.timedelta(days=2)),
                   PresentationCheck(origin="", pid="recent", verifier="anonymous",
                                     expires_at=now - dt.timedelta(hours=1))])
    await presentations.purge_replay_records(svc.app.state.sessionmaker)
    async with svc.app.state.sessionmaker() as s:
        assert list((await s.execute(select(PresentationCheck.pid))).scalars()) == ["recent"]
