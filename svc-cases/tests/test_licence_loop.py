"""证照联办 end to end with the real svc-credentials: an instant approval becomes a licence in the
holder's wallet, and the licence identifier comes back onto the completed case; 免证办: licence-backed
materials of a submission, of materials added later and of a bundle, recorded and undone there."""

import uuid
from contextlib import asynccontextmanager

import httpx
from tongban.cases.bundle import service as bundles
from tongban.cases.main import SERVICE as CASES
from tongban.credentials.main import SERVICE as CREDENTIALS
from tongban.shared.contracts.catalog import BundlePublishedV1
from tongban.shared.service_auth import BearerAuth, StaticToken
from tongban.shared.testing.plugin import running_service, wait_for

ITEM = "442020000900"


@asynccontextmanager
async def both_services(infra, token_issuer, tmp_path):  # noqa: ANN001, ANN201
    """The real svc-credentials (its keys in the test's folder) beside svc-cases."""
    async with running_service(CREDENTIALS, infra, token_issuer, key_dir=tmp_path / "keys") as credentials, \
            running_service(CASES, infra, token_issuer) as cases:
        yield credentials, cases


def credentials_admin(token_issuer) -> dict[str, str]:
    return {"Authorization": "Bearer " + token_issuer.mint("admin", "credentials:admin credentials:issue",
                                                           ["credentials"], sub="admin-1")}


def other_applicant(token_issuer, kit) -> dict[str, str]:
    """A verified citizen who holds no licence yet (李四)."""
    return {"Authorization": "Bearer " + token_issuer.mint(
        "citizen", "cases:apply cases:read credentials:read", ["cases", "credentials"], sub="citizen-other",
        id_number=kit.OTHER_ADULT, name="李四", real_name_level="verified")}


async def _instant_item(credentials, cases, tokens, kit, token_issuer, licence_fields: list[dict]) -> str:  # noqa: ANN001
    """An item approved instantly for adults whose result is a licence type with `licence_fields`;
    the form asks for `service_years`. Returns the type code."""
    type_code = kit.DEPT + "001"
    credentials_admin = {"Authorization": "Bearer " + token_issuer.mint("admin", "credentials:admin", ["credentials"],
                                                                         sub="admin-1")}
    r = await credentials.post("/api/v1/credentials/licence-types", headers=credentials_admin, json={
        "code": type_code, "name": "退役军人优待证", "issuer_code": kit.DEPT, "issuer_name": "中山市退役军人事务局",
        "holder_type": "111", "validity": "years", "validity_years": 5, "fields": licence_fields})
    assert r.status_code == 201, r.text
    await kit.publish_item(cases, licence=type_code)
    await cases.put(f"/api/v1/cases/item-configs/{ITEM}", headers=tokens.admin(), json={
        "form_fields": [{"name": "service_years", "type": "integer", "required": True, "minimum": 1}]})
    await cases.post(f"/api/v1/cases/item-configs/{ITEM}/approval-rules", headers=tokens.admin(),
                     json={"conditions": [{"field": "applicant.age", "op": "gte", "value": 18}]})
    return type_code


async def test_instant_approval_to_licence_and_back(infra, token_issuer, tokens, kit, clean_nats, tmp_path):
    wallet = {"Authorization": "Bearer " + token_issuer.mint("citizen", "credentials:read", ["credentials"],
                                                             sub="citizen-w", id_number=kit.ADULT,
                                                             real_name_level="verified")}
    async with both_services(infra, token_issuer, tmp_path) as (credentials, cases):
        await _instant_item(credentials, cases, tokens, kit, token_issuer, [{"name": "service_years", "type": "integer"}])
        r = await cases.post("/api/v1/cases/cases", json={"basic_code": ITEM, "form_data": {"service_years": 8}},
                             headers=tokens.citizen())
        assert r.status_code == 201 and r.json()["state"] == "approved"
        case_id = r.json()["id"]

        async def completed():
            case = (await cases.get(f"/api/v1/cases/cases/{case_id}", headers=tokens.citizen())).json()
            return case if case["licence_identifier"] else None

        case = await wait_for(completed, timeout=20)
        assert case["state"] == "completed"
        mine = (await credentials.get("/api/v1/credentials/me/licences", headers=wallet)).json()
        assert [x["identifier"] for x in mine["items"]] == [case["licence_identifier"]]


async def test_a_licence_that_cannot_be_issued_is_told_on_the_case(infra, token_issuer, tokens, kit, clean_nats,
                                                                   tmp_path):
    """The licence type needs a field neither the form nor the approval gives: svc-credentials
    cannot issue it, and the case's timeline says why instead of waiting for a licence forever."""
    async with both_services(infra, token_issuer, tmp_path) as (credentials, cases):
        type_code = await _instant_item(credentials, cases, tokens, kit, token_issuer,
                                        [{"name": "service_years", "type": "integer"},
                                         {"name": "grade", "type": "string"}])
        r = await cases.post("/api/v1/cases/cases", json={"basic_code": ITEM, "form_data": {"service_years": 8}},
                             headers=tokens.citizen())
        assert r.status_code == 201 and r.json()["state"] == "approved"
        case_id = r.json()["id"]

        async def told():
            timeline = (await cases.get(f"/api/v1/cases/cases/{case_id}/timeline", headers=tokens.citizen())).json()
            return [e for e in timeline["items"] if e["action"] == "licence_issue_failed"] or None

        [entry] = await wait_for(told, timeout=20)
        assert entry["actor"] == "system:credentials" and "grade" in entry["reason"]
        assert entry["from_state"] == entry["to_state"] == "approved"
        case = (await cases.get(f"/api/v1/cases/cases/{case_id}", headers=tokens.citizen())).json()
        assert case["state"] == "approved" and case["licence_identifier"] is None

        # The department issues it by hand with the missing field, naming the case: the case completes.
        department = {"Authorization": "Bearer " + token_issuer.mint(
            "approver", "credentials:issue", ["credentials"], sub="approver-1", department=kit.DEPT),
            "Idempotency-Key": "by-hand-1"}
        body = {"type_code": type_code, "holder_id": kit.ADULT, "holder_name": case["applicant_name"],
                "data": {"service_years": 8, "grade": "一级"}, "source_case_id": case_id}
        r = await credentials.post("/api/v1/credentials/licences", headers=department, json=body)
        assert r.status_code == 201, r.text
        identifier = r.json()["identifier"]

        async def completed():
            case = (await cases.get(f"/api/v1/cases/cases/{case_id}", headers=tokens.citizen())).json()
            return case if case["state"] == "completed" else None

        assert (await wait_for(completed, timeout=20))["licence_identifier"] == identifier
        # One licence per case: a second one naming it is refused.
        r = await credentials.post("/api/v1/credentials/licences", json=body,
                                   headers={**department, "Idempotency-Key": "by-hand-2"})
        assert r.status_code == 409 and r.json()["code"] == "case_has_licence"


async def _wired_with_an_id_card(credentials, cases, token_issuer, kit, id_card: str, admin: dict) -> str:  # noqa: ANN001
    """svc-cases calling the real svc-credentials as itself, an ID-card licence type, and the adult
    applicant's ID card issued; returns its identifier."""
    service_token = token_issuer.mint("service", "credentials:read credentials:use", ["credentials"],
                                      sub="service:cases", service="cases")
    cases.app.state.credentials = httpx.AsyncClient(headers={"Accept-Language": "en"},
        transport=httpx.ASGITransport(app=credentials.app), base_url="http://credentials",
        auth=BearerAuth(StaticToken(service_token)))
    # ... and svc-credentials asking svc-cases as itself (`cases:lookup`, as the gateway grants its
    # client) which case a counter consent names.
    lookup_token = token_issuer.mint("service", "cases:lookup", ["cases"], sub="service:credentials",
                                     service="credentials")
    credentials.app.state.cases = httpx.AsyncClient(headers={"Accept-Language": "en"},
        transport=httpx.ASGITransport(app=cases.app), base_url="http://cases",
        auth=BearerAuth(StaticToken(lookup_token)))
    r = await credentials.post("/api/v1/credentials/licence-types", headers=admin, json={
        "code": id_card, "name": "居民身份证", "issuer_code": kit.DEPT, "issuer_name": "中山市公安局",
        "holder_type": "111", "validity": "years", "validity_years": 10,
        "fields": [{"name": "address", "type": "string"}]})
    assert r.status_code == 201, r.text
    r = await credentials.post("/api/v1/credentials/licences", headers=admin, json={
        "type_code": id_card, "holder_id": kit.ADULT, "holder_name": "张三", "data": {"address": "中山市"}})
    assert r.status_code == 201, r.text
    return r.json()["identifier"]


async def test_licence_backed_material_and_rule_on_a_valid_licence(infra, token_issuer, tokens, kit, tmp_path):
    """免证办: the applicant names their resident-ID licence with consent; svc-cases has the consent
    recorded at svc-credentials, confirms the licence and keeps it as a material; the rule "holds a
    valid resident ID licence and is 18+" approves instantly and records its version."""
    id_card = kit.DEPT + "002"
    admin = credentials_admin(token_issuer)

    def applicant(id_number: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + token_issuer.mint(
            "citizen", "cases:apply cases:read credentials:read", ["cases", "credentials"],
            sub=f"citizen-{id_number}", id_number=id_number, name="张三", real_name_level="verified")}

    async with both_services(infra, token_issuer, tmp_path) as (credentials, cases):
        identifier = await _wired_with_an_id_card(credentials, cases, token_issuer, kit, id_card, admin)
        await kit.publish_item(cases)
        r = await cases.post(f"/api/v1/cases/item-configs/{ITEM}/approval-rules", headers=tokens.admin(), json={
            "conditions": [{"field": "applicant.age", "op": "gte", "value": 18},
                           {"field": f"licence.{id_card}", "op": "present"}], "note": "持有效身份证的成年人"})
        assert r.status_code == 201, r.text

        material = {"name": "居民身份证", "licence_type_code": id_card, "consent": True}
        r = await cases.post("/api/v1/cases/cases", headers=applicant(kit.ADULT),
                             json={"basic_code": ITEM, "materials": [material]})
        assert r.status_code == 201, r.text
        case = r.json()
        assert case["state"] == "approved" and case["decided_by_rule_version"] == 1
        used = (await cases.get(f"/api/v1/cases/cases/{case['id']}/materials", headers=tokens.clerk())).json()
        [m] = used["items"]
        assert (m["kind"], m["licence_identifier"]) == ("licence", identifier) and m["consent_id"]
        assert m["verification"] == "licence-use" and m["use_id"]
        consents = (await credentials.get("/api/v1/credentials/me/consents", headers=applicant(kit.ADULT))).json()
        assert [(c["case_id"], c["department"]) for c in consents["items"]] == [(case["id"], kit.DEPT)]
        # the use is recorded at svc-credentials for the handling department, in the holder's log
        uses = (await credentials.get("/api/v1/credentials/me/licence-uses", headers=applicant(kit.ADULT))).json()
        assert [(u["case_id"], u["department"], u["outcome"], u["licence_identifier"]) for u in uses["items"]] == [
            (case["id"], kit.DEPT, "granted", identifier)]
        timeline = (await cases.get(f"/api/v1/cases/cases/{case['id']}/timeline", headers=tokens.clerk())).json()
        assert timeline["items"][-1]["detail"] == {"rule_version": 1, "licences": [id_card]}

        # the rule reads the wallet even without a licence material; no licence, no instant approval
        r = await cases.post("/api/v1/cases/cases", headers=applicant(kit.ADULT), json={"basic_code": ITEM})
        assert r.json()["state"] == "approved"
        r = await cases.post("/api/v1/cases/cases", headers=applicant(kit.OTHER_ADULT), json={"basic_code": ITEM})
        assert r.status_code == 201 and r.json()["state"] == "submitted"
        # a licence the applicant does not hold: 422 naming the material; the case stays a draft
        r = await cases.post("/api/v1/cases/cases", headers=applicant(kit.OTHER_ADULT),
                             json={"basic_code": ITEM, "materials": [material]})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "materials[0].licence_type_code"
        assert "no_valid_licence" in r.json()["detail"]
        mine = (await cases.get("/api/v1/cases/cases", headers=applicant(kit.OTHER_ADULT))).json()
        assert sorted(c["state"] for c in mine["items"]) == ["draft", "submitted"]
        await cases.app.state.credentials.aclose()

        # svc-credentials down: 503, and no submitted case (the draft says why)
        cases.app.state.credentials = httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url="http://127.0.0.1:9", timeout=2)
        r = await cases.post("/api/v1/cases/cases", headers=applicant(kit.ADULT),
                             json={"basic_code": ITEM, "materials": [material]})
        assert r.status_code == 503 and r.json()["code"] == "upstream_unavailable"
        draft = (await cases.get(f"/api/v1/cases/cases/{r.json()['case_id']}", headers=applicant(kit.ADULT))).json()
        assert draft["state"] == "draft"
        assert (await cases.get("/api/v1/cases/cases", headers=applicant(kit.ADULT),
                                params={"state": "approved"})).json()["total"] == 2
        await cases.app.state.credentials.aclose()


async def test_counter_submission_with_a_licence_witnessed_by_the_clerk(infra, token_issuer, tokens, kit, tmp_path):
    """A clerk submits for a walk-in applicant: the applicant's consent is recorded at svc-credentials
    with the clerk's token (witnessed at the counter), the use goes through as svc-cases for the
    handling department, and a rule on the licence approves instantly at the counter too."""
    id_card = kit.DEPT + "002"
    admin = credentials_admin(token_issuer)
    clerk = {"Authorization": "Bearer " + token_issuer.mint(
        "clerk", "cases:read cases:process credentials:read", ["cases", "credentials"], sub="clerk-7",
        name="王五", hall="zs-1", counter="A03", departments=[kit.DEPT])}
    holder = {"Authorization": "Bearer " + token_issuer.mint("citizen", "credentials:read", ["credentials"],
                                                             sub="citizen-h", id_number=kit.ADULT,
                                                             real_name_level="verified")}
    async with both_services(infra, token_issuer, tmp_path) as (credentials, cases):
        identifier = await _wired_with_an_id_card(credentials, cases, token_issuer, kit, id_card, admin)
        await kit.publish_item(cases, materials=[{"name": "居民身份证", "licence_type_code": id_card}])
        await cases.post(f"/api/v1/cases/item-configs/{ITEM}/approval-rules", headers=tokens.admin(), json={
            "conditions": [{"field": "applicant.age", "op": "gte", "value": 18},
                           {"field": f"licence.{id_card}", "op": "present"}]})

        walk_in = {"type": "person", "id": kit.ADULT, "name": "张三"}
        material = {"name": "身份证(电子)", "licence_type_code": id_card, "consent": True}
        r = await cases.post("/api/v1/cases/cases", headers=clerk,
                             json={"basic_code": ITEM, "applicant": walk_in, "materials": [material]})
        assert r.status_code == 201, r.text
        case = r.json()
        assert (case["channel"], case["state"], case["decided_by_rule_version"]) == ("counter", "approved", 1)
        [m] = (await cases.get(f"/api/v1/cases/cases/{case['id']}/materials", headers=clerk)).json()["items"]
        assert (m["licence_identifier"], m["verification"]) == (identifier, "licence-use")
        # the holder sees the consent (taken at the counter, witnessed by the clerk) and the use
        [consent] = (await credentials.get("/api/v1/credentials/me/consents", headers=holder)).json()["items"]
        assert (consent["case_id"], consent["given_at"], consent["witnessed_by"]) == (case["id"], "counter", "clerk-7")
        [use] = (await credentials.get("/api/v1/credentials/me/licence-uses", headers=holder)).json()["items"]
        assert (use["case_id"], use["department"], use["outcome"]) == (case["id"], kit.DEPT, "granted")

        # a walk-in applicant without that licence: 422 naming the material; no submitted case,
        # the draft at the counter says why
        other = walk_in | {"id": kit.OTHER_ADULT, "name": "李四"}
        r = await cases.post("/api/v1/cases/cases", headers=clerk,
                             json={"basic_code": ITEM, "applicant": other, "materials": [material]})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "materials[0].licence_type_code"
        listed = (await cases.get("/api/v1/cases/cases", headers=clerk)).json()["items"]
        assert sorted(c["state"] for c in listed) == ["approved", "draft"]
        # the consent the clerk witnessed for it is accounted for on the draft: withdrawn, or (while
        # svc-credentials lets only the holder withdraw) named as left for the holder to withdraw
        timeline = (await cases.get(f"/api/v1/cases/cases/{r.json()['case_id']}/timeline", headers=clerk)).json()
        failed = timeline["items"][-1]
        assert failed["action"] == "submission_failed"
        assert len(failed["detail"]["consents_withdrawn"] + failed["detail"]["consents_left"]) == 1
        await cases.app.state.credentials.aclose()
        await credentials.app.state.cases.aclose()


async def test_a_refusal_after_the_draft_leaves_no_submitted_case_and_no_consent(infra, token_issuer, tokens, kit,
                                                                                 tmp_path):
    """The case is committed as a draft before svc-credentials is asked; when the use is refused
    (no valid licence) the consent given for it is withdrawn, the draft says why on its timeline,
    the same Idempotency-Key replays the same refusal, and the draft can be fixed and submitted."""
    id_card = kit.DEPT + "002"
    admin = credentials_admin(token_issuer)
    applicant = other_applicant(token_issuer, kit)
    async with both_services(infra, token_issuer, tmp_path) as (credentials, cases):
        await _wired_with_an_id_card(credentials, cases, token_issuer, kit, id_card, admin)
        await kit.publish_item(cases)
        material = {"name": "居民身份证", "licence_type_code": id_card, "consent": True}
        submit = {"basic_code": ITEM, "materials": [material]}
        r = await cases.post("/api/v1/cases/cases", headers=applicant | {"Idempotency-Key": "refused-1"}, json=submit)
        assert r.status_code == 422 and r.json()["code"] == "licence_not_usable", r.text
        refusal = r.json()
        case_id = refusal["case_id"]

        # no submitted case: a draft, whose timeline says why and what was undone
        case = (await cases.get(f"/api/v1/cases/cases/{case_id}", headers=applicant)).json()
        assert (case["state"], case["submitted_at"]) == ("draft", None)
        timeline = (await cases.get(f"/api/v1/cases/cases/{case_id}/timeline", headers=applicant)).json()["items"]
        assert [(e["action"], e["to_state"]) for e in timeline] == [("create", "draft"), ("submission_failed", "draft")]
        failed = timeline[-1]
        assert "no_valid_licence" in failed["reason"] and failed["detail"]["code"] == "licence_not_usable"
        # the consent given for it is withdrawn at svc-credentials; the refused use stays in the log
        [consent] = (await credentials.get("/api/v1/credentials/me/consents", headers=applicant)).json()["items"]
        assert consent["case_id"] == case_id and consent["revoked_at"] is not None
        assert failed["detail"]["consents_withdrawn"] == [consent["id"]] and not failed["detail"]["consents_left"]
        [use] = (await credentials.get("/api/v1/credentials/me/licence-uses", headers=applicant)).json()["items"]
        assert (use["case_id"], use["outcome"], use["refusal"]) == (case_id, "refused", "no_valid_licence")

        # the same key replays the same answer, and nothing more is recorded anywhere
        again = await cases.post("/api/v1/cases/cases", headers=applicant | {"Idempotency-Key": "refused-1"},
                                 json=submit)
        assert again.status_code == 422 and again.headers.get("idempotent-replayed") == "true"
        assert {k: v for k, v in again.json().items() if k != "request_id"} == \
            {k: v for k, v in refusal.items() if k != "request_id"}
        assert (await cases.get("/api/v1/cases/cases", headers=applicant)).json()["total"] == 1
        assert (await credentials.get("/api/v1/credentials/me/consents", headers=applicant)).json()["total"] == 1

        # the applicant gets the licence, adds it to the draft and submits it
        r = await credentials.post("/api/v1/credentials/licences", headers=admin, json={
            "type_code": id_card, "holder_id": kit.OTHER_ADULT, "holder_name": "李四", "data": {"address": "中山市"}})
        assert r.status_code == 201, r.text
        r = await cases.post(f"/api/v1/cases/cases/{case_id}/materials", headers=applicant,
                             json={"materials": [material]})
        assert r.status_code == 200, r.text
        r = await cases.post(f"/api/v1/cases/cases/{case_id}/submit", headers=applicant, json={})
        assert r.status_code == 200 and r.json()["state"] == "submitted", r.text
        await cases.app.state.credentials.aclose()
        await credentials.app.state.cases.aclose()


async def test_licence_backed_materials_added_later(infra, token_issuer, tokens, kit, tmp_path):
    """`POST /cases/{id}/materials` with a licence-backed material records consent and use at
    svc-credentials outside the cases transaction: a refusal adds nothing, withdraws the consent
    and says so on the timeline (the key replays it); once the licence is held, it is added."""
    id_card = kit.DEPT + "002"
    admin = credentials_admin(token_issuer)
    applicant = other_applicant(token_issuer, kit)
    async with both_services(infra, token_issuer, tmp_path) as (credentials, cases):
        await _wired_with_an_id_card(credentials, cases, token_issuer, kit, id_card, admin)
        await kit.publish_item(cases)
        r = await cases.post("/api/v1/cases/cases", headers=applicant, json={"basic_code": ITEM})
        assert r.status_code == 201 and r.json()["state"] == "submitted", r.text
        case_id = r.json()["id"]
        add = {"materials": [{"name": "居民身份证", "licence_type_code": id_card, "consent": True}],
               "reason": "补充身份证"}
        url = f"/api/v1/cases/cases/{case_id}/materials"

        r = await cases.post(url, headers=applicant | {"Idempotency-Key": "add-1"}, json=add)
        assert r.status_code == 422 and r.json()["code"] == "licence_not_usable", r.text
        refusal = r.json()
        assert refusal["case_id"] == case_id and refusal["errors"][0]["field"] == "materials[0].licence_type_code"
        # nothing added, the case as it was, the timeline says why and what was undone
        assert (await cases.get(url, headers=applicant)).json()["total"] == 0
        assert (await cases.get(f"/api/v1/cases/cases/{case_id}", headers=applicant)).json()["state"] == "submitted"
        timeline = (await cases.get(f"/api/v1/cases/cases/{case_id}/timeline", headers=applicant)).json()["items"]
        failed = timeline[-1]
        assert (failed["action"], failed["from_state"], failed["to_state"]) == \
            ("add_materials_failed", "submitted", "submitted")
        [consent] = (await credentials.get("/api/v1/credentials/me/consents", headers=applicant)).json()["items"]
        assert consent["case_id"] == case_id and consent["revoked_at"] is not None
        assert failed["detail"] == {"code": "licence_not_usable", "consents_withdrawn": [consent["id"]],
                                    "consents_left": []}
        assert refusal["consents_withdrawn"] == [consent["id"]]
        # the same key replays the refusal; nothing more is asked of svc-credentials
        again = await cases.post(url, headers=applicant | {"Idempotency-Key": "add-1"}, json=add)
        assert again.status_code == 422 and again.headers.get("idempotent-replayed") == "true"
        assert {k: v for k, v in again.json().items() if k != "request_id"} == \
            {k: v for k, v in refusal.items() if k != "request_id"}
        assert (await credentials.get("/api/v1/credentials/me/consents", headers=applicant)).json()["total"] == 1

        # with the licence issued, the material is added, consent and use recorded for the case
        r = await credentials.post("/api/v1/credentials/licences", headers=admin, json={
            "type_code": id_card, "holder_id": kit.OTHER_ADULT, "holder_name": "李四", "data": {"address": "中山市"}})
        assert r.status_code == 201, r.text
        identifier = r.json()["identifier"]
        r = await cases.post(url, headers=applicant | {"Idempotency-Key": "add-2"}, json=add)
        assert r.status_code == 200 and r.json()["id"] == case_id, r.text
        [m] = (await cases.get(url, headers=applicant)).json()["items"]
        assert (m["kind"], m["licence_identifier"], m["verification"]) == ("licence", identifier, "licence-use")
        consents = (await credentials.get("/api/v1/credentials/me/consents", headers=applicant)).json()["items"]
        assert sorted(c["revoked_at"] is None for c in consents) == [False, True]
        assert m["consent_id"] in [c["id"] for c in consents if c["revoked_at"] is None]
        timeline = (await cases.get(f"/api/v1/cases/cases/{case_id}/timeline", headers=applicant)).json()["items"]
        assert (timeline[-1]["action"], timeline[-1]["reason"]) == ("add_materials", "补充身份证")
        again = await cases.post(url, headers=applicant | {"Idempotency-Key": "add-2"}, json=add)
        assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true"
        assert (await cases.get(url, headers=applicant)).json()["total"] == 1

        # svc-credentials down: 503, nothing added, the timeline says so
        await cases.app.state.credentials.aclose()
        cases.app.state.credentials = httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url="http://127.0.0.1:9", timeout=2)
        r = await cases.post(url, headers=applicant, json=add)
        assert r.status_code == 503 and r.json()["code"] == "upstream_unavailable"
        assert (await cases.get(url, headers=applicant)).json()["total"] == 1
        timeline = (await cases.get(f"/api/v1/cases/cases/{case_id}/timeline", headers=applicant)).json()["items"]
        assert timeline[-1]["action"] == "add_materials_failed"
        await cases.app.state.credentials.aclose()
        await credentials.app.state.cases.aclose()


async def test_bundle_with_licence_backed_materials(infra, token_issuer, tokens, kit, tmp_path):
    """A bundle's children are committed as drafts before svc-credentials is asked, so a clerk's
    counter consent binds to each child; a refusal leaves the bundle and its children drafts,
    withdraws what may be withdrawn and says why on each child (the key replays it)."""
    id_card = kit.DEPT + "002"
    first, second = "442020000910", "442020000911"
    admin = credentials_admin(token_issuer)
    clerk = {"Authorization": "Bearer " + token_issuer.mint(
        "clerk", "cases:read cases:process credentials:read", ["cases", "credentials"], sub="clerk-7",
        name="王五", hall="zs-1", counter="A03", departments=[kit.DEPT])}
    holder = {"Authorization": "Bearer " + token_issuer.mint("citizen", "credentials:read", ["credentials"],
                                                             sub="citizen-h", id_number=kit.ADULT,
                                                             real_name_level="verified")}
    other = {"Authorization": "Bearer " + token_issuer.mint(
        "citizen", "cases:apply cases:read credentials:read", ["cases", "credentials"], sub="citizen-other",
        id_number=kit.OTHER_ADULT, name="李四", real_name_level="verified")}
    async with both_services(infra, token_issuer, tmp_path) as (credentials, cases):
        identifier = await _wired_with_an_id_card(credentials, cases, token_issuer, kit, id_card, admin)
        await kit.publish_item(cases, first, name="出生医学证明")
        await kit.publish_item(cases, second, name="户口登记")
        async with cases.app.state.sessionmaker() as session, session.begin():
            await bundles.apply_bundle_published(session, BundlePublishedV1(
                bundle_id=uuid.uuid4(), code="YJS-CS", name="出生一件事", version=1, item_codes=[first, second],
                city_code="442000"))
        material = {"name": "居民身份证", "licence_type_code": id_card, "consent": True}
        walk_in = {"type": "person", "id": kit.ADULT, "name": "张三"}

        # at the counter: each child gets the walk-in applicant's consent (witnessed, bound to it) and the use
        r = await cases.post("/api/v1/cases/bundle-cases", headers=clerk,
                             json={"bundle_code": "YJS-CS", "applicant": walk_in, "materials": [material]})
        assert r.status_code == 201, r.text
        bundle = r.json()
        assert bundle["state"] == "in_progress"
        children = [c["id"] for c in bundle["children"]]
        assert [c["state"] for c in bundle["children"]] == ["submitted", "submitted"]
        for child in children:
            [m] = (await cases.get(f"/api/v1/cases/cases/{child}/materials", headers=clerk)).json()["items"]
            assert (m["kind"], m["licence_identifier"]) == ("licence", identifier)
        consents = (await credentials.get("/api/v1/credentials/me/consents", headers=holder)).json()["items"]
        assert sorted((c["case_id"], c["given_at"], c["witnessed_by"]) for c in consents) == \
            sorted((child, "counter", "clerk-7") for child in children)

        # a citizen without the licence: refused; the bundle and its children stay drafts, her
        # consent withdrawn, each child's timeline says why; the key replays the refusal
        body = {"bundle_code": "YJS-CS", "materials": [material]}
        r = await cases.post("/api/v1/cases/bundle-cases", headers=other | {"Idempotency-Key": "b-refused"},
                             json=body)
        assert r.status_code == 422 and r.json()["code"] == "licence_not_usable", r.text
        refusal = r.json()
        assert refusal["errors"][0]["field"] == "materials[0].licence_type_code"
        [consent] = (await credentials.get("/api/v1/credentials/me/consents", headers=other)).json()["items"]
        assert consent["revoked_at"] is not None and refusal["consents_withdrawn"] == [consent["id"]]
        parent = (await cases.get(f"/api/v1/cases/bundle-cases/{refusal['bundle_case_id']}", headers=other)).json()
        assert parent["state"] == "draft"
        assert sorted(c["id"] for c in parent["children"]) == sorted(refusal["case_ids"])
        assert [c["state"] for c in parent["children"]] == ["draft", "draft"]
        for child in refusal["case_ids"]:
            timeline = (await cases.get(f"/api/v1/cases/cases/{child}/timeline", headers=other)).json()["items"]
            assert [e["action"] for e in timeline] == ["create", "submission_failed"]
            assert timeline[-1]["detail"]["consents_withdrawn"] == [consent["id"]]
        again = await cases.post("/api/v1/cases/bundle-cases", headers=other | {"Idempotency-Key": "b-refused"},
                                 json=body)
        assert again.status_code == 422 and again.headers.get("idempotent-replayed") == "true"
        assert {k: v for k, v in again.json().items() if k != "request_id"} == \
            {k: v for k, v in refusal.items() if k != "request_id"}
        assert (await credentials.get("/api/v1/credentials/me/consents", headers=other)).json()["total"] == 1
        await cases.app.state.credentials.aclose()
        await credentials.app.state.cases.aclose()
