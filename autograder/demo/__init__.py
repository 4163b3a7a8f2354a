"""The bundled demo cohort, generated from the chapter's real notebooks so it never goes stale.

``python -m autograder grade convolution`` (no submissions folder) grades it:

* ``demo_complete``:  every solution cell filled in (full marks)
* ``demo_first_only``: only the first exercise solved (partial marks)
* ``demo_untouched``: the student notebook as released (0, "not implemented")
* ``demo_renamed``:   the complete notebook saved under another name (graded, noted)
* ``demo_tamper``:    complete, plus a cell that disables ``numpy.testing`` (0, flagged)
* ``demo_broken``:    a file that is not JSON (0, "invalid JSON")
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat

TAMPER_CELL = "import numpy as np\nnp.testing.assert_allclose = lambda *args, **kwargs: None"


def _is_solution(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("solution") and not meta.get("grade")


def _filled(release, source, only_first: bool = False):
    answers = {c.metadata.nbgrader["grade_id"]: c.source for c in source.cells if _is_solution(c)}
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if _is_solution(cell):
            cell.source = answers.get(cell.metadata.nbgrader["grade_id"], cell.source)
            if only_first:
                break
    return nb


def build_demo_cohort(chapter: str, target: Path, source_root: Path) -> Path:
    """Write the demo submissions for ``chapter`` under ``target`` (replaced); return it."""
    from autograder.grading.template import build_template

    workspace = target.parent.parent
    template_dir = build_template(source_root, chapter, workspace)
    release = nbformat.read(template_dir / "release" / chapter / f"{chapter}.ipynb", as_version=4)
    source = nbformat.read(source_root / chapter / f"{chapter}.ipynb", as_version=4)
    complete = _filled(release, source)
    tampered = copy.deepcopy(complete)
    tamper_cell = nbformat.v4.new_code_cell(TAMPER_CELL)
    tamper_cell.id = "demo-tamper"  # fixed, so a re-run sees the same file and keeps its grade
    tampered.cells.insert(2, tamper_cell)
    notebooks = {
        "demo_complete": complete, "demo_first_only": _filled(release, source, only_first=True),
        "demo_untouched": release, "demo_tamper": tampered,
    }
    shutil.rmtree(target, ignore_errors=True)
    for student, nb in notebooks.items():
        folder = target / student / chapter
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{chapter}.ipynb")
    (target / "demo_renamed").mkdir()
    nbformat.write(complete, target / "demo_renamed" / "my homework.ipynb")
    (target / "demo_broken" / chapter).mkdir(parents=True)
    (target / "demo_broken" / chapter / f"{chapter}.ipynb").write_text('{"cells": [')
    return target
