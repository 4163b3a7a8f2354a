"""Autograde every chapter in solutions/ through the grading command's machinery.

For each chapter, one cohort of three submissions built from the real notebooks:

* ``solved``: the student notebook with the solution cells filled in: full marks,
  no reasons, no integrity flag;
* ``untouched``: the student notebook as released: 0, with a readable reason;
* ``wrong``: every function listed in ``tests/wrong/<chapter>.py`` replaced by its
  first wrong implementation: less than full marks on each of those exercises'
  test cells, and no integrity flag (the wrong code is honest code).

A chapter without ``tests/wrong/<chapter>.py`` is skipped with a reason.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from pathlib import Path

import nbformat
import pytest

from autograder.grading import runner, template

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading")]

REPO = Path(__file__).resolve().parents[1]
SOURCE_ROOT = REPO / "solutions"
CHAPTERS = sorted(p.name for p in SOURCE_ROOT.iterdir() if (p / f"{p.name}.ipynb").is_file())


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and _meta(cell).get("solution") and not _meta(cell).get("grade")


def wrong_module_code(chapter: str) -> tuple[str, dict]:
    """The wrong module's source (without the ``__future__`` import) and its table."""
    module = importlib.import_module(f"wrong.{chapter}")
    lines = [line for line in inspect.getsource(module).splitlines()
             if not line.startswith("from __future__")]
    return "\n".join(lines), module.WRONG_IMPLEMENTATIONS


def build_notebooks(chapter: str, release) -> dict[str, str]:
    source = nbformat.read(SOURCE_ROOT / chapter / f"{chapter}.ipynb", as_version=4)
    answers = {_meta(c)["grade_id"]: c.source for c in source.cells if _is_solution(c)}
    solved = copy.deepcopy(release)
    for cell in solved.cells:
        if _is_solution(cell):
            cell.source = answers[_meta(cell)["grade_id"]]
    wrong = copy.deepcopy(solved)
    code, table = wrong_module_code(chapter)
    cells = []
    for cell in wrong.cells:
        cells.append(cell)
        if _is_solution(cell):
            names = [n for n in table if f"def {n}(" in cell.source]
            if names:
                aliases = "\n".join(f"{n} = {table[n][0].__name__}" for n in names)
                cells.append(nbformat.v4.new_code_cell(f"{code}\n\n{aliases}"))
    wrong.cells = cells
    return {"solved": nbformat.writes(solved), "untouched": nbformat.writes(release),
            "wrong": nbformat.writes(wrong)}


@pytest.fixture(scope="module", params=CHAPTERS)
def graded_chapter(request, tmp_path_factory):
    chapter = request.param
    if not (REPO / "tests" / "wrong" / f"{chapter}.py").is_file():
        pytest.skip(f"{chapter}: no tests/wrong/{chapter}.py with wrong implementations yet")
    workspace = tmp_path_factory.mktemp(f"ws-{chapter}")
    submissions = tmp_path_factory.mktemp(f"subs-{chapter}")
    template_dir = template.build_template(SOURCE_ROOT, chapter, workspace)
    release = nbformat.read(template_dir / "release" / chapter / f"{chapter}.ipynb", as_version=4)
    for student, text in build_notebooks(chapter, release).items():
        (submissions / student / chapter).mkdir(parents=True)
        (submissions / student / chapter / f"{chapter}.ipynb").write_text(text)
    cohort = runner.Cohort(chapter=chapter, workspace=workspace, source_root=SOURCE_ROOT,
                           workers=2, progress=False)
    summary = runner.grade_cohort(cohort, submissions)
    records = {r["student"]: r for r in summary["records"]}
    return chapter, records, wrong_module_code(chapter)[1]


def test_solution_gets_full_marks(graded_chapter):
    chapter, records, _table = graded_chapter
    record = records["solved"]
    assert record["score"] == pytest.approx(record["max_score"], abs=1e-6), record["reasons"]
    assert record["reasons"] == [] and record["integrity"] == []


def test_untouched_notebook_gets_zero_with_a_readable_reason(graded_chapter):
    _chapter, records, _table = graded_chapter
    record = records["untouched"]
    assert record["score"] == 0.0
    assert any("not implemented" in reason for reason in record["reasons"]), record["reasons"]
    assert record["integrity"] == []


def test_first_wrong_implementations_lose_points_on_each_exercise(graded_chapter):
    _chapter, records, table = graded_chapter
    record = records["wrong"]
    assert record["integrity"] == [], record["integrity"]
    checked = [gid for gid in record["scores"] if gid.removeprefix("test_") in table]
    assert checked, "no test cell matches a function in WRONG_IMPLEMENTATIONS"
    full = [gid for gid in checked if record["scores"][gid] >= record["max_scores"][gid] - 1e-9]
    assert not full, f"wrong implementations still get full marks on {full}"
