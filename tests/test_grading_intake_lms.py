"""LMS bulk downloads (Moodle, Canvas): one record per student, keyed by the LMS's id.

Issue 16, cases 3 and 4: a Moodle online-text folder must not hide the same
student's file submission, and two Canvas students with the same name must both
get a row. The fast tests run intake and records exactly as the runner does
(discover -> prepare -> make_record -> CSV) on zips built here; the slow one
grades a duplicate-name Canvas zip end to end on the small fixture assignment.
"""

from __future__ import annotations

import copy
import csv
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.grading import intake, records

CHAPTER = "convolution"
SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _release():
    meta = {"nbgrader": {"grade": True, "solution": False, "locked": True, "grade_id": "test_a",
                         "points": 1, "schema_version": 3}}
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("check(a)", metadata=meta)])


def _notebook(marker: str) -> str:
    nb = _release()
    nb.cells.insert(0, nbformat.v4.new_code_cell(f"a = 1  # {marker}"))
    return nbformat.writes(nb)


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
    return path


def _intake(archive: Path, tmp_path: Path):
    """What the runner does with a zip: unpack, discover, prepare, record, CSV."""
    root = intake.unpack_zip(archive, tmp_path / "intake")
    release = _release()
    subs, rows = [], []
    for student, origin in intake.discover(root, CHAPTER):
        sub = intake.prepare(origin, student, CHAPTER, release, tmp_path / "submitted")
        subs.append(sub)
        rows.append(records.make_record(sub, "digest", {}, 0.0, release, {}, False))
    path = records.export_csv(rows, release, tmp_path / "grades.csv")
    with open(path, encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    return {s.student: s for s in subs}, {r["student"]: r for r in rows}, table


def _graded_source(sub) -> str:
    return (sub.folder / f"{CHAPTER}.ipynb").read_text(encoding="utf-8")


def test_moodle_online_text_never_hides_the_file_submission(tmp_path):
    archive = _zip(tmp_path / "moodle.zip", {
        # the same student: file submission and online text (the online text sorts last)
        "Ada Lovelace_101_assignsubmission_file_/convolution.ipynb": _notebook("ada-complete"),
        "Ada Lovelace_101_assignsubmission_onlinetext_/onlinetext.html": "<p>see my file</p>",
        "Zoë Ðặng_102_assignsubmission_file_/my work.ipynb": _notebook("zoe"),
        "Zoë Ðặng_102_assignsubmission_onlinetext_/onlinetext.html": "<p>done</p>",
        "李雷_103_assignsubmission_onlinetext_/onlinetext.html": "<p>I wrote it here</p>",
    })
    subs, rows, table = _intake(archive, tmp_path)
    assert sorted(subs) == ["Ada_Lovelace_101", "Zoe_Dang_102", "student_103"]
    assert len(table) == 3
    ada = subs["Ada_Lovelace_101"]
    assert ada.fatal is None and ada.problems == []
    assert "ada-complete" in _graded_source(ada)
    zoe = subs["Zoe_Dang_102"]
    assert zoe.fatal is None and "zoe" in _graded_source(zoe)
    assert zoe.problems == [f"wrong file name: graded my work.ipynb as {CHAPTER}.ipynb"]
    lilei = rows["student_103"]
    assert lilei["score"] == 0 and lilei["fatal"].startswith("missing notebook")
    assert "onlinetext.html" in lilei["reasons"][0]
    by_id = {row["lms_id"]: row for row in table}
    assert {k: v["name"] for k, v in by_id.items()} == {
        "moodle:101": "Ada Lovelace", "moodle:102": "Zoë Ðặng", "moodle:103": "李雷"}
    assert by_id["moodle:103"]["score"] == "0.0" and "missing notebook" in by_id["moodle:103"][
        "reasons"]


def test_moodle_flat_files_without_folders_are_one_student(tmp_path):
    archive = _zip(tmp_path / "moodle.zip", {
        "Ada Lovelace_101_assignsubmission_file_convolution.ipynb": _notebook("ada"),
        "Ada Lovelace_101_assignsubmission_file_notes.txt": "notes",
        "Ada Lovelace_101_assignsubmission_onlinetext_onlinetext.html": "<p>hi</p>",
    })
    subs, _rows, table = _intake(archive, tmp_path)
    assert list(subs) == ["Ada_Lovelace_101"] and len(table) == 1
    sub = subs["Ada_Lovelace_101"]
    assert sub.fatal is None and sub.problems == [] and "ada" in _graded_source(sub)
    assert (sub.folder / "notes.txt").read_text() == "notes"


def test_canvas_students_with_the_same_name_each_get_their_row(tmp_path):
    archive = _zip(tmp_path / "canvas.zip", {
        "smithjohn_111_9001_convolution.ipynb": _notebook("john-111"),
        "smithjohn_222_9002_convolution.ipynb": _notebook("john-222"),
        "smithjohn_LATE_222_9003_aaa_notes.txt": "a helper file that sorts first",
        "đặngzoë_333_9004_convolution-1.ipynb": _notebook("zoe-333"),
        "李雷_444_text.html": "<p>online text entry only</p>",
    })
    subs, rows, table = _intake(archive, tmp_path)
    assert sorted(subs) == ["dangzoe_333", "smithjohn_111", "smithjohn_222", "student_444"]
    assert len(table) == 4
    for student, marker in [("smithjohn_111", "john-111"), ("smithjohn_222", "john-222"),
                            ("dangzoe_333", "zoe-333")]:
        assert subs[student].fatal is None, subs[student].fatal
        assert marker in _graded_source(subs[student])
    assert subs["smithjohn_222"].problems == []
    assert (subs["smithjohn_222"].folder / "aaa_notes.txt").is_file()
    assert rows["student_444"]["score"] == 0
    assert "missing notebook" in rows["student_444"]["reasons"][0]
    assert "text.html" in rows["student_444"]["reasons"][0]
    assert {(r["student"], r["name"], r["lms_id"]) for r in table} == {
        ("smithjohn_111", "smithjohn", "canvas:111"), ("smithjohn_222", "smithjohn", "canvas:222"),
        ("dangzoe_333", "đặngzoë", "canvas:333"), ("student_444", "李雷", "canvas:444")}


def test_student_ids_are_safe_unique_and_stable(tmp_path):
    for name in ["Zoë", "Zoé", "Zoe", "a\\b_5_assignsubmission_file_", "a b_5_assignsubmission_file_",
                 "李雷", "&&_7_assignsubmission_file_", "x_LATE_9_1_f.ipynb", "x_8_2_f.ipynb"]:
        path = tmp_path / "root" / name
        if name.endswith(".ipynb"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_notebook(name))
        else:
            path.mkdir(parents=True)
            (path / "convolution.ipynb").write_text(_notebook(name))
    first = intake.discover(tmp_path / "root", CHAPTER)
    again = intake.discover(tmp_path / "root", CHAPTER)
    assert first == again
    ids = [str(student) for student, _ in first]
    assert len(ids) == len({i.lower() for i in ids}) == 8  # "a\b" and "a b" are both moodle:5
    assert all(SAFE.match(i) for i in ids), ids
    assert "Zoe" in ids  # the folder named exactly like its id keeps it
    names = {student.name for student, _ in first}
    assert {"Zoë", "Zoé", "李雷"} <= names


def test_gathering_never_writes_to_the_submissions_folder_when_given_a_staging_folder(tmp_path):
    root = tmp_path / "root"
    for folder, files in [("Ada Lovelace_101_assignsubmission_file_", {"convolution.ipynb": _notebook("ada")}),
                          ("Ada Lovelace_101_assignsubmission_onlinetext_", {"onlinetext.html": "<p>hi</p>"})]:
        (root / folder).mkdir(parents=True)
        for name, text in files.items():
            (root / folder / name).write_text(text)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    [(student, origin)] = intake.discover(root, CHAPTER, tmp_path / "staging")
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert origin.is_relative_to(tmp_path / "staging")
    assert sorted(p.name for p in origin.iterdir()) == ["convolution.ipynb", "onlinetext.html"]


def test_a_zip_of_one_moodle_student_is_not_unwrapped(tmp_path):
    archive = _zip(tmp_path / "one.zip", {
        "Ada Lovelace_101_assignsubmission_onlinetext_/onlinetext.html": "<p>hi</p>"})
    subs, rows, _table = _intake(archive, tmp_path)
    assert list(subs) == ["Ada_Lovelace_101"]
    assert rows["Ada_Lovelace_101"]["lms_id"] == "moodle:101"


# ------------------------------------------------------------------ end to end
@pytest.mark.slow
@pytest.mark.xdist_group("grading-fixture")  # with the cohort of tests/test_grading_cohort.py
def test_grading_a_canvas_zip_with_two_students_of_the_same_name(tmp_path, grading_template):
    from autograder.grading import runner

    source_root = Path(__file__).parent / "fixtures" / "grading" / "source"
    workspace = tmp_path / "workspace"
    template_dir = grading_template(source_root, "fixture", workspace)
    release = nbformat.read(template_dir / "release" / "fixture" / "fixture.ipynb", as_version=4)

    def answered(answers):
        nb = copy.deepcopy(release)
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell.source = answers[gid]
        return nbformat.writes(nb)

    correct = answered({"add_arrays": "def add_arrays(a, b):\n    return np.asarray(a) + np.asarray(b)",
                        "scale": "def scale(x, k):\n    return np.asarray(x) * k"})
    archive = _zip(tmp_path / "canvas.zip", {
        "smithjohn_111_9001_fixture.ipynb": correct,
        "smithjohn_222_9002_fixture.ipynb": answered({}),
        "李雷_444_text.html": "<p>online text only</p>",
    })
    cohort = runner.Cohort(chapter="fixture", workspace=workspace, source_root=source_root,
                           workers=2, progress=False,
                           limits=runner.Limits(cell_timeout=8, submission_timeout=90,
                                                memory_mb=500))
    summary = runner.grade_cohort(cohort, archive)
    got = {r["student"]: (r["name"], r["lms_id"], r["score"]) for r in summary["records"]}
    assert got == {"smithjohn_111": ("smithjohn", "canvas:111", 3.0),
                   "smithjohn_222": ("smithjohn", "canvas:222", 0.0),
                   "student_444": ("李雷", "canvas:444", 0.0)}
    lines = Path(summary["csv"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and "李雷" in lines[-1] and "missing notebook" in lines[-1]
    assert "李雷" in Path(summary["report"]).read_text(encoding="utf-8")
