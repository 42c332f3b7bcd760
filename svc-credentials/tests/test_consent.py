"""Use with consent (用证): no consent, no data; every use and refusal logged without values."""

import datetime as dt
import uuid

from sqlalchemy import func, select, update

from tongban.credentials.consent.models import Consent
from tongban.shared.ids import mask_resident_id

API = "/api/v1/credentials"


async def test_use_needs_consent_and_is_logged(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    await k.issue(svc, tokens)
    case_id = str(uuid.uuid4())
    ask = {"holder_id": k.CITIZEN, "licence_type_code": k.TYPE_CODE, "case_id": case_id, "purpose": "核验经营资格"}

    refused = await svc.post(f"{API}/licence-uses", json=ask, headers=tokens.user)
    assert refused.status_code == 403 and refused.json()["refusal"] == "no_consent"

    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    r = await svc.post(f"{API}/consents", headers=tokens.citizen,
                       json={"licence_type_code": k.TYPE_CODE, "case_id": case_id, "expires_at": soon,
                             "department": k.OTHER_DEPT})
    assert r.status_code == 201, r.text
    consent = r.json()
    granted = await svc.post(f"{API}/licence-uses", json=ask, headers=tokens.user)
    assert granted.status_code == 201, granted.text
    assert granted.json()["licence"]["data"]["business_scope"] == "预包装食品销售"
    assert "*" in granted.json()["licence"]["holder_id"]

    other_case = await svc.post(f"{API}/licence-uses", json={**ask, "case_id": str(uuid.uuid4())}, headers=tokens.user)
    assert other_case.status_code == 403
    wrong_dept = tokens.headers("approver", "credentials:use", sub="user-9", department=k.DEPT)
    r = await svc.post(f"{API}/licence-uses", json=ask, headers=wrong_dept)
    assert r.json()["refusal"] == "other_department"
    assert (await svc.post(f"{API}/licence-uses", json={**ask, "purpose": "x" * 201},
                           headers=tokens.user)).status_code == 422
    assert (await svc.post(f"{API}/licence-uses", json=ask, headers=tokens.citizen)).status_code == 403

    assert (await svc.post(f"{API}/consents/{consent['id']}/withdraw", headers=tokens.other_citizen)).status_code == 403
    assert (await svc.post(f"{API}/consents/{consent['id']}/withdraw", headers=tokens.citizen)).status_code == 200
    r = await svc.post(f"{API}/licence-uses", json=ask, headers=tokens.user)
    assert r.json()["refusal"] == "consent_withdrawn"

    log = (await svc.get(f"{API}/me/licence-uses", headers=tokens.citizen)).json()
    assert log["total"] == 5
    outcomes = [(u["outcome"], u["refusal"]) for u in reversed(log["items"])]
    assert outcomes == [("refused", "no_consent"), ("granted", None), ("refused", "no_consent"),
                        ("refused", "other_department"), ("refused", "consent_withdrawn")]
    assert all(u["purpose"] == "核验经营资格" and u["department"] for u in log["items"])
    assert "预包装" not in str(log) and "中山市东区" not in str(log)
    assert (await svc.get(f"{API}/me/licence-uses", headers=tokens.other_citizen)).json()["total"] == 0
    mine = (await svc.get(f"{API}/me/consents", headers=tokens.citizen)).json()
    assert mine["total"] == 1 and mine["items"][0]["revoked_at"] is not None


async def test_expired_consent_and_bad_consents(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    await k.issue(svc, tokens)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    case_id = str(uuid.uuid4())
    r = await svc.post(f"{API}/consents", headers=tokens.citizen,
                       json={"licence_type_code": k.TYPE_CODE, "case_id": case_id, "expires_at": past})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expires_at"
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    r = await svc.post(f"{API}/consents", headers=tokens.citizen,
                       json={"licence_type_code": k.TYPE_CODE, "case_id": case_id, "expires_at": soon.isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "department"   # bound to a department
    r = await svc.post(f"{API}/consents", headers=tokens.citizen,
                       json={"licence_type_code": k.TYPE_CODE, "case_id": case_id, "expires_at": soon.isoformat(),
                             "department": k.OTHER_DEPT})
    assert r.status_code == 201
    async with svc.app.state.sessionmaker() as s, s.begin():
        await s.execute(update(Consent).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    ask = {"holder_id": k.CITIZEN, "licence_type_code": k.TYPE_CODE, "case_id": case_id, "purpose": "核验"}
    r = await svc.post(f"{API}/licence-uses", json=ask, headers=tokens.user)
    assert r.status_code == 403 and r.json()["refusal"] == "consent_expired"


async def test_a_service_uses_a_licence_for_the_department_it_names(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    await k.issue(svc, tokens)
    case_id = str(uuid.uuid4())
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    r = await svc.post(f"{API}/consents", headers=tokens.citizen, json={
        "licence_type_code": k.TYPE_CODE, "case_id": case_id, "expires_at": soon, "department": k.OTHER_DEPT})
    assert r.status_code == 201
    cases = tokens.headers("service", "credentials:read credentials:use", sub="service:svc-cases")
    ask = {"holder_id": k.CITIZEN, "licence_type_code": k.TYPE_CODE, "case_id": case_id, "purpose": "免证办核验"}
    r = await svc.post(f"{API}/licence-uses", json=ask, headers=cases)
    assert r.status_code == 403 and r.json()["code"] == "no_department"
    r = await svc.post(f"{API}/licence-uses", json={**ask, "department": k.OTHER_DEPT}, headers=cases)
    assert r.status_code == 201, r.text
    assert r.json()["use"]["actor"] == "service:svc-cases" and r.json()["use"]["department"] == k.OTHER_DEPT
    r = await svc.post(f"{API}/licence-uses", json={**ask, "department": k.DEPT}, headers=cases)
    assert r.status_code == 403 and r.json()["refusal"] == "other_department"
    # Staff cannot borrow another department's name.
    r = await svc.post(f"{API}/licence-uses", json={**ask, "department": k.DEPT}, headers=tokens.user)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "department"


async def test_clerk_records_a_walk_in_applicants_consent(svc, tokens, k, fake_cases) -> None:
    await k.setup_type(svc, tokens)
    await k.issue(svc, tokens)
    case_id = fake_cases.add(k.OTHER_DEPT, "zs-hall-1", k.CITIZEN)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    body = {"licence_type_code": k.TYPE_CODE, "case_id": case_id, "expires_at": soon, "department": k.OTHER_DEPT}
    clerk = tokens.headers("clerk", "credentials:read", sub="clerk-1", name="王五", hall="zs-hall-1", counter="3",
                           halls=["zs-hall-1"], departments=[k.OTHER_DEPT])

    assert (await svc.post(f"{API}/consents", json=body, headers=clerk)).status_code == 422   # whose consent?
    bad = await svc.post(f"{API}/consents", json={**body, "holder_id": k.CITIZEN[:-1] + "0"}, headers=clerk)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "holder_id"
    hall_less = tokens.headers("clerk", "credentials:read", sub="clerk-2")
    r = await svc.post(f"{API}/consents", json={**body, "holder_id": k.CITIZEN}, headers=hall_less)
    assert r.status_code == 403 and r.json()["code"] == "not_at_counter"
    # A citizen still consents for themselves only.
    r = await svc.post(f"{API}/consents", json={**body, "holder_id": k.OTHER_CITIZEN}, headers=tokens.citizen)
    assert r.status_code == 403
    # Bound to a real case: one svc-cases does not know is refused, and so is one of another hall,
    # another applicant, or another department; a refused clerk is audited.
    r = await svc.post(f"{API}/consents", json={**body, "holder_id": k.CITIZEN, "case_id": str(uuid.uuid4())},
                       headers=clerk)
    assert r.status_code == 422 and r.json()["code"] == "unknown_case"
    elsewhere = fake_cases.add(k.OTHER_DEPT, "zs-hall-2", k.CITIZEN)
    r = await svc.post(f"{API}/consents", json={**body, "holder_id": k.CITIZEN, "case_id": elsewhere},
                       headers=clerk)
    assert r.status_code == 403 and r.json()["code"] == "outside_scope"
    other_dept = fake_cases.add(k.DEPT, "zs-hall-1", k.CITIZEN)
    r = await svc.post(f"{API}/consents", json={**body, "holder_id": k.CITIZEN, "case_id": other_dept},
                       headers=clerk)
    assert r.status_code == 403 and r.json()["code"] == "outside_scope"
    r = await svc.post(f"{API}/consents", json={**body, "holder_id": k.OTHER_CITIZEN}, headers=clerk)
    assert r.status_code == 422 and r.json()["code"] == "unknown_case"
    r = await svc.post(f"{API}/consents", json={**body, "holder_id": k.CITIZEN, "department": k.DEPT},
                       headers=clerk)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "department"
    refusals = (await svc.get(f"{API}/audit-events", params={"entity": "route"},
                              headers=tokens.admin)).json()["items"]
    assert any(e["actor"] == "clerk-1" and e["reason"] == "outside_scope" for e in refusals)

    r = await svc.post(f"{API}/consents", json={**body, "holder_id": k.CITIZEN, "department": None}, headers=clerk)
    assert r.status_code == 201, r.text
    consent = r.json()
    assert consent["given_at"] == "counter" and consent["witnessed_by"] == "clerk-1"
    assert consent["department"] == k.OTHER_DEPT and consent["given_by"] == "clerk-1"   # the case's department
    assert (consent["witness_hall"], consent["witness_counter"], consent["witness_name"]) == ("zs-hall-1", "3", "王五")

    # The department's use under it is granted, and the holder sees both.
    ask = {"holder_id": k.CITIZEN, "licence_type_code": k.TYPE_CODE, "case_id": case_id, "purpose": "窗口受理核验"}
    assert (await svc.post(f"{API}/licence-uses", json=ask, headers=tokens.user)).status_code == 201
    mine = (await svc.get(f"{API}/me/consents", headers=tokens.citizen)).json()
    assert [c["id"] for c in mine["items"]] == [consent["id"]] and mine["items"][0]["witnessed_by"] == "clerk-1"
    uses = (await svc.get(f"{API}/me/licence-uses", headers=tokens.citizen)).json()
    assert uses["items"][0]["outcome"] == "granted"
    assert (await svc.get(f"{API}/me/consents", headers=tokens.other_citizen)).json()["total"] == 0

    audit = (await svc.get(f"{API}/audit-events", params={"entity": "consent"}, headers=tokens.admin)).json()
    event = audit["items"][0]
    assert event["action"] == "consent.given_at_counter" and event["actor"] == "clerk-1"
    assert k.CITIZEN not in str(event) and event["detail"]["hall"] == "zs-hall-1"
    # The holder may withdraw it like any of their consents.
    assert (await svc.post(f"{API}/consents/{consent['id']}/withdraw", headers=tokens.citizen)).status_code == 200
    # svc-cases may mask the applicant's ID number for a service caller: the masked form matches too.
    masked = fake_cases.add(k.OTHER_DEPT, "zs-hall-1", mask_resident_id(k.CITIZEN))
    r = await svc.post(f"{API}/consents", json={**body, "holder_id": k.CITIZEN, "case_id": masked}, headers=clerk)
    assert r.status_code == 201, r.text


async def test_counter_consent_needs_svc_cases(svc, tokens, k) -> None:
    """Without svc-cases to ask, nothing can be bound to a case: 503, nothing written."""
    await k.setup_type(svc, tokens)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    clerk = tokens.headers("clerk", "credentials:read", sub="clerk-1", halls=["zs-hall-1"], departments=[k.OTHER_DEPT])
    r = await svc.post(f"{API}/consents", headers=clerk, json={
        "licence_type_code": k.TYPE_CODE, "case_id": str(uuid.uuid4()), "expires_at": soon, "holder_id": k.CITIZEN})
    assert r.status_code == 503 and r.json()["code"] == "cases_not_configured"
    async with svc.app.state.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(Consent))).scalar() == 0
