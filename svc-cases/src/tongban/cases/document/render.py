"""A notice or decision as an A4 PDF (reportlab), set in the project's CJK font, one page.

The page leaves the lower right for the department's seal, which svc-credentials presses there
when it signs (its signature appearance, at the place `SEAL_BOX` names), overlapping the issuing
line and the date as on paper; the QR code at the lower left carries the verification address.
PDF/A: reportlab's open-source edition does not write PDF/A (no output intent or XMP conformance
claim), so the documents are plain PDF 1.4 with the font embedded (subset).
"""

from __future__ import annotations

import io
from typing import Any

import segno
from PIL import Image
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Frame, KeepInFrame, Paragraph, Spacer
from reportlab.pdfgen import canvas
from xml.sax.saxutils import escape

from tongban.shared import cjk_font

WIDTH, HEIGHT = A4
MARGIN = 25 * mm
# Where svc-credentials places the seal (its default placement): x, y, size in points.
SEAL_BOX = (380.0, 90.0, 118.0)
QR_SIZE = 80.0


def _styles(font: str) -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=font, fontSize=12, leading=21, firstLineIndent=24, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=22, leading=30, alignment=TA_CENTER),
        "number": ParagraphStyle("number", fontName=font, fontSize=11, leading=16, alignment=TA_CENTER),
        "body": body,
        "plain": ParagraphStyle("plain", parent=body, firstLineIndent=0),
        "item": ParagraphStyle("item", parent=body, firstLineIndent=0, leftIndent=24),
        "small": ParagraphStyle("small", parent=body, fontSize=10, leading=16, firstLineIndent=0),
    }


def _qr(payload: str) -> ImageReader:
    out = io.BytesIO()
    segno.make(payload, error="m").save(out, kind="png", scale=4, border=1)
    return ImageReader(Image.open(io.BytesIO(out.getvalue())))


def pdf(facts: dict[str, Any], department_line: str, document_id: str) -> bytes:
    """The document's PDF (unsealed): header, body, materials, legal basis, appeal, issuing block."""
    font = cjk_font.register_reportlab()
    s = _styles(font)
    story: list[Any] = [Paragraph(escape(facts["title"]), s["title"]), Spacer(1, 4),
                        Paragraph(escape(facts["number"]), s["number"]), Spacer(1, 14),
                        Paragraph(escape(f"{facts['addressee']}："), s["plain"]),
                        Paragraph(escape(f"申请人：{facts['applicant']}"), s["small"]),
                        Paragraph(escape(f"办件编号：{facts['case_number']}　事项：{facts['item']}"), s["small"]),
                        Spacer(1, 8)]
    story += [Paragraph(escape(p), s["body"]) for p in facts["paragraphs"]]
    if facts.get("materials_heading") and facts["materials"]:
        story.append(Paragraph(escape(facts["materials_heading"] + "："), s["plain"]))
        story += [Paragraph(escape(f"{i}. {m}"), s["item"]) for i, m in enumerate(facts["materials"], 1)]
    story.append(Spacer(1, 6))
    story.append(Paragraph(escape(f"法律依据：{facts['legal_basis']}"), s["small"]))
    if facts.get("appeal"):
        story.append(Paragraph(escape(facts["appeal"]), s["body"]))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4, pageCompression=1)
    c.setTitle(f"{facts['title']} {facts['case_number']}")
    c.setAuthor(department_line)
    c.setSubject(document_id)
    top, bottom = HEIGHT - MARGIN, SEAL_BOX[1] + SEAL_BOX[2] + 30
    frame = Frame(MARGIN, bottom, WIDTH - 2 * MARGIN, top - bottom, showBoundary=0)
    frame.addFromList([KeepInFrame(WIDTH - 2 * MARGIN, top - bottom, story, mode="shrink")], c)
    # The issuing block: the department and the date, where the seal will overlap them.
    c.setFont(font, 12)
    c.drawRightString(WIDTH - MARGIN, SEAL_BOX[1] + 80, department_line)
    c.drawRightString(WIDTH - MARGIN, SEAL_BOX[1] + 58, facts["issued_on"])
    c.setFont(font, 9)
    c.drawImage(_qr(facts["verify_url"]), MARGIN, 60, QR_SIZE, QR_SIZE)
    c.drawString(MARGIN, 48, "扫码或上传本文件核验真伪（电子印章）")
    c.drawString(MARGIN, 36, f"文书编号 {document_id}")
    c.showPage()
    c.save()
    return out.getvalue()
