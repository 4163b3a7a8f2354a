"""Autograde every chapter in solutions/ through the grading command's machinery.

For each chapter, one cohort of three submissions built from the real notebooks:

* ``solved``: the student notebook with the solution cells filled in: full marks,
  no reasons, no integrity flag;
* ``untouched``: the student notebook as released: 0, with a readable reason;
* ``wrong``: every function listed in ``tests/wrong/<chapter>.py`` replaced by its
  first wrong implementation: less than full marks on each of those exercises'
  test cells, and no integrity flag (the wrong code is honest code).

The solved submission runs exactly the solution notebook's code: every cell must
run without an error and print nothing on stderr. That is what ``make nbval`` checks
(without the grader's sandbox), so ``make test`` does not run the solutions twice.

A chapter without ``tests/wrong/<chapter>.py`` is skipped with a reason. Every
chapter's cohort is graded in one run: one pool of workers, whose TensorFlow
launchers serve every chapter.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest

from autograder.grading import runner

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading")]

REPO = Path(__file__).resolve().parents[1]
SOURCE_ROOT = REPO / "solutions"
CHAPTERS = sorted(p.name for p in SOURCE_ROOT.iterdir() if (p / f"{p.name}.ipynb").is_file())
GRADED = [chapter for chapter in CHAPTERS if (REPO / "tests" / "wrong" / f"{chapter}.py").is_file()]


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


class GradedChapter(NamedTuple):
    chapter: str
    records: dict
    table: dict
    workspace: Path


def write_cohort(chapter: str, workspace: Path, submissions: Path, grading_template) -> runner.Cohort:
    """The chapter's template (a copy of the session's) and its three submissions."""
    template_dir = grading_template(SOURCE_ROOT, chapter, workspace)
    release = nbformat.read(template_dir / "release" / chapter / f"{chapter}.ipynb", as_version=4)
    for student, text in build_notebooks(chapter, release).items():
        (submissions / student / chapter).mkdir(parents=True)
        (submissions / student / chapter / f"{chapter}.ipynb").write_text(text)
    return runner.Cohort(chapter=chapter, workspace=workspace, source_root=SOURCE_ROOT,
                         workers=2, progress=False)


@pytest.fixture(scope="module")
def graded_chapters(tmp_path_factory, grading_template) -> dict:
    """chapter -> (cohort, summary), or the error that kept the chapter from being graded."""
    prepared, submissions = {}, {}
    for chapter in GRADED:
        workspace = tmp_path_factory.mktemp(f"ws-{chapter}")
        submissions[chapter] = tmp_path_factory.mktemp(f"subs-{chapter}")
        try:
            prepared[chapter] = write_cohort(chapter, workspace, submissions[chapter],
                                             grading_template)
        except Exception as error:  # noqa: BLE001 - reported by that chapter's tests only
            prepared[chapter] = error
    cohorts = [c for c in prepared.values() if isinstance(c, runner.Cohort)]
    summaries = runner.grade_cohorts([(c, submissions[c.chapter]) for c in cohorts])
    graded = {c.chapter: (c, summary) for c, summary in zip(cohorts, summaries, strict=True)}
    return {chapter: graded.get(chapter, found) for chapter, found in prepared.items()}


@pytest.fixture(params=CHAPTERS)
def graded_chapter(request, graded_chapters) -> GradedChapter:
    chapter = request.param
    if chapter not in graded_chapters:
        pytest.skip(f"{chapter}: no tests/wrong/{chapter}.py with wrong implementations yet")
    if isinstance(graded_chapters[chapter], Exception):
        raise graded_chapters[chapter]
    cohort, summary = graded_chapters[chapter]
    records = {r["student"]: r for r in summary["records"]}
    return GradedChapter(chapter, records, wrong_module_code(chapter)[1], cohort.workspace)


def test_solution_gets_full_marks(graded_chapter):
    record = graded_chapter.records["solved"]
    assert record["score"] == pytest.approx(record["max_score"], abs=1e-6), record["reasons"]
    assert record["reasons"] == [] and record["integrity"] == []


def test_untouched_notebook_gets_zero_with_a_readable_reason(graded_chapter):
    record = graded_chapter.records["untouched"]
    assert record["score"] == 0.0
    assert any("not implemented" in reason for reason in record["reasons"]), record["reasons"]
    assert record["integrity"] == []


def test_first_wrong_implementations_lose_points_on_each_exercise(graded_chapter):
    table = graded_chapter.table
    record = graded_chapter.records["wrong"]
    assert record["integrity"] == [], record["integrity"]
    checked = [gid for gid in record["scores"] if gid.removeprefix("test_") in table]
    assert checked, "no test cell matches a function in WRONG_IMPLEMENTATIONS"
    full = [gid for gid in checked if record["scores"][gid] >= record["max_scores"][gid] - 1e-9]
    assert not full, f"wrong implementations still get full marks on {full}"


def test_solution_notebook_runs_every_cell_without_error_or_stderr(graded_chapter):
    """The solved submission ran the solution notebook's code cells, each without error or stderr."""
    chapter = graded_chapter.chapter
    path = graded_chapter.workspace / "autograded" / "solved" / chapter / f"{chapter}.ipynb"
    ran = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    source = nbformat.read(SOURCE_ROOT / chapter / f"{chapter}.ipynb", as_version=4)
    assert [c.source for c in ran] == [c.source for c in source.cells if c.cell_type == "code"]
    problems = [f"code cell {i}: not run" for i, c in enumerate(ran) if c.execution_count is None]
    problems += [f"code cell {i}: {o.get('ename') or 'stderr'}: {o.get('evalue') or o.get('text')}"
                 for i, c in enumerate(ran) for o in c.outputs
                 if o.output_type == "error" or o.get("name") == "stderr"]
    assert not problems, "\n".join(problems)
