"""PAdES signatures (pyHanko) made with a seal's key in the key store, and their check.

The key store never hands a private key out, so pyHanko gets a `Signer` whose raw signature is
the store's (`KeyStoreSigner`). PAdES needs an X.509 certificate: each document seal has a
self-issued one (built with asn1crypto, signed by the seal's own Ed25519 key through the store)
kept beside the seal; the verification endpoint trusts exactly the certificates of our seals,
so a signature by any other key is not ours. Ed25519 in CMS goes with SHA-512 (RFC 8419).
The seal's picture is the signature field's appearance, placed on the page: what a reader sees is
what the signature covers.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass

from asn1crypto import algos, keys, x509
from PIL import Image, ImageDraw, ImageFont
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator import ValidationContext

from tongban.credentials.signing import keystore
from tongban.shared import cjk_font

ALGORITHM = "Ed25519"
DIGEST = "sha512"
FIELD = "TongbanSeal"
SEAL_SIZE = 118   # points (≈ 42 mm, an official seal's size)


def certificate(kid: str, subject_name: str, organisation_code: str, serial: int, now: dt.datetime,
                public_key: bytes, years: int = 20) -> bytes:
    """A self-issued X.509 certificate for a seal's Ed25519 key, signed through the key store (DER)."""
    name = x509.Name.build({"country_name": "CN", "organization_name": subject_name[:64],
                            "common_name": (subject_name + " 电子印章")[:64],
                            "organizational_unit_name": organisation_code})
    tbs = x509.TbsCertificate({
        "version": "v3", "serial_number": serial, "signature": {"algorithm": "ed25519"},
        "issuer": name, "subject": name,
        "validity": {"not_before": x509.Time({"utc_time": now - dt.timedelta(days=1)}),
                     "not_after": x509.Time({"general_time": now + dt.timedelta(days=365 * years)})},
        "subject_public_key_info": keys.PublicKeyInfo({"algorithm": {"algorithm": "ed25519"},
                                                       "public_key": public_key}),
        "extensions": [
            {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": True}},
            {"extn_id": "key_usage", "critical": True,
             "extn_value": {"digital_signature", "non_repudiation", "key_cert_sign"}},
        ],
    })
    signature = keystore.current().sign(kid, ALGORITHM, tbs.dump())
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": {"algorithm": "ed25519"},
                             "signature_value": signature}).dump()


class KeyStoreSigner(signers.Signer):
    """A pyHanko signer whose signature comes from the key store (the key stays there)."""

    def __init__(self, kid: str, cert_der: bytes) -> None:
        self.kid = kid
        super().__init__(signing_cert=x509.Certificate.load(cert_der), embed_roots=True,
                         signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "ed25519"}))

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return bytes(64)
        return keystore.current().sign(self.kid, ALGORITHM, data)


def seal_picture(name: str, px: int = 480) -> Image.Image:
    """The seal as it is pressed on paper: a red ring, a star, the department's name round the top."""
    img = Image.new("RGBA", (px, px), (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    red = (210, 20, 30, 235)
    c, ring = px / 2, px * 0.03
    draw.ellipse((ring, ring, px - ring, px - ring), outline=red, width=int(ring * 1.3))
    star = [(c + px * 0.16 * math.cos(math.radians(-90 + i * 36)) * (1 if i % 2 == 0 else 0.38),
             c + px * 0.16 * math.sin(math.radians(-90 + i * 36)) * (1 if i % 2 == 0 else 0.38)) for i in range(10)]
    draw.polygon(star, fill=red)
    text = name[:16]
    size = int(px * 0.12)
    font = ImageFont.truetype(str(cjk_font.path()), size)
    radius = px / 2 - ring * 2 - size * 0.62
    span = min(250.0, 23.0 * len(text))
    for i, ch in enumerate(text):
        angle = -90 - span / 2 + (span * (i + 0.5) / len(text))
        glyph = Image.new("RGBA", (size * 2, size * 2), (255, 255, 255, 0))
        ImageDraw.Draw(glyph).text((size, size), ch, font=font, fill=red, anchor="mm")
        glyph = glyph.rotate(-(angle + 90), resample=Image.BICUBIC)
        x = c + radius * math.cos(math.radians(angle)) - size
        y = c + radius * math.sin(math.radians(angle)) - size
        img.alpha_composite(glyph, (int(x), int(y)))
    return img


@dataclass(frozen=True)
class Placement:
    page: int = 0
    x: float = 380.0      # points from the left of the page
    y: float = 90.0       # points from the bottom


async def sign(pdf: bytes, kid: str, cert_der: bytes, seal_name: str, location: str, reason: str,
               where: Placement) -> bytes:
    """The document with a PAdES-B signature by the seal, its picture on the page (incremental)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    style = StaticStampStyle(background=PdfImage(seal_picture(seal_name)), border_width=0, background_opacity=1.0)
    box = (where.x, where.y, where.x + SEAL_SIZE, where.y + SEAL_SIZE)
    meta = PdfSignatureMetadata(field_name=FIELD, md_algorithm=DIGEST, subfilter=fields.SigSeedSubFilter.PADES,
                                reason=reason, location=location, name=seal_name)
    out = await PdfSigner(meta, signer=KeyStoreSigner(kid, cert_der), stamp_style=style,
                          new_field_spec=fields.SigFieldSpec(FIELD, on_page=where.page, box=box)).async_sign_pdf(writer)
    return out.getvalue()


@dataclass(frozen=True)
class Checked:
    """What the signatures of an uploaded PDF say: `signer` is the certificate (DER) of the last one."""

    readable: bool
    signed: bool
    intact: bool = False
    covers_whole_file: bool = False
    signer: bytes | None = None
    signed_at: dt.datetime | None = None
    problem: str | None = None


async def check(pdf: bytes, trusted: list[bytes]) -> Checked:
    """Read the PDF's last signature and check its digest, its signature and its coverage."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except Exception as exc:  # noqa: BLE001 - any parse failure of an upload is "not a readable PDF"
        return Checked(readable=False, signed=False, problem=f"not a readable PDF ({type(exc).__name__})")
    if not signatures:
        return Checked(readable=True, signed=False, problem="the PDF carries no signature")
    last = signatures[-1]
    try:
        context = ValidationContext(trust_roots=[x509.Certificate.load(c) for c in trusted], allow_fetching=False)
        status = await async_validate_pdf_signature(last, context)
    except Exception as exc:  # noqa: BLE001 - a signature pyHanko cannot even evaluate is a broken one
        return Checked(readable=True, signed=True, problem=f"the signature cannot be evaluated ({type(exc).__name__})")
    cert = last.signer_cert.dump() if last.signer_cert is not None else None
    return Checked(readable=True, signed=True, intact=bool(status.intact and status.valid),
                   covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE, signer=cert,
                   signed_at=last.self_reported_timestamp)
