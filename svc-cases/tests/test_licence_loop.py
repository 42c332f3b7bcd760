"""证照联办 end to end with the real svc-credentials: an instant approval becomes a licence in the
holder's wallet, and the licence identifier comes back onto the completed case."""

from tongban.cases.main import SERVICE as CASES
from tongban.credentials.main import SERVICE as CREDENTIALS
from tongban.shared.testing.plugin import running_service, wait_for

ITEM = "442020000900"


async def test_instant_approval_to_licence_and_back(infra, token_issuer, tokens, kit, clean_nats, tmp_path):
    type_code = kit.DEPT + "001"
    credentials_admin = {"Authorization": "Bearer " + token_issuer.mint("admin", "credentials:admin", ["credentials"],
                                                                         sub="admin-1")}
    wallet = {"Authorization": "Bearer " + token_issuer.mint("citizen", "credentials:read", ["credentials"],
                                                             sub="citizen-w", id_number=kit.ADULT)}
    async with running_service(CREDENTIALS, infra, token_issuer, key_dir=tmp_path / "keys") as credentials, \
            running_service(CASES, infra, token_issuer) as cases:
        r = await credentials.post("/api/v1/credentials/licence-types", headers=credentials_admin, json={
            "code": type_code, "name": "退役军人优待证", "issuer_code": kit.DEPT, "issuer_name": "中山市退役军人事务局",
            "holder_type": "111", "validity": "years", "validity_years": 5,
            "fields": [{"name": "service_years", "type": "integer"}]})
        assert r.status_code == 201, r.text
        await kit.publish_item(cases, licence=type_code)
        await cases.put(f"/api/v1/cases/item-configs/{ITEM}", headers=tokens.admin(), json={
            "form_fields": [{"name": "service_years", "type": "integer", "required": True, "minimum": 1}]})
        await cases.post(f"/api/v1/cases/item-configs/{ITEM}/approval-rules", headers=tokens.admin(),
                         json={"conditions": [{"field": "applicant.age", "op": "gte", "value": 18}]})

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
