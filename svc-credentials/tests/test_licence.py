"""Licence types, issuing, the wallet, versions, status changes and the status list."""

import base64
import gzip

from tongban.credentials.identifier import parse_identifier
from tongban.credentials.signing import algorithms

API = "/api/v1/credentials"


async def test_issue_sign_wallet_and_masking(svc, tokens, k) -> None:
    lt = await k.setup_type(svc, tokens)
    assert lt["fields"][1]["personal"] is True
    lic = await k.issue(svc, tokens)
    ident = parse_identifier(lic["identifier"])
    assert (ident.type_code, ident.issuer_code, ident.version) == (k.TYPE_CODE, k.DEPT, 1)
    assert lic["status"] == "valid" and lic["algorithm"] == "Ed25519"
    assert lic["valid_until"] is not None  # five years by the type's rule

    # The signature verifies with the published key over the RFC 8785 form.
    keys = (await svc.get(f"{API}/keys")).json()["keys"]
    key = next(x for x in keys if x["kid"] == lic["kid"])
    alg, public = algorithms.public_key_from_jwk(key)
    doc = {f: lic[f] for f in ("identifier", "type_code", "issuer_code", "version", "holder_type", "holder_id",
                               "holder_name", "data", "valid_from", "valid_until", "kid")}
    doc["issued_at"] = lic["issued_at"].replace("+00:00", "Z")
    assert "*" in doc["holder_id"]  # masked for the issuing staff; the signature covers the full number
    doc["holder_id"] = k.CITIZEN
    assert algorithms.verify(alg, public, algorithms.canonical(doc), algorithms.unb64u(lic["signature"]))

    mine = (await svc.get(f"{API}/me/licences", headers=tokens.citizen)).json()
    assert mine["total"] == 1 and mine["items"][0]["holder_id"] == k.CITIZEN
    assert (await svc.get(f"{API}/me/licences", headers=tokens.other_citizen)).json()["total"] == 0
    r = await svc.get(f"{API}/licences/{lic['id']}", headers=tokens.other_citizen)
    assert r.status_code == 403 and r.json()["code"] == "not_owner"
    staff = (await svc.get(f"{API}/licences/{lic['id']}", headers=tokens.approver)).json()
    assert staff["holder_id"] != k.CITIZEN and "*" in staff["holder_id"]
    assert (await svc.get(f"{API}/licences/{lic['id']}", headers=tokens.other_approver)).status_code == 403

    audit = (await svc.get(f"{API}/audit-events", params={"entity": "licence"}, headers=tokens.admin)).json()
    assert audit["items"][0]["action"] == "licence.issued" and k.CITIZEN not in str(audit)


async def test_bad_input_is_refused_with_the_field(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    bad_type = dict(k.licence_type(), code=k.DEPT[:-1] + ("0" if k.DEPT[-1] != "0" else "1") + "002")
    r = await svc.post(f"{API}/licence-types", json=bad_type, headers=tokens.admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    cases = [
        (k.licence(holder=k.CITIZEN[:-1] + ("0" if k.CITIZEN[-1] != "0" else "1")), "holder_id"),
        (k.licence(data={"business_scope": "x"}), "data.address"),
        (k.licence(data={"business_scope": "x", "address": "y", "staff": "many"}), "data.staff"),
        (k.licence(data={"business_scope": "x", "address": "y", "colour": "red"}), "data.colour"),
    ]
    for body, field in cases:
        r = await svc.post(f"{API}/licences", json=body, headers=tokens.approver)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    r = await svc.post(f"{API}/licences", json=k.licence(), headers=tokens.other_approver)
    assert r.status_code == 403 and r.json()["code"] == "not_issuer"
    r = await svc.post(f"{API}/licences", json=k.licence(), headers=tokens.citizen)
    assert r.status_code == 403
    r = await svc.get(f"{API}/licence-status/1.2.156.3005.2.{k.TYPE_CODE}.{k.DEPT}.1.1.0")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "identifier"
    assert (await svc.get(f"{API}/me/licences", headers=tokens.citizen)).json()["total"] == 0


async def test_new_version_supersedes_and_idempotent_issue(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    headers = {**tokens.approver, "Idempotency-Key": "issue-1"}
    first = await svc.post(f"{API}/licences", json=k.licence(), headers=headers)
    again = await svc.post(f"{API}/licences", json=k.licence(), headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["id"] == first.json()["id"]
    v1 = first.json()
    r = await svc.post(f"{API}/licences/{v1['id']}/versions", headers=tokens.approver,
                       json={"data": {"business_scope": "散装食品销售", "address": "中山市石岐区"}, "reason": "经营范围变更"})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["serial"] == v1["serial"] and v2["identifier"] != v1["identifier"]
    old = await svc.get(f"{API}/licence-status/{v1['identifier']}")
    assert old.json()["status"] == "superseded"
    assert (await svc.get(f"{API}/licence-status/{v2['identifier']}")).json()["status"] == "valid"
    r = await svc.post(f"{API}/licences/{v1['id']}/versions", headers=tokens.approver, json={"reason": "again"})
    assert r.status_code == 409
    wallet = (await svc.get(f"{API}/me/licences", headers=tokens.citizen)).json()
    assert [x["version"] for x in wallet["items"]] == [2]
    everything = (await svc.get(f"{API}/me/licences", params={"include_superseded": "true"},
                                headers=tokens.citizen)).json()
    assert sorted(x["version"] for x in everything["items"]) == [1, 2]


async def test_suspend_reinstate_revoke_and_status_list(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    url = f"{API}/licences/{lic['id']}"
    assert (await svc.post(f"{url}/suspend", json={"reason": "核查中"}, headers=tokens.citizen)).status_code == 403
    r = await svc.post(f"{url}/suspend", json={"reason": "核查中"}, headers=tokens.approver)
    assert r.json()["status"] == "suspended" and r.json()["status_reason"] == "核查中"
    index = lic["credential_status"]["status_list_index"]
    list_url = lic["credential_status"]["status_list_credential"]

    async def bit(purpose: str) -> bool:
        resp = await svc.get(list_url, params={"purpose": purpose})
        assert "max-age" in resp.headers["cache-control"]
        encoded = resp.json()["credentialSubject"]["encodedList"]
        raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
        assert len(raw) * 8 == 131072
        return bool(raw[index // 8] & (0x80 >> (index % 8)))

    assert await bit("suspension") and not await bit("revocation")
    assert (await svc.post(f"{url}/reinstate", json={"reason": "核查无误"}, headers=tokens.approver)).json()[
        "status"] == "valid"
    assert not await bit("suspension")
    assert (await svc.post(f"{url}/revoke", json={"reason": "吊销"}, headers=tokens.admin)).json()["status"] == "revoked"
    assert await bit("revocation")
    r = await svc.post(f"{url}/reinstate", json={"reason": "x"}, headers=tokens.approver)
    assert r.status_code == 409 and r.json()["code"] == "invalid_status_transition"
    r = await svc.post(f"{url}/revoke", json={"reason": ""}, headers=tokens.approver)
    assert r.status_code == 422


async def test_sm2_issuer_and_key_rotation(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    first = await k.issue(svc, tokens)
    r = await svc.put(f"{API}/issuers/{k.DEPT}", json={"name": "中山市市场监督管理局", "algorithm": "SM2"},
                      headers=tokens.admin)
    assert r.status_code == 200 and r.json()["algorithm"] == "SM2"
    second = await k.issue(svc, tokens)
    assert second["algorithm"] == "SM2" and second["kid"] != first["kid"]
    rotated = await svc.post(f"{API}/issuers/{k.DEPT}/keys", headers=tokens.admin)
    assert rotated.status_code == 201
    keys = {x["kid"]: x for x in (await svc.get(f"{API}/keys")).json()["keys"]}
    assert keys[first["kid"]]["status"] == "retired" and keys[first["kid"]]["crv"] == "Ed25519"
    assert keys[second["kid"]]["status"] == "retired" and keys[second["kid"]]["crv"] == "SM2"
    assert keys[rotated.json()["kid"]]["status"] == "active"
    # Both old signatures still verify after rotation.
    for lic in (first, second):
        alg, public = algorithms.public_key_from_jwk(keys[lic["kid"]])
        doc = {f: lic[f] for f in ("identifier", "type_code", "issuer_code", "version", "holder_type", "holder_id",
                                   "holder_name", "data", "valid_from", "valid_until", "kid")}
        doc["issued_at"] = lic["issued_at"].replace("+00:00", "Z")
        doc["holder_id"] = k.CITIZEN
        assert algorithms.verify(alg, public, algorithms.canonical(doc), algorithms.unb64u(lic["signature"]))
    third = await k.issue(svc, tokens)
    assert third["kid"] == rotated.json()["kid"]
