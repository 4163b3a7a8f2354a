"""Student feedback without the hidden tests.

nbgrader's feedback HTML shows the autograded notebook as run: the hidden test
code is back in the test cells and tracebacks quote it. Before nbgrader renders
the HTML we remove the hidden block from every test cell and replace each
traceback frame that quotes a hidden line; afterwards we check the HTML and
redact any hidden line that still shows.
"""

from __future__ import annotations

import html
import re

import nbformat

from .preprocessors import is_test_cell

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests: run by the grader, not shown)"
FRAME_NOTE = "[this part of the traceback is in the grader's hidden tests and is not shown]"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def split_hidden(source: str) -> tuple[str, list[str]]:
    """The source without its hidden block(s), and the hidden lines (stripped, non-empty)."""
    visible, hidden, inside = [], [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker == BEGIN:
            inside = True
            visible.append(line.replace(BEGIN, HIDDEN_NOTE))
        elif marker == END:
            inside = False
        elif inside:
            if line.strip():
                hidden.append(line.strip())
        else:
            visible.append(line)
    return "\n".join(visible), hidden


def _clean_traceback(frames: list[str], hidden: list[str]) -> list[str]:
    cleaned = []
    for frame in frames:
        plain = ANSI.sub("", frame)
        if any(line in plain for line in hidden):
            if not cleaned or cleaned[-1] != FRAME_NOTE:
                cleaned.append(FRAME_NOTE)
        else:
            cleaned.append(frame)
    return cleaned


def strip_hidden_tests(nb: nbformat.NotebookNode) -> list[str]:
    """Remove hidden tests from test cells and their tracebacks, in place.

    Returns every hidden line (to check the rendered HTML against).
    """
    all_hidden: list[str] = []
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        cell.source, hidden = split_hidden(cell.source)
        all_hidden += hidden
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output.traceback = _clean_traceback(list(output.get("traceback", [])), hidden)
    return all_hidden


def redact_html(text: str, hidden: list[str]) -> tuple[str, int]:
    """Replace hidden lines that still appear in the HTML; return the text and the count."""
    count = 0
    for line in sorted(set(hidden), key=len, reverse=True):
        for form in {line, html.escape(line), html.escape(line, quote=False)}:
            if form and form in text:
                count += text.count(form)
                text = text.replace(form, "[hidden]")
    return text, count
