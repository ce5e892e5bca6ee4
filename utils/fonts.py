"""Chinese text in figures: find an installed CJK font and let matplotlib fall back to it.

matplotlib's default font, DejaVu Sans, has no Chinese glyphs: without help, Chinese titles and
labels come out as empty boxes. The Chinese edition's folders (``zh/notebooks`` and so on) hold a
``matplotlibrc`` (written by ``rc_text``) that names Noto Sans CJK SC after DejaVu Sans, so every
figure there draws Latin text as before and Chinese text in the CJK font (matplotlib logs
"Font family 'Noto Sans CJK SC' not found" where it is missing). ``use_cjk_font`` does the same
at run time, and warns, naming the package to install, when no CJK font is found.
"""

from __future__ import annotations

import warnings

import matplotlib
from matplotlib import font_manager

# Simplified Chinese first; the others cover the common systems (Debian/Ubuntu, macOS, Windows).
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei",
             "PingFang SC", "Heiti SC", "Microsoft YaHei", "SimHei")
LATIN_FONT = "DejaVu Sans"  # matplotlib's own font, first, so Latin text looks as in English
MISSING = ("No CJK font found: Chinese text in figures would show as empty boxes. Install one, e.g. "
           "on Debian or Ubuntu `sudo apt-get install fonts-noto-cjk` (Noto Sans CJK SC), then "
           "delete matplotlib's font cache (`rm -r ~/.cache/matplotlib`) and restart the kernel.")


class MissingCJKFontWarning(UserWarning):
    """Figures are asked to draw Chinese text, but no CJK font is installed."""


def installed_fonts() -> set[str]:
    return {font.name for font in font_manager.fontManager.ttflist}


def find_cjk_font(installed: set[str] | None = None) -> str | None:
    """The first of CJK_FONTS that matplotlib can use, or None."""
    installed = installed_fonts() if installed is None else installed
    return next((name for name in CJK_FONTS if name in installed), None)


def asks_for_cjk() -> bool:
    """True when matplotlib's settings name a CJK font (as the Chinese edition's matplotlibrc does)."""
    return any(name in CJK_FONTS for name in matplotlib.rcParams["font.family"])


def use_cjk_font(installed: set[str] | None = None) -> str | None:
    """Add an installed CJK font to matplotlib's font families, after the current ones; return its name.

    Latin text keeps its font; only glyphs it lacks come from the CJK font. With none
    installed, warn (MissingCJKFontWarning, naming fonts-noto-cjk) if the settings ask for
    Chinese text, and return None.
    """
    font = find_cjk_font(installed)
    if font is None:
        if asks_for_cjk():
            warnings.warn(MISSING, MissingCJKFontWarning, stacklevel=2)
        return None
    families = list(matplotlib.rcParams["font.family"])
    if font not in families:
        matplotlib.rcParams["font.family"] = families + [font]
    return font


def rc_text() -> str:
    """A ``matplotlibrc`` for a folder of Chinese notebooks: Latin from DejaVu Sans, Chinese from a CJK font."""
    return ("# Written by `python -m tools.i18n build` (utils/fonts.py): Chinese glyphs in figures come\n"
            "# from Noto Sans CJK SC; on Debian or Ubuntu: apt-get install fonts-noto-cjk\n"
            f"font.family: {LATIN_FONT}, {CJK_FONTS[0]}\n")
