"""The CJK font every rendered page and picture uses (notices, decisions, licence pictures).

Chinese text set in a font without CJK glyphs comes out as empty boxes, or as nothing at all: a
notice a resident cannot read. The font is the system's WenQuanYi Micro Hei (Debian
`fonts-wqy-microhei`, TrueType outlines, which reportlab embeds; Noto CJK ships CFF outlines
reportlab cannot). `.ci/run` and the images install it; `TONGBAN_CJK_FONT` names another file.
When it is missing, rendering fails loudly (`CjkFontMissing`, a 503) instead of drawing a
glyph-less page.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from tongban.shared.errors import AppError

CANDIDATES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",)
# Characters every document prints: if the font lacks one of them it is not a CJK font.
PROBE = "受理通知书电子证照中山市"
NONCHARACTER = "\ufffe"


class CjkFontMissing(AppError, RuntimeError):
    code, status, title = "cjk_font_missing", 503, "The CJK font for documents is not installed"


@lru_cache(maxsize=1)
def path() -> Path:
    """The font file: TONGBAN_CJK_FONT, else the Debian package's; checked to hold CJK glyphs."""
    named = os.environ.get("TONGBAN_CJK_FONT")
    for candidate in ((named,) if named else CANDIDATES):
        font = Path(candidate)
        if font.is_file():
            _check_glyphs(font)
            return font
    raise CjkFontMissing(f"no CJK font at {named or ', '.join(CANDIDATES)}: install Debian's fonts-wqy-microhei "
                         "(apt-get install fonts-wqy-microhei) or set TONGBAN_CJK_FONT to a TrueType CJK font")


def _check_glyphs(font: Path) -> None:
    from PIL import ImageFont

    face = ImageFont.truetype(str(font), 16)
    # A glyph the font lacks is drawn as its .notdef box (or nothing): what a noncharacter draws.
    notdef = bytes(face.getmask(NONCHARACTER))
    missing = [ch for ch in PROBE if face.getmask(ch).getbbox() is None or bytes(face.getmask(ch)) == notdef]
    if missing:
        raise CjkFontMissing(f"{font} has no glyphs for {''.join(missing)}: not a CJK font")


REPORTLAB_NAME = "TongbanCJK"


def register_reportlab() -> str:
    """Register the font with reportlab once; returns the name to set text in."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if REPORTLAB_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(REPORTLAB_NAME, str(path()), subfontIndex=0))
    return REPORTLAB_NAME
