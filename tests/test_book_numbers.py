"""The prose of a book page never states a number that its code does not produce or check.

Every number written in a page's text, tables, figure captions and alt text must either be
glued from the code (myst-nb ``{glue:text}`` roles, skipped here because the build fills them
in) or appear literally in the page's own code: in the ``assert`` that guards it, or as the
input constant it describes (``epochs=4`` for "4 epochs"). A result that changes then fails
the build or this test instead of leaving a false sentence behind.

Not checked: maths (``$...$``), inline code, integers up to 10, years (1950-2030), arXiv
identifiers and references to a paper's tables and figures ("Table 8").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
PAGES = sorted(BOOK.glob("*.md"))

CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
CELL_OPTIONS = re.compile(r"\A---\n(.*?)\n---\n", re.S)
FENCE = re.compile(r"^(`{3,}|:{3,}).*?^\1[ \t]*$", re.S | re.M)
MATH_BLOCK = re.compile(r"\$\$.*?\$\$", re.S)
MATH_INLINE = re.compile(r"\$[^$\n]+\$")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK_TARGET = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
CITATION = re.compile(r"arXiv:\S+|\b(?:Table|Figure|Fig\.|Section|Eq\.|Equation|Chapter)s? [\d, and]+", re.I)
# A number, with thousands separators (138,357,544) and decimals; not part of a name
# ("VGG16", "ResNet-50", "Conv2D", "float32"), and not followed by letters ("3D", "5th"),
# except "x" of a size ("28x28").
NUMBER = re.compile(
    r"(?<![A-Za-wyz0-9_.])(?<![A-Za-z]x)(?<![A-Za-z]-)"
    r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:e-?\d+)?)(?![0-9]|[A-Za-wyz])(%?)"
)


def split_page(text: str) -> tuple[str, str]:
    """(prose, code) of a MyST markdown notebook; captions and alt text count as prose."""
    text = FRONT_MATTER.sub("", text)
    code_parts, prose_parts = [], []
    position = 0
    for cell in CODE_CELL.finditer(text):
        prose_parts.append(text[position:cell.start()])
        body = cell.group(1)
        options = CELL_OPTIONS.match(body)
        if options:
            prose_parts.append(options.group(1))
            body = body[options.end():]
        code_parts.append(body)
        position = cell.end()
    prose_parts.append(text[position:])
    return "\n".join(prose_parts), "\n".join(code_parts)


def strip_unchecked(prose: str) -> str:
    for pattern in (HTML_COMMENT, FENCE, MATH_BLOCK, MATH_INLINE, INLINE_CODE, LINK_TARGET, CITATION):
        prose = pattern.sub(" ", prose)
    return prose


def normalise(number: str) -> str:
    return number.replace(",", "")


def code_numbers(code: str) -> set[str]:
    """Every number written in the code, separators removed (138_357_544, "138,357,544")."""
    literals = re.findall(
        r"(?<![A-Za-z0-9_.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d[\d_]*(?:\.\d+)?(?:e-?\d+)?)", code
    )
    found = set()
    for literal in literals:
        found.update(literal.split(","))  # also a tuple written without spaces: (4,512)
        literal = literal.replace("_", "").replace(",", "")
        found.add(literal)
        try:
            value = float(literal)
        except ValueError:
            continue
        found.add(f"{value:g}")
    return found


def exempt(number: str) -> bool:
    if not number.isdigit():
        return False
    value = int(number)
    return value <= 10 or 1950 <= value <= 2030


def unbacked_numbers(text: str) -> list[str]:
    prose, code = split_page(text)
    available = code_numbers(code)
    missing = []
    for match in NUMBER.finditer(strip_unchecked(prose)):
        number, percent = normalise(match.group(1)), match.group(2)
        if exempt(number):
            continue
        candidates = {number, f"{float(number):g}"}
        if percent:
            candidates.add(f"{float(number) / 100:g}")
        if not candidates & available:
            missing.append(number + percent)
    return missing


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_every_number_in_the_prose_is_glued_or_in_the_code(page):
    missing = unbacked_numbers(page.read_text(encoding="utf-8"))
    assert not missing, (
        f"{page.name}: these numbers appear in the prose but neither in a glue role nor in the "
        f"page's code (assert them in the cell that computes them, or glue them): {missing}"
    )


def test_the_rule_catches_a_number_that_the_code_does_not_back():
    page = (
        "Text: 2.37 times more weights, 141 s, 94% of them, VGG16 and ResNet-50, 3D, 28x28, 1e-4,\n"
        "{glue:text}`ratio:.2f` times, $25 C^2$, `conv(3, 17)`, in 2015, arXiv:1704.04861.\n"
        "```{code-cell} ipython3\n---\nmystnb:\n  figure:\n    caption: 62 million parameters\n---\n"
        "assert round(ratio, 2) == 2.37\nseconds = 141\n```\n"
    )
    assert unbacked_numbers(page) == ["94%", "28", "28", "1e-4", "62"]
    backed = page.replace("seconds = 141", "seconds = 141; share = 0.94; size = 28; m = 62; rtol = 0.0001")
    assert unbacked_numbers(backed) == []
