"""Grade a fixture cohort that covers every robustness and integrity case; exact scores.

The fixture assignment (tests/fixtures/grading/source/fixture) has two numpy
exercises: ``add_arrays`` (1 point) and ``scale`` (2 points, partial credit by
groups: positive k, negative k, zero k). Scores are compared with a tolerance
of 1e-6 (nbgrader stores floats; partial credit is floored to 1/1000 by core).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.grading import runner

# One worker grades the fixture cohorts (here and the LMS end-to-end test) while the other
# grades the chapters (group "grading"): numpy only, each cell far below its 8 s limit.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-fixture")]

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "grading"
SOURCE_ROOT = FIXTURES / "source"
SOURCE_NOTEBOOK = SOURCE_ROOT / "fixture" / "fixture.ipynb"
ADD = "def add_arrays(a, b):\n    return np.asarray(a) + np.asarray(b)"
SCALE = "def scale(x, k):\n    return np.asarray(x) * k"
CORRECT = {"add_arrays": ADD, "scale": SCALE}
WRONG = {"add_arrays": "def add_arrays(a, b):\n    return a - b",
         "scale": "def scale(x, k):\n    return x"}
LEFTOVER_SLEEP = "987.654"  # a program a submission leaves running; grading must end it
HOG = "hog = [b'x' * (40 << 20) + bytes([i % 256]) for i in range(1000)]\n"


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def build(release, answers=None, extra_after=None, drop=(), edit=None, duplicate=None):
    """A student notebook: answers by solution grade_id, extra cells after a grade_id."""
    nb = copy.deepcopy(release)
    cells = []
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in drop:
            continue
        if answers and gid in answers:
            cell.source = answers[gid]
        if edit and gid in edit:
            cell.source = edit[gid]
        cells.append(cell)
        if duplicate == gid:
            cells.append(copy.deepcopy(cell))
        for code in (extra_after or {}).get(gid, []):
            cells.append(nbformat.v4.new_code_cell(code))
    nb.cells = cells
    return nbformat.writes(nb)


def _source_of(release, grade_id) -> str:
    return next(c.source for c in release.cells if _grade_id(c) == grade_id)


def cohort_cases(release, checks: str = "worker") -> dict:
    """student -> (files, expected score, expected reason substrings, integrity flagged)."""
    nb = "fixture.ipynb"
    cases = {
        "correct": ({nb: build(release, CORRECT)}, 3.0, [], False),
        "partial": ({nb: build(release, {**CORRECT, "scale": SCALE.replace("* k", "* abs(k)")})},
                    1 + 2 * 0.666, [], False),
        "untouched": ({nb: build(release)}, 0.0, ["not implemented"], False),
        "invalid_json": ({nb: '{"cells": [ oops'}, 0.0, ["invalid JSON"], False),
        "empty_file": ({nb: ""}, 0.0, ["empty file"], False),
        "wrong_name": ({"homework.ipynb": build(release, CORRECT)}, 3.0,
                       ["wrong file name: graded homework.ipynb"], False),
        "missing_notebook": ({"notes.txt": "I forgot"}, 0.0, ["missing notebook"], False),
        "deleted_test": ({nb: build(release, CORRECT, drop=("test_scale",))}, 3.0,
                         ["deleted test cell test_scale"], False),
        "edited_test": ({nb: build(release, CORRECT, edit={"test_add_arrays": "1.0"})}, 3.0,
                        ["edited locked cell test_add_arrays"], False),
        "duplicated": ({nb: build(release, CORRECT, duplicate="test_scale")}, 3.0,
                       ["duplicated cell test_scale"], False),
        "syntax_error": ({nb: build(release, {**CORRECT, "add_arrays": "def add_arrays(a, b)\n"
                                              "    return a + b"})}, 2.0,
                         ["SyntaxError", "test_add_arrays: NameError"], False),
        "infinite_loop": ({nb: build(release, {**CORRECT, "scale": "while True:\n    pass\n" + SCALE})},
                          1.0, ["CellTimeoutError: interrupted at the per-cell time limit"], False),
        "sys_exit": ({nb: build(release, {**CORRECT, "scale": "import sys\nsys.exit(3)\n" + SCALE})},
                     1.0, ["SystemExit"], False),
        "os_exit": ({nb: build(release, {**CORRECT, "scale": "import os\nos._exit(1)\n" + SCALE})},
                    1.0, ["the kernel died"], False),
        "segfault": ({nb: build(release, {**CORRECT, "scale": "import faulthandler\n"
                                          "faulthandler._sigsegv()\n" + SCALE})},
                     1.0, ["the kernel died"], False),
        "memory_hog": ({nb: build(release, {**CORRECT, "scale": HOG + SCALE})}, 1.0,
                       ["memory limit"], False),
        # a demo cell of the student's that passes the memory limit fails alone: a new kernel
        # runs the cells before it again, and the rest of the notebook is graded
        "memory_hog_demo": ({nb: build(release, CORRECT, extra_after={"add_arrays": [HOG]})}, 3.0,
                            ["MemoryLimit: the kernel passed the memory limit"], False),
        # so does a test cell whose student function passes it: that exercise only gets 0
        "memory_hog_in_check": ({nb: build(release, {**CORRECT, "add_arrays": ADD.replace(
            "    return", "    " + HOG.strip() + "\n    return")})}, 2.0,
                                ["test_add_arrays"], False),
        "huge_output": ({nb: build(release, {**CORRECT, "add_arrays": "for i in range(200000):\n"
                                             "    print('spam' * 20)\n" + ADD})}, 3.0,
                        ["output truncated"], False),
        # issue 16: one print of 100 MB and a 50 MB result are cut before they are sent
        # (not after): that cell alone shows a note, the later exercises keep their points
        "floods_output": ({nb: build(release, CORRECT, extra_after={"setup": [
            "print('x' * 100_000_000)", "'y' * 50_000_000"]})}, 3.0, ["output truncated"], False),
        # issue 16: a copy of a test cell (pasted with its grade_id, or its code alone) is
        # neither tampering nor a second graded cell; the original still grades
        "copies_test_cell": ({nb: build(release, CORRECT, duplicate="test_add_arrays")}, 3.0,
                             ["duplicated cell test_add_arrays"], False),
        "pastes_test_code": ({nb: build(release, CORRECT, extra_after={
            "add_arrays": [_source_of(release, "test_add_arrays")],
            "scale": [_source_of(release, "test_scale")]})}, 3.0, [], False),
        "writes_outside": ({nb: build(release, CORRECT, extra_after={"setup": [
            "try:\n    open('../../escaped.txt', 'w').write('x')\nexcept OSError:\n    pass"]})},
                           3.0, ["write outside the submission folder refused"], False),
        "reads_solutions": ({nb: build(release, CORRECT, extra_after={"setup": [
            f"try:\n    print(open({str(SOURCE_NOTEBOOK)!r}).read()[:100])\nexcept OSError:\n    pass"]})},
                            3.0, ["refused"], False),
        "reads_other_workers": ({nb: build(release, CORRECT, extra_after={"setup": [
            "import os\nfor name in ['../../private/launcher.json', '../../private/course']:\n"
            "    try:\n        open(name).read()\n    except OSError:\n        pass\n"
            "for other in os.listdir('../../..'):\n    try:\n"
            "        os.listdir(os.path.join('../../..', other, 'live', 'kernel'))\n"
            "    except OSError:\n        pass"]})}, 3.0,
                                ["private/launcher.json", "live/kernel"], False),
        # the launcher: the kernel's parent before issue 16, out of reach since (the kernel's
        # parent is the init of its own pid namespace, pid 1, which ignores a SIGKILL from inside)
        "kills_launcher": ({nb: build(release, CORRECT, extra_after={"setup": [
            "import os, signal\nfor pid in {os.getppid(), 1} - {0}:\n    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass"]})}, 3.0, [], False),
        "leaves_a_process": ({nb: build(release, CORRECT, extra_after={"setup": [
            "import subprocess\ntry:\n    subprocess.Popen(['sleep', '" + LEFTOVER_SLEEP
            + "'], start_new_session=True)\nexcept OSError:\n    pass"]})}, 3.0, [], False),
    }
    cases.update(tamper_cases(release, checks))
    return cases


GET_AGENT = "import socket, sys\nfrom autograder.grading import wire\n"
FORGED_AGENT = GET_AGENT + (
    "def serve(path, token):\n    with socket.socket(socket.AF_UNIX) as s:\n"
    "        s.connect(path)\n        wire.send(s, {'hello': token}, [])\n"
    "        while wire.receive(s)[0].get('op') != 'done':\n"
    "            wire.send(s, {'value': {'ref': 0}}, [])\n"
    "sys.modules['_autograder_agent'].serve = serve")
GARBAGE_AGENT = GET_AGENT + (
    "def serve(path, token):\n    with socket.socket(socket.AF_UNIX) as s:\n"
    "        s.connect(path)\n        wire.send(s, {'hello': token}, [])\n"
    "        wire.receive(s)\n        s.sendall((1 << 60).to_bytes(8, 'big'))\n"
    "sys.modules['_autograder_agent'].serve = serve")
NEVER_FAIL = ("get_ipython().input_transformers_post.append(\n"
              "    lambda lines: ['3.0\\n'] if any('autograder' in line for line in lines) else lines)")
REPLACE_CODE = ("import autograder.core as core\n"
                "core.call_student.__code__ = (lambda function, *args, **kwargs: None).__code__\n"
                "core.assert_close.__code__ = (lambda *args, **kwargs: None).__code__\n"
                "core.score_groups.__code__ = (lambda e, g, c, points=1.0: points).__code__")


def tamper_cases(release, checks: str) -> dict:
    """Code that goes after the grader's machinery. With the checks in the kernel (chapters not
    yet moved), the integrity guard catches what it can; with the checks in the worker
    (issue 16, case 7), nothing in the kernel reaches them: tampering gains nothing and costs
    the student nothing, and a replaced agent only loses its own answers."""
    nb = "fixture.ipynb"
    tamper = {"setup": ["np.testing.assert_allclose = lambda *a, **k: None"]}
    kernel = checks == "kernel"
    if kernel:
        return {
            "tamper_numpy": ({nb: build(release, WRONG, extra_after=tamper)}, 0.0,
                             ["IntegrityError"], True),
            "tamper_late": ({nb: build(release, CORRECT, extra_after={"test_add_arrays": [
                "np.testing.assert_allclose = lambda *a, **k: None"]})}, 1.0, ["IntegrityError"], True),
            "imports_reference": ({nb: build(release, CORRECT, extra_after={"setup": [
                "try:\n    from autograder.reference import pooling as ref\nexcept Exception:\n"
                "    ref = None"]})}, 0.0, ["reference implementations"], True),
            # issue 16, case 7, against checks in the kernel: test cells (only those) rewritten
            # by an input transformer; the guard's snapshot of IPython's input handling sees it
            "rewrites_test_cells": ({nb: build(release, extra_after={"setup": [
                "get_ipython().input_transformers_post.append(\n    lambda lines: ['3.0\\n'] if "
                "any('score_groups' in x or 'hidden_a' in x for x in lines) else lines)"]})},
                0.0, ["IPython's input handling was changed"], True),
        }
    return {
        "tamper_numpy": ({nb: build(release, WRONG, extra_after=tamper)}, 0.0,
                         ["test_add_arrays: CheckFailure"], False),
        "tamper_core": ({nb: build(release, WRONG, extra_after={"setup": [
            "import autograder.core as core\ncore.assert_close = lambda *a, **k: None"]})},
                        0.0, ["test_scale: CheckFailure"], False),
        "tamper_builtins": ({nb: build(release, CORRECT, extra_after={"setup": [
            "import builtins\nbuiltins.round = lambda *a: 0"]})}, 3.0, [], False),
        # the checks are out of the kernel's sight (the attempt is recorded); the references
        # are public code, and importing them changes nothing
        "imports_checks": ({nb: build(release, CORRECT, extra_after={"setup": [
            "try:\n    from autograder.checks import pooling as checks\nexcept Exception:\n"
            "    checks = None"]})}, 3.0, ["read refused", "autograder/checks"], False),
        "imports_reference": ({nb: build(release, CORRECT, extra_after={"setup": [
            "from autograder.reference import pooling as ref"]})}, 3.0, [], False),
        "runtime_tamper": ({nb: build(release, CORRECT, extra_after={"setup": [
            "t = getattr(np, 'testing')\nexec('t.assert_' + 'allclose = print')"]})}, 3.0, [], False),
        "tamper_late": ({nb: build(release, CORRECT, extra_after={"test_add_arrays": [
            "np.testing.assert_allclose = lambda *a, **k: None"]})}, 3.0, [], False),
        # issue 16, case 7, on untouched exercises: test cells made to never fail through
        # IPython's input transformers, the checks' code objects replaced in place, a forged
        # agent (answering every request with an object of its own), a garbage-sending one
        "never_fail_cells": ({nb: build(release, extra_after={"setup": [NEVER_FAIL]})}, 0.0,
                             ["did not run the grader's agent"], True),
        "replaces_code": ({nb: build(release, extra_after={"setup": [REPLACE_CODE]})}, 0.0,
                          ["not implemented"], False),
        "forged_agent": ({nb: build(release, extra_after={"setup": [FORGED_AGENT]})}, 0.0,
                         ["test_scale: TypeError"], False),
        "garbage_agent": ({nb: build(release, CORRECT, extra_after={"setup": [GARBAGE_AGENT]})},
                          0.0, ["stopped answering the grader"], False),
    }


def write_submission(root: Path, student: str, files: dict) -> None:
    folder = root / student / "fixture"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)


FIXTURE_LIMITS = {"cell_timeout": 8, "submission_timeout": 90, "memory_mb": 500}


def grade_fixture_cohort(workspace: Path, submissions: Path, grading_template) -> tuple:
    """The fixture cohort graded by two local workers (the ``graded`` fixture of conftest)."""
    template_dir = grading_template(SOURCE_ROOT, "fixture", workspace)
    release = nbformat.read(template_dir / "release" / "fixture" / "fixture.ipynb", as_version=4)
    cases = cohort_cases(release)
    for student, (files, *_rest) in cases.items():
        write_submission(submissions, student, files)
    cohort = runner.Cohort(chapter="fixture", workspace=workspace, source_root=SOURCE_ROOT,
                           workers=2, progress=False, limits=runner.Limits(**FIXTURE_LIMITS))
    summary = runner.grade_cohort(cohort, submissions)
    return cohort, submissions, release, cases, summary


def _records(summary) -> dict:
    return {r["student"]: r for r in summary["records"]}


def test_every_case_gets_its_exact_score_and_reason(graded):
    _cohort, _subs, _release, cases, summary = graded
    records = _records(summary)
    assert sorted(records) == sorted(cases)
    problems = []
    for student, (_files, score, reasons, flagged) in cases.items():
        record = records[student]
        text = " | ".join(record["reasons"])
        if abs(record["score"] - score) > 1e-6:
            problems.append(f"{student}: score {record['score']} != {score} ({text})")
        problems += [f"{student}: no reason {r!r} in {text!r}" for r in reasons if r not in text]
        if bool(record["integrity"]) != flagged:
            problems.append(f"{student}: integrity {record['integrity']} (expected flag {flagged})")
    assert not problems, "\n".join(problems)


def test_no_process_a_submission_started_outlives_its_grading(graded):
    leftovers = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
                 if p.info["cmdline"] and LEFTOVER_SLEEP in p.info["cmdline"]]
    assert leftovers == []


def test_correct_submission_has_no_reasons_and_records_versions(graded):
    record = _records(graded[4])["correct"]
    assert record["reasons"] == []
    assert set(record["environment"]) >= {"device", "tensorflow", "keras", "numpy"}


def test_grades_are_in_the_instructor_gradebook_and_hand_grades_survive(graded):
    from nbgrader.api import Gradebook

    from autograder.grading import gradebook

    cohort, _subs, _release, _cases, summary = graded
    url = f"sqlite:///{summary['gradebook']}"
    with Gradebook(url, "cnn-vision") as book:
        scores = {s.student.id: s.score for s in book.assignment_submissions("fixture")}
        book.find_grade("test_scale", "fixture", "fixture", "partial").manual_score = 2.0
        book.db.commit()
    problems = [f"{r['student']}: {scores.get(r['student'])} != {r['score']}"
                for r in summary["records"] if abs(scores.get(r["student"], -1) - r["score"]) > 1e-6]
    assert not problems
    template_dir = next((cohort.workspace / ".templates").glob("fixture-*"))
    gradebook.sync(cohort.workspace, template_dir, "fixture", summary["records"])
    with Gradebook(url, "cnn-vision") as book:
        grade = book.find_grade("test_scale", "fixture", "fixture", "partial")
        assert (grade.manual_score, round(grade.auto_score, 3)) == (2.0, 1.332)
        assert book.find_submission("fixture", "partial").score == pytest.approx(3.0)


def test_csv_has_one_row_per_student_and_per_exercise_columns(graded):
    cohort, _subs, _release, cases, summary = graded
    lines = Path(summary["csv"]).read_text().splitlines()
    header = lines[0].split(",")
    assert header[:5] == ["student", "score", "max_score", "test_add_arrays", "test_scale"]
    assert len(lines) == 1 + len(cases)


def test_feedback_hides_hidden_tests(graded):
    cohort = graded[0]
    for student in ("correct", "partial", "untouched", "syntax_error"):
        page = (cohort.workspace / "feedback" / student / "fixture" / "fixture.html").read_text()
        for secret in ("hidden_a", "check_scale_secret", "rtol=1e-12"):
            assert secret not in page, f"{student}'s feedback shows hidden test code {secret!r}"
        assert "hidden tests" in page


def test_report_lists_flags_kinds_and_figures(graded):
    page = Path(graded[4]["report"]).read_text()
    for text in ("Integrity flags", "tamper_numpy", "Failures by kind", "Slowest submissions",
                 "scores.png", "alt="):
        assert text in page
    assert (Path(graded[4]["report"]).parent / "pass_rate.png").stat().st_size > 1000


def test_rerun_grades_only_new_submissions_and_keeps_earlier_grades(graded):
    cohort, submissions, release, _cases, summary = graded
    before = {p.name: p.read_text() for p in (cohort.grades_dir / "records").glob("*.json")}
    write_submission(submissions, "late_student", {"fixture.ipynb": build(release, CORRECT)})
    again = runner.grade_cohort(cohort, submissions)
    assert (again["graded"], again["kept"]) == (1, len(before))
    after = {p.name: p.read_text() for p in (cohort.grades_dir / "records").glob("*.json")}
    assert {k: after[k] for k in before} == before
    assert json.loads(after["late_student.json"])["score"] == pytest.approx(3.0, abs=1e-6)


def test_a_daemon_that_forks_again_and_again_dies_with_its_kernel(graded, tmp_path, grading_template):
    """Issue 16, case 5: one worker grades a submission whose daemon re-spawns itself (a new pid
    every 2 ms) and keeps writing a file in the slot's temporary folder, then one that looks
    for that file. Before each kernel had its own pid namespace, the daemon outran the snapshot
    of the process list that killed a submission's processes, and lived on next to the
    following submissions of its slot."""
    _cohort, _subs, release, _cases, _summary = graded
    daemon = ("import os, subprocess, sys, tempfile\n"
              "flag = os.path.join(tempfile.gettempdir(), 'daemon-alive')\n"
              "code = ('import os, sys, time\\nfor _ in range(15000):\\n    if os.fork():\\n'\n"
              "        '        os._exit(0)\\n    try:\\n        open(sys.argv[1], \"w\").close()\\n'\n"
              "        '    except OSError:\\n        pass\\n    time.sleep(0.002)')\n"
              "subprocess.Popen([sys.executable, '-c', code, flag], start_new_session=True)")
    looks = ("import os, tempfile, time\ntime.sleep(0.5)\n"
             "assert not os.path.exists(os.path.join(tempfile.gettempdir(), 'daemon-alive')), "
             "'the daemon of the previous submission is alive'")
    submissions = tmp_path / "subs"
    write_submission(submissions, "a_daemon", {"fixture.ipynb": build(
        release, CORRECT, extra_after={"setup": [daemon, "import time\ntime.sleep(0.5)"]})})
    write_submission(submissions, "b_looks", {"fixture.ipynb": build(
        release, CORRECT, extra_after={"setup": [looks]})})
    grading_template(SOURCE_ROOT, "fixture", tmp_path / "ws")
    cohort = runner.Cohort(chapter="fixture", workspace=tmp_path / "ws", source_root=SOURCE_ROOT,
                           workers=1, progress=False,
                           limits=runner.Limits(cell_timeout=8, submission_timeout=90))
    records = _records(runner.grade_cohort(cohort, submissions))
    assert records["a_daemon"]["score"] == pytest.approx(3.0), records["a_daemon"]["reasons"]
    assert records["b_looks"]["reasons"] == [] and records["b_looks"]["score"] == pytest.approx(3.0)


def test_kernels_see_an_allow_list_and_write_only_to_their_scratch_folder(graded, tmp_path,
                                                                          grading_template):
    """Issue 16, case 6: a folder the grader was never told about (another checkout, a pytest
    temporary folder) was readable, and a shell, ``os.open`` with ``dir_fd`` or /dev/shm wrote
    outside the scratch folder. Now a kernel sees only system folders, the Python environment,
    the course package and cache, and writes only to its scratch folders."""
    _cohort, _subs, release, _cases, _summary = graded
    elsewhere = tmp_path / "another-checkout" / "solutions"
    elsewhere.mkdir(parents=True)
    (elsewhere / "secret.txt").write_text("the answers")
    marker = f"escaped-{tmp_path.name}"
    targets = [tmp_path / f"{marker}-shell.txt", tmp_path / f"{marker}-dirfd.txt",
               Path("/dev/shm") / f"{marker}.txt", REPO / f"{marker}-repo.txt"]
    reads = (f"try:\n    data = open({str(elsewhere / 'secret.txt')!r}).read()\nexcept OSError:\n"
             "    data = None\nassert data is None, 'read a file outside the allow-list'")
    writes = ("import os, subprocess\n"
              f"subprocess.run(['sh', '-c', 'echo x > {targets[0]}'], capture_output=True)\n"
              f"for folder, name in [({str(tmp_path)!r}, {targets[1].name!r}), ({str(REPO)!r}, {targets[3].name!r})]:\n"
              "    try:\n        fd = os.open(name, os.O_CREAT | os.O_WRONLY, dir_fd=os.open(folder, os.O_RDONLY))\n"
              "        os.write(fd, b'x')\n    except OSError:\n        pass\n"
              f"try:\n    open({str(targets[2])!r}, 'w').write('x')\nexcept OSError:\n    pass")
    submissions = tmp_path / "subs"
    write_submission(submissions, "hostile", {"fixture.ipynb": build(
        release, CORRECT, extra_after={"setup": [reads, writes]})})
    grading_template(SOURCE_ROOT, "fixture", tmp_path / "ws")
    cohort = runner.Cohort(chapter="fixture", workspace=tmp_path / "ws", source_root=SOURCE_ROOT,
                           workers=1, progress=False,
                           limits=runner.Limits(cell_timeout=8, submission_timeout=90))
    try:
        record = _records(runner.grade_cohort(cohort, submissions))["hostile"]
        written = [str(t) for t in targets if t.exists()]
    finally:
        for target in targets:
            target.unlink(missing_ok=True)
    assert written == []
    assert not any("outside the allow-list" in reason for reason in record["reasons"]), record["reasons"]
    assert record["score"] == pytest.approx(3.0), record["reasons"]


def test_without_namespaces_the_audit_hook_still_guards(graded, tmp_path, grading_template):
    """The portable sandbox (macOS, containers without user namespaces): audit hook only."""
    _cohort, _subs, release, cases, _summary = graded
    submissions = tmp_path / "subs"
    chosen = ("correct", "kills_launcher", "reads_solutions", "writes_outside", "imports_checks",
              "forged_agent")
    for student in chosen:
        write_submission(submissions, student, cases[student][0])
    grading_template(SOURCE_ROOT, "fixture", tmp_path / "ws")
    cohort = runner.Cohort(chapter="fixture", workspace=tmp_path / "ws", source_root=SOURCE_ROOT,
                           workers=2, progress=False, namespaces=False,
                           limits=runner.Limits(cell_timeout=8, submission_timeout=90))
    records = _records(runner.grade_cohort(cohort, submissions))
    for student in chosen:
        _files, score, reasons, flagged = cases[student]
        record = records[student]
        assert record["sandbox"] == "audit hook only"
        assert record["score"] == pytest.approx(score, abs=1e-6), record["reasons"]
        assert all(r in " | ".join(record["reasons"]) for r in reasons), record["reasons"]
        assert bool(record["integrity"]) == flagged


def test_checks_left_in_the_kernel_are_watched_by_the_integrity_guard(graded, tmp_path,
                                                                     grading_template):
    """Chapters whose checks still run next to student code (``checks="kernel"``): the guard's
    snapshot and signed verdicts zero an exercise whose checking machinery was tampered with."""
    _cohort, _subs, release, cases, _summary = graded
    chosen = {"correct": cases["correct"], **tamper_cases(release, "kernel")}
    submissions = tmp_path / "subs"
    for student, (files, *_rest) in chosen.items():
        write_submission(submissions, student, files)
    grading_template(SOURCE_ROOT, "fixture", tmp_path / "ws")
    cohort = runner.Cohort(chapter="fixture", workspace=tmp_path / "ws", source_root=SOURCE_ROOT,
                           workers=2, progress=False, checks="kernel",
                           limits=runner.Limits(cell_timeout=8, submission_timeout=90))
    records = _records(runner.grade_cohort(cohort, submissions))
    for student, (_files, score, reasons, flagged) in chosen.items():
        record = records[student]
        assert record["score"] == pytest.approx(score, abs=1e-6), (student, record["reasons"])
        assert all(r in " | ".join(record["reasons"]) for r in reasons), (student, record["reasons"])
        assert bool(record["integrity"]) == flagged, student


def test_a_chapter_with_checks_in_both_places_guards_each_where_it_runs(graded, tmp_path,
                                                                       grading_template):
    """A chapter whose model exercises still run their checks in the kernel (here ``test_scale``)
    and the others in the worker: tampering after the worker's exercise zeroes and flags the
    kernel's, and an attack on the agent costs the worker's."""
    _cohort, _subs, release, cases, _summary = graded
    nb = "fixture.ipynb"
    chosen = {
        "correct": (cases["correct"][0], 3.0, [], False),
        "tamper_late": (tamper_cases(release, "kernel")["tamper_late"][0], 1.0, ["IntegrityError"], True),
        "never_fail_cells": (cases["never_fail_cells"][0], 0.0, ["did not run the grader's agent",
                                                                 "IntegrityError"], True),
        # the replaced agent loses the worker's exercise; the static scan of the grader's
        # machinery, which guards the kernel's exercise, sees the tampering
        "garbage_agent": ({nb: build(release, CORRECT, extra_after={"setup": [GARBAGE_AGENT]})},
                          0.0, ["test_add_arrays: KernelGone", "test_scale: IntegrityError"], True),
    }
    submissions = tmp_path / "subs"
    for student, (files, *_rest) in chosen.items():
        write_submission(submissions, student, files)
    grading_template(SOURCE_ROOT, "fixture", tmp_path / "ws")
    cohort = runner.Cohort(chapter="fixture", workspace=tmp_path / "ws", source_root=SOURCE_ROOT,
                           workers=2, progress=False, checks="worker", kernel_cells=["test_scale"],
                           limits=runner.Limits(cell_timeout=8, submission_timeout=90))
    records = _records(runner.grade_cohort(cohort, submissions))
    for student, (_files, score, reasons, flagged) in chosen.items():
        record = records[student]
        assert record["score"] == pytest.approx(score, abs=1e-6), (student, record["reasons"])
        assert all(r in " | ".join(record["reasons"]) for r in reasons), (student, record["reasons"])
        assert bool(record["integrity"]) == flagged, student
