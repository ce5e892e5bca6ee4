"""Chinese text in figures (utils/fonts.py): drawn with a CJK font, or a warning naming the package."""

import warnings

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tools import i18n  # noqa: E402
from utils import fonts  # noqa: E402


def missing_glyphs(family: list[str]) -> list[str]:
    """The missing-glyph warnings matplotlib gives while drawing a Chinese title in ``family``."""
    with matplotlib.rc_context({"font.family": family}), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure, ax = plt.subplots()
        ax.set_title("交叉熵与未规范化的预测 cross-entropy")
        figure.canvas.draw()
        plt.close(figure)
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_an_installed_cjk_font_is_found():
    font = fonts.find_cjk_font()
    assert font == "Noto Sans CJK SC", "install fonts-noto-cjk (Debian) for the Chinese edition's figures"


def test_chinese_text_draws_with_the_cjk_font_and_without_it_matplotlib_says_so():
    assert missing_glyphs(["DejaVu Sans", fonts.find_cjk_font()]) == []
    assert missing_glyphs(["DejaVu Sans"])  # the empty boxes the CJK font prevents are reported, not silent


def test_use_cjk_font_adds_the_font_after_the_latin_one():
    with matplotlib.rc_context({"font.family": ["sans-serif"]}):
        assert fonts.use_cjk_font() == "Noto Sans CJK SC"
        assert list(matplotlib.rcParams["font.family"]) == ["sans-serif", "Noto Sans CJK SC"]


def test_without_a_cjk_font_chinese_figures_warn_naming_the_package():
    with matplotlib.rc_context({"font.family": ["DejaVu Sans", "Noto Sans CJK SC"]}):
        with pytest.warns(fonts.MissingCJKFontWarning, match="fonts-noto-cjk"):
            assert fonts.use_cjk_font(installed={"DejaVu Sans"}) is None
    with matplotlib.rc_context({"font.family": ["sans-serif"]}), warnings.catch_warnings():
        warnings.simplefilter("error")  # English figures need no CJK font: no warning
        assert fonts.use_cjk_font(installed={"DejaVu Sans"}) is None


def test_the_chinese_folders_matplotlibrc_asks_for_an_installed_cjk_font(tmp_path):
    i18n.write_folder_settings(tmp_path)
    settings = matplotlib.rc_params_from_file(str(tmp_path / "matplotlibrc"), use_default_template=False)
    family = list(settings["font.family"])
    assert family[0] == "DejaVu Sans" and fonts.find_cjk_font() in family
    assert missing_glyphs(family) == []
    for folder in ("notebooks", "exercises"):
        assert (i18n.ZH_DIR / folder / "matplotlibrc").read_text(encoding="utf-8") == fonts.rc_text()
