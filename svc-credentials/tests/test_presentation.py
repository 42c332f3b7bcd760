"""Presentations (亮证): made by the holder, verified online by anyone and offline with the keys."""

import datetime as dt
import time

import pytest

from sqlalchemy import update

from tongban.credentials.presentation import token
from tongban.credentials.presentation.models import Presentation
from tongban.credentials.signing import algorithms

API = "/api/v1/credentials"


async def present(svc, tokens, lic, **body) -> dict:  # noqa: ANN001, ANN003
    r = await svc.post(f"{API}/licences/{lic['id']}/presentations", json=body, headers=tokens.citizen)
    assert r.status_code == 201, r.text
    return r.json()


async def verify(svc, qr: str, headers: dict | None = None) -> dict:  # noqa: ANN001
    r = await svc.post(f"{API}/verifications", json={"presentation": qr}, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()


async def test_selective_presentation_verifies_online_and_offline(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    p = await present(svc, tokens, lic, fields=["business_scope"], single_use=False)
    assert p["qr"].startswith("TBP1.") and len(p["id"]) >= 22
    expires = dt.datetime.fromisoformat(p["expires_at"])
    assert 240 <= (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 300

    answer = await verify(svc, p["qr"])  # anonymous: no login needed
    assert answer["result"] == "valid" and answer["issuer_code"] == k.DEPT
    assert answer["issuer_name"] == "中山市市场监督管理局"
    assert answer["fields"] == {"business_scope": "预包装食品销售"}
    assert k.CITIZEN not in str(answer) and "张三" not in str(answer) and "中山四路" not in str(answer)

    keys = (await svc.get(f"{API}/keys")).json()
    offline = token.verify_offline(p["qr"], keys)
    assert offline.result == "valid" and offline.document["fields"] == {"business_scope": "预包装食品销售"}
    assert token.verify_offline(p["qr"], {"keys": []}).result == "forged"

    # Verification is audited: who and the answer, never the values.
    audit = (await svc.get(f"{API}/audit-events", params={"entity": "presentation"}, headers=tokens.admin)).json()
    assert audit["items"][0]["actor"] == "anonymous" and audit["items"][0]["detail"]["result"] == "valid"
    assert "预包装" not in str(audit)
    await verify(svc, p["qr"], tokens.approver)
    audit = (await svc.get(f"{API}/audit-events", params={"entity": "presentation"}, headers=tokens.admin)).json()
    assert audit["items"][0]["actor"] == "approver-1"


async def test_forged_replayed_expired_and_malformed(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    p = await present(svc, tokens, lic)
    assert set(p["fields"]) == {"business_scope", "address", "holder_name"}

    document, _, signature = token.decode(p["qr"])
    forged_doc = {**document, "fields": {**document["fields"], "business_scope": "烟草专卖"}}
    forged = token.encode(forged_doc, signature)
    answer = await verify(svc, forged)
    assert answer["result"] == "forged" and answer["fields"] is None and answer["issuer_code"] is None
    unknown_kid = token.encode({**document, "kid": "nobody-000000"}, signature)
    assert (await verify(svc, unknown_kid))["result"] == "forged"
    assert token.verify_offline(forged, (await svc.get(f"{API}/keys")).json()).result == "forged"

    assert (await verify(svc, p["qr"]))["result"] == "valid"
    again = await verify(svc, p["qr"])
    assert again["result"] == "invalid" and "replayed" in again["reason"] and again["fields"] is None

    p2 = await present(svc, tokens, lic, single_use=False)
    async with svc.app.state.sessionmaker() as s, s.begin():
        await s.execute(update(Presentation).where(Presentation.id == p2["id"])
                        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    expired = await verify(svc, p2["qr"])
    assert expired["result"] == "invalid" and "expired" in expired["reason"]
    keys = (await svc.get(f"{API}/keys")).json()
    assert token.verify_offline(p2["qr"], keys, now=token.decode(p2["qr"])[0]["exp"] + 1).result == "invalid"

    for junk in ("hello", "TBP1.!!!.???", "TBP1." + algorithms.b64u(b'{"v":1}') + ".AA"):
        r = await svc.post(f"{API}/verifications", json={"presentation": junk})
        assert r.status_code == 422 and r.json()["code"] == "malformed_presentation"

    r = await svc.post(f"{API}/licences/{lic['id']}/presentations", json={"fields": ["colour"]},
                       headers=tokens.citizen)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "fields"
    r = await svc.post(f"{API}/licences/{lic['id']}/presentations", json={}, headers=tokens.other_citizen)
    assert r.status_code == 403


async def test_status_changes_show_in_verification(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    shown = [await present(svc, tokens, lic, single_use=False) for _ in range(2)]
    url = f"{API}/licences/{lic['id']}"
    await svc.post(f"{url}/suspend", json={"reason": "核查"}, headers=tokens.approver)
    assert (await verify(svc, shown[0]["qr"]))["result"] == "suspended"
    lists = {}
    keys = None
    for purpose in ("revocation", "suspension"):
        body = (await svc.get(lic["credential_status"]["status_list_credential"], params={"purpose": purpose})).json()
        keys = (await svc.get(f"{API}/keys")).json()   # the status-list signer's key is made on first use
        name, encoded = token.trusted_status_list(body, keys)
        assert name == f"{document_list(shown[0]['qr'])}:{purpose}"
        lists[name] = encoded
    # The list is signed (eddsa-jcs-2022): a cached copy that was altered, or is stale, is refused.
    assert body["proof"]["cryptosuite"] == "eddsa-jcs-2022" and body["proof"]["proofValue"].startswith("z")
    altered = {**body, "credentialSubject": {**body["credentialSubject"], "encodedList": lists[name.replace(
        "suspension", "revocation")]}}
    with pytest.raises(token.TokenError):
        token.trusted_status_list(altered, keys)
    with pytest.raises(token.TokenError):
        token.trusted_status_list(body, keys, now=time.time() + 2 * 86400)
    with pytest.raises(token.TokenError):
        token.trusted_status_list(body, {"keys": []})
    assert token.verify_offline(shown[0]["qr"], keys, lists).result == "suspended"
    r = await svc.post(f"{url}/presentations", json={}, headers=tokens.citizen)
    assert r.status_code == 409 and r.json()["code"] == "not_presentable"

    await svc.post(f"{url}/reinstate", json={"reason": "ok"}, headers=tokens.approver)
    v2 = (await svc.post(f"{url}/versions", json={"holder_name": "张三丰", "reason": "更名"},
                         headers=tokens.approver)).json()
    assert (await verify(svc, shown[1]["qr"]))["result"] == "superseded"
    fresh = await present(svc, tokens, v2, fields=["holder_name"])
    assert (await verify(svc, fresh["qr"]))["fields"] == {"holder_name": "张三丰"}
    await svc.post(f"{API}/licences/{v2['id']}/revoke", json={"reason": "吊销"}, headers=tokens.approver)
    assert (await verify(svc, shown[1]["qr"]))["result"] == "superseded"


def document_list(qr: str) -> int:
    return token.decode(qr)[0]["status"]["list"]
