"""The CJK font check: the installed font is found and has the glyphs; a missing font or one
without CJK glyphs is refused loudly instead of rendering empty boxes."""

import pytest

from tongban.shared import cjk_font


@pytest.fixture(autouse=True)
def fresh():
    cjk_font.path.cache_clear()
    yield
    cjk_font.path.cache_clear()


def test_the_installed_font_has_chinese_glyphs() -> None:
    font = cjk_font.path()
    assert font.is_file()
    assert cjk_font.register_reportlab() == cjk_font.REPORTLAB_NAME


def test_a_missing_font_fails_loudly(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TONGBAN_CJK_FONT", str(tmp_path / "nothing.ttf"))
    with pytest.raises(cjk_font.CjkFontMissing, match="fonts-wqy-microhei"):
        cjk_font.path()


def test_a_font_without_cjk_glyphs_is_refused(monkeypatch) -> None:
    latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    monkeypatch.setenv("TONGBAN_CJK_FONT", latin)
    with pytest.raises(cjk_font.CjkFontMissing, match="not a CJK font"):
        cjk_font.path()
