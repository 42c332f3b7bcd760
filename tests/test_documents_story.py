"""What a resident holds (issue 23): her case's supplement list, acceptance notice and decision,
each sealed by the department's e-seal at svc-credentials, downloaded by her, verified as authentic
by the public endpoint — and one altered byte caught; her licence as a picture whose QR code,
decoded from the PNG, verifies as `valid`. Both real services, real PostgreSQL and NATS.

Renders of a notice and of the licence picture go to `artefacts/` (git-ignored) for people to look at."""

import io
import uuid
from pathlib import Path

import httpx
import pypdfium2
import zxingcpp
from PIL import Image
from tongban.cases.catalog_copy import service as catalog_copy
from tongban.cases.main import SERVICE as CASES
from tongban.credentials.main import SERVICE as CREDENTIALS
from tongban.shared.contracts.catalog import ItemPublishedV1
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit
from tongban.shared.service_auth import BearerAuth, StaticToken
from tongban.shared.testing.plugin import running_service

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts"
ITEM = "442020000931"
DEPT = "11442000MB2C3D4E5" + credit_code_check_char("11442000MB2C3D4E5")
RESIDENT = "44200019900101123" + resident_id_check_digit("44200019900101123")
STRANGER = "44200019850505456" + resident_id_check_digit("44200019850505456")
CASES_API, CRED_API = "/api/v1/cases", "/api/v1/credentials"


def bearer(issuer, role: str, scopes: str, audiences: list[str], sub: str, **claims) -> dict[str, str]:  # noqa: ANN001, ANN003
    return {"Authorization": "Bearer " + issuer.mint(role, scopes, audiences, sub=sub, **claims)}


async def publish_item(cases) -> None:  # noqa: ANN001
    record = {"implementing_body_credit_code": DEPT, "result_licence_type": None}
    data = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=ITEM, name="食品经营许可", item_type="01", version=1,
                           case_type="promised", promised_limit=10, promised_limit_unit="working_day",
                           status="published", record=record)
    async with cases.app.state.sessionmaker() as session, session.begin():
        await catalog_copy.apply_item_published(session, data)


def first_page_png(pdf: bytes, path: Path) -> Image.Image:
    document = pypdfium2.PdfDocument(pdf)
    document.init_forms()   # the seal is the signature field's appearance: drawn with the forms
    page = document[0]
    image = page.render(scale=2).to_pil()
    image.save(path)
    return image


async def test_sealed_notices_and_a_licence_picture(infra, token_issuer, clean_nats, tmp_path) -> None:  # noqa: ANN001
    ARTEFACTS.mkdir(exist_ok=True)
    resident = bearer(token_issuer, "citizen", "cases:apply cases:read credentials:read", ["cases", "credentials"],
                      "citizen-zhang", id_number=RESIDENT, name="张三", real_name_level="verified")
    stranger = bearer(token_issuer, "citizen", "cases:apply cases:read", ["cases"], "citizen-li",
                      id_number=STRANGER, name="李四", real_name_level="verified")
    clerk = bearer(token_issuer, "clerk", "cases:read cases:process", ["cases"], "clerk-1", hall="zs-1",
                   halls=["zs-1"], departments=[DEPT])
    approver = bearer(token_issuer, "approver", "cases:read cases:approve credentials:issue", ["cases", "credentials"],
                      "approver-1", department=DEPT)
    admin = bearer(token_issuer, "admin", "credentials:admin", ["credentials"], "admin-1")
    async with running_service(CREDENTIALS, infra, token_issuer, key_dir=tmp_path / "keys") as credentials, \
            running_service(CASES, infra, token_issuer) as cases:
        # svc-cases calls svc-credentials as itself, with the scopes the gateway grants it.
        cases.app.state.credentials = httpx.AsyncClient(headers={"Accept-Language": "en"},
            transport=httpx.ASGITransport(app=credentials.app), base_url="http://credentials",
            auth=BearerAuth(StaticToken(token_issuer.mint(
                "service", "credentials:read credentials:use credentials:seal_documents", ["credentials"],
                sub="service:cases", service="cases"))))
        r = await credentials.put(f"{CRED_API}/issuers/{DEPT}", headers=admin,
                                  json={"name": "中山市市场监督管理局", "algorithm": "Ed25519"})
        assert r.status_code == 200, r.text
        await publish_item(cases)

        r = await cases.post(f"{CASES_API}/cases", headers=resident, json={"basic_code": ITEM, "form_data": {}})
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]

        async def step(action: str, who: dict, **body) -> None:  # noqa: ANN003
            r = await cases.post(f"{CASES_API}/cases/{case_id}/{action}", headers=who, json=body)
            assert r.status_code == 200, r.text

        async def issue(kind: str) -> dict:
            r = await cases.post(f"{CASES_API}/cases/{case_id}/documents", json={"kind": kind},
                                 headers=clerk | {"Idempotency-Key": f"doc-{kind}"})
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "sealed" and r.json()["seal_name"] == "中山市市场监督管理局"
            return r.json()

        # Not yet accepted: no acceptance notice.
        r = await cases.post(f"{CASES_API}/cases/{case_id}/documents", json={"kind": "acceptance"}, headers=clerk)
        assert r.status_code == 409 and r.json()["code"] == "document_not_due"

        await step("request_supplement", clerk, reason="营业执照复印件不清晰，请重新提供加盖公章的复印件")
        supplement = await issue("supplement")
        await step("resubmit", resident)
        await step("accept", clerk)
        acceptance = await issue("acceptance")
        await step("review", approver)
        await step("approve", approver)
        r = await cases.post(f"{CASES_API}/cases/{case_id}/documents", json={"kind": "decision"},
                             headers=approver | {"Idempotency-Key": "doc-decision"})
        assert r.status_code == 201, r.text
        decision = r.json()
        assert decision["title"] == "准予行政许可决定书"
        # A retry with the same key is the same document, not a second seal.
        r = await cases.post(f"{CASES_API}/cases/{case_id}/documents", json={"kind": "decision"},
                             headers=approver | {"Idempotency-Key": "doc-decision"})
        assert r.json()["id"] == decision["id"]

        # The applicant sees and downloads them; a stranger does not even learn the case exists.
        listed = (await cases.get(f"{CASES_API}/cases/{case_id}/documents", headers=resident)).json()
        assert [d["kind"] for d in listed["items"]] == ["supplement", "acceptance", "decision"]
        assert "营业执照复印件不清晰" in "".join(listed["items"][0]["facts"]["paragraphs"])
        r = await cases.get(f"{CASES_API}/cases/{case_id}/documents/{acceptance['id']}/pdf", headers=stranger)
        assert r.status_code == 404
        pdfs = {}
        for doc in (supplement, acceptance, decision):
            r = await cases.get(f"{CASES_API}/cases/{case_id}/documents/{doc['id']}/pdf", headers=resident)
            assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
            pdfs[doc["kind"]] = r.content

            # Anyone checks it: authentic, unaltered, by the department's seal.
            v = await credentials.post(f"{CRED_API}/document-verifications", content=r.content,
                                       headers={"Content-Type": "application/pdf"})
            assert v.status_code == 200, v.text
            answer = v.json()
            assert answer["result"] == "authentic" and answer["authentic"] and answer["unaltered"], answer
            assert answer["seal"]["department"] == DEPT and answer["seal"]["name"] == "中山市市场监督管理局"
            assert answer["document"]["document_id"] == doc["id"]

        # One byte changed inside the signed page content: reported as altered.
        pdf = pdfs["acceptance"]
        at = pdf.index(b"stream\n") + 60
        altered = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1:]
        v = await credentials.post(f"{CRED_API}/document-verifications", content=altered,
                                   headers={"Content-Type": "application/pdf"})
        assert v.json()["result"] == "altered" and not v.json()["unaltered"], v.json()

        # Each sealing is in the seal use log like any seal use.
        uses = (await credentials.get(f"{CRED_API}/seal-uses", params={"company_code": DEPT}, headers=admin)).json()
        assert len(uses["items"]) == 3 and {u["outcome"] for u in uses["items"]} == {"applied"}

        # What a resident sees: the acceptance notice, rendered; its QR points to the verification.
        notice = first_page_png(pdf, ARTEFACTS / "acceptance-notice.png")
        [qr] = zxingcpp.read_barcodes(notice)
        assert qr.text.endswith(f"/document-verifications/{acceptance['id']}")
        first_page_png(pdfs["supplement"], ARTEFACTS / "supplement-notice.png")

        # The licence as a picture: its QR carries a presentation that verifies `valid`.
        type_code = DEPT + "001"
        r = await credentials.post(f"{CRED_API}/licence-types", headers=admin, json={
            "code": type_code, "name": "食品经营许可证", "issuer_code": DEPT, "issuer_name": "中山市市场监督管理局",
            "holder_type": "111", "validity": "years", "validity_years": 5,
            "fields": [{"name": "business_scope", "label": "经营项目"}, {"name": "address", "label": "经营场所"}],
            "template": {"title": "食品经营许可证", "lines": [
                {"field": "holder_name", "label": "经营者", "x": 70, "y": 210},
                {"field": "business_scope", "label": "经营项目", "x": 70, "y": 290},
                {"field": "address", "label": "经营场所", "x": 70, "y": 370, "size": 28}]}})
        assert r.status_code == 201, r.text
        r = await credentials.post(f"{CRED_API}/licences", headers=approver, json={
            "type_code": type_code, "holder_id": RESIDENT, "holder_name": "张三",
            "data": {"business_scope": "预包装食品销售", "address": "中山市东区中山四路1号"}})
        assert r.status_code == 201, r.text
        r = await credentials.get(f"{CRED_API}/licences/{r.json()['id']}/picture", headers=resident)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
        (ARTEFACTS / "licence-picture.png").write_bytes(r.content)
        [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(r.content)))
        v = await credentials.post(f"{CRED_API}/verifications", json={"presentation": code.text})
        assert v.json()["result"] == "valid", v.json()
        await cases.app.state.credentials.aclose()
