"""A licence as a picture (照面): its type's template (data on the licence type, LicenceTemplate)
filled with the licence's values, and a QR code carrying a fresh presentation (亮证) that the
verification endpoint answers `valid` for. PNG with Pillow, PDF with reportlab, one layout."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import segno
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from tongban.credentials.licence_type.schemas import LicenceTemplate, TemplateLine, TemplateQr
from tongban.shared import cjk_font

HOLDER_NAME = "holder_name"
PDF_SCALE = 0.5     # PDF points per PNG pixel


@dataclass(frozen=True)
class Filled:
    """What the picture shows: the title, the issuer, (label, value) lines and the QR payload."""

    template: LicenceTemplate
    title: str
    footer: str
    lines: list[tuple[TemplateLine, str]]
    qr: str


def template_of(type_name: str, fields: list[dict[str, Any]], stored: dict[str, Any] | None) -> LicenceTemplate:
    """The type's template, or the default one: the holder and every field in order, QR at the right."""
    if stored is not None:
        return LicenceTemplate.model_validate(stored)
    names = [(HOLDER_NAME, "持证人"), *((f["name"], f.get("label") or f["name"]) for f in fields)][:12]
    step = max(40, min(70, 480 // max(1, len(names))))
    lines = [TemplateLine(field=name, label=label, x=70, y=200 + i * step, size=min(34, step - 14))
             for i, (name, label) in enumerate(names)]
    return LicenceTemplate(title=type_name, lines=lines, qr=TemplateQr(x=840, y=300, size=320))


def fill(template: LicenceTemplate, type_name: str, holder_name: str, data: dict[str, Any], identifier: str,
         issuer_name: str, qr: str) -> Filled:
    def value(name: str) -> str:
        raw = holder_name if name == HOLDER_NAME else data.get(name)
        if raw is None:
            return "—"
        if isinstance(raw, bool):
            return "是" if raw else "否"
        return str(raw)

    return Filled(template=template, title=template.title or type_name, footer=f"{issuer_name}  证照编号 {identifier}",
                  lines=[(line, value(line.field)) for line in template.lines], qr=qr)


def _qr_image(payload: str, size: int) -> Image.Image:
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=4, border=2)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB").resize((size, size), Image.NEAREST)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def png(f: Filled) -> bytes:
    t = f.template
    font_path = str(cjk_font.path())
    img = Image.new("RGB", (t.width, t.height), _rgb(t.background))
    draw = ImageDraw.Draw(img)
    accent = _rgb(t.accent)
    border = max(6, t.width // 150)
    draw.rectangle((border, border, t.width - border, t.height - border), outline=accent, width=border)
    title_size = max(28, t.width // 18)
    draw.text((t.width // 2, border * 3 + title_size // 2 + 10), f.title, fill=accent,
              font=ImageFont.truetype(font_path, title_size), anchor="mm")
    for line, value in f.lines:
        font = ImageFont.truetype(font_path, line.size)
        text = f"{line.label}：{value}" if line.label else value
        draw.text((line.x, line.y), text, fill=(30, 30, 30), font=font)
    img.paste(_qr_image(f.qr, t.qr.size), (t.qr.x, t.qr.y))
    small = ImageFont.truetype(font_path, max(16, t.width // 60))
    draw.text((t.qr.x + t.qr.size // 2, t.qr.y + t.qr.size + 8), "扫码核验", fill=accent, font=small, anchor="mt")
    draw.text((border * 3, t.height - border * 3), f.footer, fill=(90, 90, 90), font=small, anchor="ld")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def pdf(f: Filled) -> bytes:
    t = f.template
    s = PDF_SCALE
    width, height = t.width * s, t.height * s
    font = cjk_font.register_reportlab()
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(width, height))
    c.setTitle(f.title)
    r, g, b = (v / 255 for v in _rgb(t.background))
    c.setFillColorRGB(r, g, b)
    c.rect(0, 0, width, height, stroke=0, fill=1)
    ar, ag, ab = (v / 255 for v in _rgb(t.accent))
    c.setStrokeColorRGB(ar, ag, ab)
    border = max(6, t.width // 150) * s
    c.setLineWidth(border)
    c.rect(border * 1.5, border * 1.5, width - border * 3, height - border * 3, stroke=1, fill=0)
    title_size = max(28, t.width // 18) * s
    c.setFillColorRGB(ar, ag, ab)
    c.setFont(font, title_size)
    c.drawCentredString(width / 2, height - (border * 3 + title_size + 10 * s), f.title)
    c.setFillColorRGB(0.12, 0.12, 0.12)
    for line, value in f.lines:
        c.setFont(font, line.size * s)
        c.drawString(line.x * s, height - (line.y + line.size) * s, f"{line.label}：{value}" if line.label else value)
    qr = _qr_image(f.qr, t.qr.size)
    c.drawImage(ImageReader(qr), t.qr.x * s, height - (t.qr.y + t.qr.size) * s, t.qr.size * s, t.qr.size * s)
    small = max(16, t.width // 60) * s
    c.setFont(font, small)
    c.setFillColorRGB(ar, ag, ab)
    c.drawCentredString((t.qr.x + t.qr.size / 2) * s, height - (t.qr.y + t.qr.size + 8) * s - small, "扫码核验")
    c.setFillColorRGB(0.35, 0.35, 0.35)
    c.drawString(border * 3, border * 3, f.footer)
    c.showPage()
    c.save()
    return out.getvalue()
