"""深中通办 信用报告 through the gateways (issue 22): a Shenzhen credit report stands in for a
无违法违规证明 in a Zhongshan case — a company's report, not only a person's.

Two cities on one machine as `make run-two-cities` starts them (the fixture of test_two_cities):
Shenzhen's public credit centre issues the Zhongshan company's credit report in Shenzhen's
svc-credentials; Zhongshan says (its licence-type mapping) that report stands for its
无违法违规证明. The company, in Zhongshan's app, consents that Shenzhen show it here, has Shenzhen
make a presentation through Zhongshan's svc-interop, and submits a Zhongshan case with it:
Zhongshan verifies it against Shenzhen's keys (synced by the pairing) and takes it for the
material. Another company's report, a report with a black-list entry and a forged presentation are
refused (422 naming the material) — every call through one of the two gateways."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from pathlib import Path

import httpx

from tongban.shared import clock
from tongban.shared.ids import credit_code_check_char
from tongban.shared.testing.plugin import wait_for

sys.path.insert(0, str(Path(__file__).parent))
import test_two_cities  # noqa: E402
from test_two_cities import Gateway  # noqa: E402

cities = test_two_cities.cities   # the fixture: two cities as `make run-two-cities` starts them

ZHONGSHAN, SHENZHEN = "442000", "440300"
COMPANY = "91442000MA4W12346R"                                                     # Zhongshan's seeded company
NEIGHBOUR = "91442000MA4W8888" + "1" + credit_code_check_char("91442000MA4W88881")  # another Zhongshan company
SZ_CREDIT = "11440300007234568" + credit_code_check_char("11440300007234568")      # 深圳市公共信用中心
ZS_CREDIT = "11442000007234561" + credit_code_check_char("11442000007234561")      # 中山市公共信用中心
REPORT = SZ_CREDIT + "011"            # Shenzhen's company credit report (企业信用报告)
CERTIFICATE = ZS_CREDIT + "009"       # Zhongshan's 无违法违规证明 (for companies)
ITEM = "442020000977"                 # a Zhongshan item asking for it
FIELDS = [{"name": "subject_code", "type": "string", "max_length": 18},
          {"name": "credit_level", "type": "string", "max_length": 2},
          {"name": "black_list_entries", "type": "integer"}, {"name": "red_list_entries", "type": "integer"}]


async def test_a_shenzhen_company_credit_report_replaces_a_certificate_in_a_zhongshan_case(cities):
    zs_city, sz_city = cities
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, timeout=30) as http:
        zs, sz = Gateway(zs_city, http), Gateway(sz_city, http)
        zs_admin, sz_admin = await zs.login("admin", "Admin#2026"), await sz.login("admin", "Admin#2026")
        company = await zs.login("company", "Company#2026")
        neighbour = await zs.account(zs_admin, username="zs-neighbour", password="Company#2026", role="company",
                                     display_name="周八（中山市邻里餐饮有限公司）", credit_code=NEIGHBOUR,
                                     phone="13900139555")

        def key() -> dict[str, str]:
            return {"Idempotency-Key": str(uuid.uuid4())}

        # 1. Shenzhen's credit centre: its report type for companies, and the reports it issues.
        for gw, admin, body in (
                (sz, sz_admin, {"code": REPORT, "name": "企业公共信用信息报告", "issuer_code": SZ_CREDIT,
                                "issuer_name": "深圳市公共信用中心", "holder_type": "001", "validity": "given",
                                "fields": FIELDS}),
                (zs, zs_admin, {"code": CERTIFICATE, "name": "无违法违规证明（企业）", "issuer_code": ZS_CREDIT,
                                "issuer_name": "中山市公共信用中心", "holder_type": "001", "validity": "given",
                                "fields": FIELDS})):
            r = await gw.call("POST", "/api/v1/credentials/licence-types", {**admin, **key()}, json=body)
            assert r.status_code == 201, r.text
        issuer = await sz.account(sz_admin, username="sz-credit", password="Approver#2026", role="approver",
                                  display_name="深圳市公共信用中心", department=SZ_CREDIT)

        async def report(holder: str, level: str = "A", black: int = 0) -> dict:
            r = await sz.call("POST", "/api/v1/credentials/licences", {**issuer, **key()}, json={
                "type_code": REPORT, "holder_id": holder, "holder_name": f"企业{holder[-4:]}",
                "valid_until": (clock.today() + dt.timedelta(days=90)).isoformat(),
                "data": {"subject_code": holder, "credit_level": level, "black_list_entries": black,
                         "red_list_entries": 1}})
            assert r.status_code == 201, r.text
            return r.json()

        clean, dirty = await report(COMPANY), await report(NEIGHBOUR, level="C", black=1)
        # Zhongshan learns the credit centre's key (the pairing's sync) and maps the report to its certificate.
        r = await zs.call("POST", f"/api/v1/interop/partners/{SHENZHEN}/sync", zs_admin)
        assert r.status_code == 200, r.text
        r = await zs.call("POST", "/api/v1/credentials/licence-type-mappings", {**zs_admin, **key()}, json={
            "region_code": SHENZHEN, "partner_type_code": REPORT, "partner_type_name": "企业公共信用信息报告",
            "our_type_code": CERTIFICATE})
        assert r.status_code == 201, r.text

        # 2. A Zhongshan item (in the catalogue, copied to svc-cases).
        r = await zs.call("POST", "/api/v1/catalog/items", zs_admin, json={
            "basic_code": ITEM, "name": "餐饮服务提升资金申请", "exercise_level": 4, "case_type": "promised",
            "promised_limit": 5, "promised_limit_unit": "working_day",
            "implementing_body_credit_code": "11442000MB0000002B"})
        assert r.status_code == 201, r.text
        if r.json().get("status") != "published":
            r = await zs.call("POST", f"/api/v1/catalog/items/{r.json()['id']}/publish", zs_admin)
            assert r.status_code == 200, r.text

        async def copied():
            page = (await zs.call("GET", "/api/v1/cases/items", company, params={"limit": 200})).json()
            return ITEM in {i["basic_code"] for i in page["items"]} or None

        await wait_for(copied, timeout=60)

        # 3. The company consents in Zhongshan's app that Shenzhen show its report here, and has
        #    Shenzhen make a presentation through Zhongshan's svc-interop.
        async def present(who: dict, identifier: str) -> str:
            r = await zs.call("POST", "/api/v1/credentials/me/partner-consents", {**who, **key()}, json={
                "partner": SHENZHEN, "purpose": "在中山办事时出示深圳企业信用报告",
                "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()})
            assert r.status_code == 201, r.text
            consent = {"X-Holder-Consent": r.json()["token"]}
            r = await zs.call("POST", f"/api/v1/interop/partner-licences/{SHENZHEN}/{identifier}/presentations",
                              {**who, **consent, **key()}, json={"purpose": "中山办件: 无违法违规证明"})
            assert r.status_code == 201, r.text
            return r.json()["qr"]

        async def submit(who: dict, qr: str) -> httpx.Response:
            return await zs.call("POST", "/api/v1/cases/cases", {**who, **key()}, json={
                "basic_code": ITEM, "materials": [{"name": "无违法违规证明", "licence_type_code": CERTIFICATE,
                                                   "presentation": qr}]})

        def refused(r: httpx.Response, refusal: str) -> None:
            assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
            assert r.json()["code"] == "licence_not_usable" and r.json()["refusal"] == refusal, r.json()
            assert r.json()["errors"][0]["field"] == "materials[0].presentation"

        qr = await present(company, clean["identifier"])
        # Forged (the signature replaced): refused; the genuine one is taken for the material.
        head, payload, signature = qr.split(".")
        refused(await submit(company, f"{head}.{payload}.{'A' * len(signature)}"), "forged")
        r = await submit(company, qr)
        assert r.status_code == 201, r.text
        case = r.json()
        [m] = (await zs.call("GET", f"/api/v1/cases/cases/{case['id']}/materials", company)).json()["items"]
        assert (m["kind"], m["licence_type_code"], m["licence_identifier"]) == ("licence", CERTIFICATE,
                                                                               clean["identifier"])
        assert m["verification"] == f"presentation-{SHENZHEN}"

        # Another company cannot hand in this company's report; a report with a black-list entry is not clean.
        refused(await submit(neighbour, await present(company, clean["identifier"])), "not_the_applicant")
        refused(await submit(neighbour, await present(neighbour, dirty["identifier"])), "not_clean")
