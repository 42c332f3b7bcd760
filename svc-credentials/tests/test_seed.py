"""Demo data (`make run`): the catalogue's licence types, the demo holders' licences and seals."""

from tongban.credentials import seed
from tongban.shared.ids import normalize_credit_code, normalize_resident_id

API = "/api/v1/credentials"


def test_demo_codes_are_well_formed() -> None:
    for code, (_, issuer, *_rest) in seed.LICENCE_TYPES.items():
        assert normalize_credit_code(code[:18]) == code[:18] and normalize_credit_code(issuer) == issuer
    assert normalize_resident_id(seed.CITIZEN) == seed.CITIZEN
    assert normalize_credit_code(seed.COMPANY) == seed.COMPANY


async def test_seed_is_idempotent_and_its_licences_verify(svc, tokens) -> None:  # noqa: ANN001
    sessionmaker = svc.app.state.sessionmaker
    first = await seed.seed(sessionmaker)
    assert first == len(seed.LICENCE_TYPES) + len(seed.LICENCES) + len(seed.SEAL_KINDS)
    assert await seed.seed(sessionmaker) == 0

    types = (await svc.get(f"{API}/licence-types", params={"limit": 50})).json()
    assert {t["code"] for t in types["items"]} == set(seed.LICENCE_TYPES)

    citizen = tokens.headers("citizen", "credentials:read", sub="zhangsan", id_number=seed.CITIZEN,
                             real_name_level="verified")
    wallet = (await svc.get(f"{API}/me/licences", headers=citizen)).json()
    assert {lic["type_code"] for lic in wallet["items"]} == {
        "11100000000019211T001", "11100000000019211T002", "111000000000192623001", "11100000000019211T004"}
    driving = next(lic for lic in wallet["items"] if lic["type_code"] == "11100000000019211T004")
    p = await svc.post(f"{API}/licences/{driving['id']}/presentations", json={"fields": ["licence_class"]},
                       headers=citizen)
    assert p.status_code == 201, p.text
    answer = (await svc.post(f"{API}/verifications", json={"presentation": p.json()["qr"]})).json()
    assert answer["result"] == "valid" and answer["fields"] == {"licence_class": "C1"}
    assert answer["issuer_name"] == "中山市公安局"

    company = tokens.headers("company", "credentials:read credentials:seal", sub="lisi", credit_code=seed.COMPANY,
                             company_role="legal_representative")
    biz = (await svc.get(f"{API}/me/licences", headers=company)).json()["items"]
    assert [lic["type_code"] for lic in biz] == ["11100000000019238J001"] and biz[0]["issuer_code"] == seed.AMR
    seals = (await svc.get(f"{API}/seals", headers=company)).json()["items"]
    assert sorted(s["kind"] for s in seals) == sorted(seed.SEAL_KINDS)

    # Issued through the service: audited, and each announced on the outbox.
    audit = (await svc.get(f"{API}/audit-events", params={"entity": "licence"}, headers=tokens.admin)).json()
    issued = [e for e in audit["items"] if e["action"] == "licence.issued"]
    assert len(issued) == len(seed.LICENCES) and {e["actor"] for e in issued} == {"system:seed"}
