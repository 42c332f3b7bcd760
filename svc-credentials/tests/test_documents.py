"""Department document seals (PAdES), their public verification, and licence pictures (照面)."""

import base64
import io
import uuid

import zxingcpp
from PIL import Image
from reportlab.pdfgen import canvas

from tongban.shared import cjk_font

API = "/api/v1/credentials"


def a_pdf(text: str = "受理通知书") -> bytes:
    out = io.BytesIO()
    c = canvas.Canvas(out)
    c.setFont(cjk_font.register_reportlab(), 20)
    c.drawString(72, 760, text)
    c.showPage()
    c.save()
    return out.getvalue()


def cases_service(tokens) -> dict[str, str]:  # noqa: ANN001
    return tokens.headers("service", "credentials:read credentials:use credentials:seal_documents",
                          sub="service:svc-cases")


async def seal(svc, tokens, k, pdf: bytes, **extra) -> dict:  # noqa: ANN001, ANN003
    body = {"document_id": str(uuid.uuid4()), "title": "受理通知书", "reference": "4420002026120600001",
            "department": k.DEPT, "pdf": base64.b64encode(pdf).decode(), **extra}
    r = await svc.post(f"{API}/document-seals", json=body, headers=cases_service(tokens))
    assert r.status_code == 201, r.text
    return r.json()


async def verify(svc, pdf: bytes) -> dict:  # noqa: ANN001
    r = await svc.post(f"{API}/document-verifications", content=pdf, headers={"Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_sealed_pdf_verifies_and_one_changed_byte_does_not(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)    # registers the department as an issuer, with its name
    sealed = await seal(svc, tokens, k, a_pdf())
    assert sealed["seal_name"] == "中山市市场监督管理局"
    pdf = base64.b64decode(sealed["pdf"])

    answer = await verify(svc, pdf)
    assert answer["result"] == "authentic" and answer["authentic"] and answer["unaltered"]
    assert answer["seal"]["department"] == k.DEPT and answer["document"]["document_id"] == sealed["document_id"]

    # The QR's target: what was sealed under the id.
    r = await svc.get(f"{API}/document-verifications/{sealed['document_id']}")
    assert r.status_code == 200 and r.json()["sha256"] == sealed["sha256"]

    # The seal use is in the seal use log like any other (admins read every company's and department's).
    r = await svc.get(f"{API}/seal-uses", params={"company_code": k.DEPT}, headers=tokens.admin)
    assert [u["id"] for u in r.json()["items"]] == [sealed["seal_use_id"]]

    # One byte changed inside what the signature covers.
    start = pdf.index(b"stream", pdf.index(b"/Contents") if b"/Contents" in pdf else 0)
    altered = bytearray(pdf)
    altered[start + 40] ^= 0x01
    answer = await verify(svc, bytes(altered))
    assert answer["result"] == "altered" and not answer["unaltered"] and not answer["authentic"]

    # Content appended after sealing: the sealed part is intact, the file is not what was issued.
    answer = await verify(svc, pdf + b"\n% appended\n")
    assert answer["result"] == "altered" and answer["authentic"] and not answer["unaltered"]

    assert (await verify(svc, a_pdf()))["result"] == "unsigned"
    assert (await verify(svc, b"%PDF-1.7 nonsense"))["result"] in ("unreadable", "unsigned")
    r = await svc.post(f"{API}/document-verifications", content=b"hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["code"] == "not_a_pdf"


async def test_only_the_cases_service_seals_and_an_id_is_sealed_once(svc, tokens, k) -> None:
    body = {"document_id": str(uuid.uuid4()), "title": "决定书", "reference": "x", "department": k.DEPT,
            "pdf": base64.b64encode(a_pdf()).decode()}
    r = await svc.post(f"{API}/document-seals", json=body, headers=tokens.approver)
    assert r.status_code == 403
    r = await svc.post(f"{API}/document-seals", json=body, headers=cases_service(tokens))
    assert r.status_code == 201
    r = await svc.post(f"{API}/document-seals", json=body, headers=cases_service(tokens))
    assert r.status_code == 409 and r.json()["code"] == "document_already_sealed"
    r = await svc.post(f"{API}/document-seals", json={**body, "document_id": str(uuid.uuid4()), "pdf": "bm90IGEgcGRm"},
                       headers=cases_service(tokens))
    assert r.status_code == 422


async def test_a_licence_picture_carries_a_presentation_that_verifies(svc, tokens, k) -> None:
    template = {"title": "食品经营许可证", "lines": [
        {"field": "holder_name", "label": "经营者", "x": 70, "y": 200},
        {"field": "business_scope", "label": "经营项目", "x": 70, "y": 270},
        {"field": "address", "label": "住所", "x": 70, "y": 340, "size": 28}]}
    await k.setup_type(svc, tokens, template=template)
    lic = await k.issue(svc, tokens)
    r = await svc.get(f"{API}/licences/{lic['id']}/picture", headers=tokens.citizen)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
    assert r.headers["cache-control"] == "no-store"
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(r.content)))
    assert len(found) == 1 and found[0].text.startswith("TBP1.")
    v = await svc.post(f"{API}/verifications", json={"presentation": found[0].text})
    assert v.json()["result"] == "valid" and v.json()["fields"]["holder_name"] == "张三"

    r = await svc.get(f"{API}/licences/{lic['id']}/picture", params={"format": "pdf"}, headers=tokens.citizen)
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    # Someone else's licence: not even its existence.
    r = await svc.get(f"{API}/licences/{lic['id']}/picture", headers=tokens.other_citizen)
    assert r.status_code in (403, 404)
    # A template naming a field the type lacks is refused when the type is defined.
    bad = {"lines": [{"field": "nope", "x": 1, "y": 1}]}
    r = await svc.post(f"{API}/licence-types", json=k.licence_type(code=k.DEPT + "009", template=bad),
                       headers=tokens.admin)
    assert r.status_code == 422
