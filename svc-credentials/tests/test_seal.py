"""Company e-seals: issued on registration or on request, delegated, applied, verified, logged."""

import datetime as dt
import hashlib
import json
import uuid

from cryptography.hazmat.primitives import hashes
from sqlalchemy import func, select

from tongban.credentials.seal import timestamp
from tongban.credentials.seal.models import Seal
from tongban.credentials.seal.token import decode, encode, verify_offline
from tongban.credentials.signing.algorithms import b64u, unb64u
from tongban.shared.contracts.cases import CASE_APPROVED, CaseApprovedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import wait_for

API = "/api/v1/credentials"
REGISTRATION_ITEM = "440100100000"   # 企业设立登记 in the demo catalogue (seeded by the migration)


def sm3(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def company_headers(tokens, k, role: str = "legal_representative", sub: str = "rep-1",  # noqa: ANN001, ANN201
                    company=None):  # noqa: ANN001
    return tokens.headers("company", "credentials:read credentials:seal", sub=sub, name=f"{sub} name",
                          credit_code=company or k.COMPANY, company_role=role)


async def test_registration_issues_four_seals_once(svc, infra, tokens, k) -> None:
    case_id = uuid.uuid4()
    approved = CaseApprovedV1(case_id=case_id, case_number="ZS2026-000777", item_basic_code=REGISTRATION_ITEM,
                              applicant_type="company", applicant_id=k.COMPANY, applicant_name="中山市通办科技有限公司",
                              department=k.DEPT, approved_at=dt.datetime.now(dt.UTC))
    nc = await bus.connect(infra.nats.url, "test-publisher")
    await bus.ensure_stream(nc.jetstream(), "cases")
    for event in (make_event("cases", CASE_APPROVED, approved), make_event("cases", CASE_APPROVED, approved),
                  make_event("cases", CASE_APPROVED, approved.model_copy(update={
                      "case_id": uuid.uuid4(), "item_basic_code": "442000003000"}))):  # not a registration
        await nc.jetstream().publish(CASE_APPROVED, event.model_dump_json().encode(),
                                     headers={"Nats-Msg-Id": str(event.id)})
    await nc.close()
    consumer = next(c for c in svc.app.state.runtime.consumers if c.sub.durable == "credentials-cases-case")
    await wait_for(lambda: _true(consumer.handled >= 3))

    rep = company_headers(tokens, k)
    seals = (await svc.get(f"{API}/seals", headers=rep)).json()
    assert seals["total"] == 4
    assert {s["kind"] for s in seals["items"]} == {"legal_name", "finance", "contract", "invoice"}
    assert {s["name"] for s in seals["items"]} >= {"中山市通办科技有限公司", "中山市通办科技有限公司合同专用章"}
    assert all(s["source"] == "registration" and s["algorithm"] == "SM2" for s in seals["items"])
    async with svc.app.state.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(Seal))).scalar() == 4
    # Someone else's company sees none of them; a citizen cannot list seals.
    other = company_headers(tokens, k, company=k.credit("91442000MA4UAB99X"))
    assert (await svc.get(f"{API}/seals", headers=other)).json()["total"] == 0
    assert (await svc.get(f"{API}/seals", headers=tokens.citizen)).status_code == 403


async def _true(value: bool) -> bool:
    return value


async def test_delegate_apply_verify_and_log(svc, tokens, k) -> None:
    rep = company_headers(tokens, k)
    staff = company_headers(tokens, k, role="agent", sub="staff-1")
    stranger = company_headers(tokens, k, role="agent", sub="staff-2")
    r = await svc.post(f"{API}/seals", json={"kind": "contract", "company_name": "中山市通办科技有限公司"},
                       headers={**rep, "Idempotency-Key": "seal-1"})
    assert r.status_code == 201, r.text
    seal = r.json()
    assert seal["name"] == "中山市通办科技有限公司合同专用章" and seal["source"] == "request"
    again = await svc.post(f"{API}/seals", json={"kind": "contract", "company_name": "x"}, headers=rep)
    assert again.status_code == 409 and again.json()["code"] == "seal_exists"
    # Only the legal representative asks for seals and delegates them.
    r = await svc.post(f"{API}/seals", json={"kind": "finance", "company_name": "x"}, headers=staff)
    assert r.status_code == 403 and r.json()["code"] == "outside_delegation"

    digest = sm3("采购合同 No.2026-001".encode())
    url = f"{API}/seals/{seal['id']}"
    r = await svc.post(f"{url}/applications", json={"document_hash": digest}, headers=staff)
    assert r.status_code == 403 and r.json()["refusal"] == "no_delegation"

    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    r = await svc.post(f"{url}/delegations", json={"grantee_sub": "staff-1", "grantee_name": "王五",
                                                   "expires_at": expires}, headers=staff)
    assert r.status_code == 403
    r = await svc.post(f"{url}/delegations", json={"grantee_sub": "staff-1", "grantee_name": "王五",
                                                   "expires_at": expires}, headers=rep)
    assert r.status_code == 201, r.text
    delegation = r.json()
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    r = await svc.post(f"{url}/delegations", json={"grantee_sub": "staff-2", "grantee_name": "赵六",
                                                   "expires_at": past}, headers=rep)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expires_at"

    r = await svc.post(f"{url}/applications", json={"document_hash": digest, "document_name": "采购合同"},
                       headers={**staff, "Idempotency-Key": "apply-1"})
    assert r.status_code == 201, r.text
    applied = r.json()
    assert applied["use"]["actor"] == "staff-1" and applied["use"]["delegation_id"] == delegation["id"]
    r = await svc.post(f"{url}/applications", json={"document_hash": digest, "document_name": "采购合同"},
                       headers={**staff, "Idempotency-Key": "apply-1"})
    assert r.headers.get("idempotent-replayed") == "true" and r.json()["stamp"] == applied["stamp"]
    r = await svc.post(f"{url}/applications", json={"document_hash": digest}, headers=stranger)
    assert r.status_code == 403 and r.json()["refusal"] == "no_delegation"
    r = await svc.post(f"{url}/applications", json={"document_hash": "zz" * 32}, headers=staff)
    assert r.status_code == 422

    # Public verification: no login; the digest must be the sealed one.
    check = {"document_hash": digest, "hash_algorithm": "SM3", "stamp": applied["stamp"]}
    v = (await svc.post(f"{API}/seal-verifications", json=check)).json()
    assert v["result"] == "valid" and v["company_code"] == k.COMPANY and v["kind"] == "contract"
    assert v["seal_name"] == seal["name"] and v["sealed_at"] == applied["sealed_at"]
    changed = {**check, "document_hash": sm3("采购合同 No.2026-002".encode())}
    assert (await svc.post(f"{API}/seal-verifications", json=changed)).json()["result"] == "invalid"
    other_alg = {**check, "hash_algorithm": "SHA-256"}
    assert (await svc.post(f"{API}/seal-verifications", json=other_alg)).json()["result"] == "invalid"
    document, _, signature = decode(applied["stamp"])
    forged = encode({**document, "hash": hashlib.sha256(b"x").hexdigest()}, signature)
    v = (await svc.post(f"{API}/seal-verifications", json={**check, "stamp": forged})).json()
    assert v["result"] == "forged" and v["company_code"] is None
    def raw(doc: dict) -> str:
        return f"TBS1.{b64u(json.dumps(doc).encode())}.{b64u(signature)}"

    for junk in ("TBS1.abc", raw({**document, "use": 2 ** 70}), raw({**document, "use": True})):
        r = await svc.post(f"{API}/seal-verifications", json={**check, "stamp": junk})
        assert r.status_code == 422 and r.json()["code"] == "malformed_stamp"
    keys = (await svc.get(f"{API}/seal-keys")).json()
    assert any(key["kid"] == seal["kid"] and key["crv"] == "SM2" for key in keys["keys"])
    assert verify_offline(applied["stamp"], digest, "SM3", keys)[0] == "valid"
    assert verify_offline(applied["stamp"], changed["document_hash"], "SM3", keys)[0] == "invalid"
    assert verify_offline(forged, digest, "SM3", keys)[0] == "forged"

    # Revoking the delegation ends the staff member's use; the log shows every attempt.
    r = await svc.post(f"{url}/delegations/{delegation['id']}/revoke", json={"reason": "离职"}, headers=rep)
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = await svc.post(f"{url}/applications", json={"document_hash": digest}, headers=staff)
    assert r.status_code == 403 and r.json()["refusal"] == "delegation_revoked"
    log = (await svc.get(f"{API}/seal-uses", headers=rep)).json()
    assert [u["outcome"] for u in log["items"]] == ["refused", "refused", "applied", "refused"]
    assert log["items"][1]["actor"] == "staff-2"
    mine = (await svc.get(f"{API}/seal-uses", headers=staff)).json()
    assert {u["actor"] for u in mine["items"]} == {"staff-1"} and mine["total"] == 3
    r = await svc.get(f"{API}/seal-uses", params={"company_code": k.DEPT}, headers=rep)
    assert r.status_code == 403

    # A revoked seal cannot be applied, but what it sealed still verifies.
    r = await svc.post(f"{url}/revoke", json={"reason": "印章遗失"}, headers=rep)
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    r = await svc.post(f"{url}/applications", json={"document_hash": digest}, headers=rep)
    assert r.status_code == 403 and r.json()["refusal"] == "seal_revoked"
    v = (await svc.post(f"{API}/seal-verifications", json=check)).json()
    assert v["result"] == "valid" and v["seal_status"] == "revoked" and "revoked" in v["reason"]
    audit = (await svc.get(f"{API}/audit-events", params={"entity": "seal_use"}, headers=tokens.admin)).json()
    assert {a["action"] for a in audit["items"]} == {"seal.applied", "seal.use_refused"}


async def test_admin_manages_registration_items(svc, tokens, k) -> None:
    items = (await svc.get(f"{API}/seal-registration-items", headers=tokens.admin)).json()
    assert [i["basic_code"] for i in items["items"]] == [REGISTRATION_ITEM]
    r = await svc.put(f"{API}/seal-registration-items/440100999000", json={"name": "外资企业设立登记"},
                      headers=tokens.admin)
    assert r.status_code == 200 and r.json()["name"] == "外资企业设立登记"
    assert (await svc.put(f"{API}/seal-registration-items/440100999000", json={"name": "外资企业设立登记"},
                          headers=tokens.admin)).status_code == 200
    assert (await svc.delete(f"{API}/seal-registration-items/440100999000", headers=tokens.admin)).status_code == 204
    assert (await svc.delete(f"{API}/seal-registration-items/440100999000", headers=tokens.admin)).status_code == 404
    assert (await svc.get(f"{API}/seal-registration-items", headers=tokens.citizen)).status_code == 403
    # Admins may issue a seal for a company, never with a bad credit code.
    r = await svc.post(f"{API}/seals", json={"kind": "invoice", "company_name": "某公司", "company_code": "123"},
                       headers=tokens.admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "company_code"
    r = await svc.post(f"{API}/seals", json={"kind": "invoice", "company_name": "某公司", "company_code": k.COMPANY,
                                             "algorithm": "Ed25519"}, headers=tokens.admin)
    assert r.status_code == 201 and r.json()["algorithm"] == "Ed25519"


async def test_seal_applications_are_time_stamped(svc, tokens, k) -> None:
    rep = company_headers(tokens, k)
    seal = (await svc.post(f"{API}/seals", json={"kind": "finance", "company_name": "中山市通办科技有限公司"},
                           headers=rep)).json()
    digest = sm3("财务报表 2026".encode())
    r = await svc.post(f"{API}/seals/{seal['id']}/applications", json={"document_hash": digest}, headers=rep)
    assert r.status_code == 201, r.text
    applied = r.json()
    assert applied["timestamp"].startswith("TBT1.")
    info = timestamp.FORMAT.decode(applied["timestamp"])[0]
    assert info["policy"] == timestamp.POLICY and info["tsa"] == "114420000073000029"
    signature = unb64u(applied["stamp"].split(".")[2])
    assert info["messageImprint"] == {"hashAlgorithm": "SM3", "hashedMessage": sm3(signature)}

    # Offline: the TSA's key is published with the issuers' (GET /keys).
    keys = (await svc.get(f"{API}/keys")).json()
    at, _ = timestamp.check(applied["timestamp"], signature, keys)
    assert at is not None and abs((at - dt.datetime.fromisoformat(applied["timestamped_at"])).total_seconds()) < 1
    assert timestamp.check(applied["timestamp"], b"another signature", keys)[0] is None
    assert timestamp.check(applied["timestamp"], signature, {"keys": []})[0] is None
    assert timestamp.check("TBT1.x.y", signature, keys)[0] is None
    # Online: the verification names when the authority time-stamped it.
    v = (await svc.post(f"{API}/seal-verifications", json={"document_hash": digest, "hash_algorithm": "SM3",
                                                           "stamp": applied["stamp"]})).json()
    assert v["result"] == "valid" and v["timestamped_at"] is not None
