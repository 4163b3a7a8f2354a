"""Fast unit tests of the grading pieces: intake, zip, static scan, guard, feedback, CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import types
import zipfile

import nbformat
import numpy as np
import psutil
import pytest

from autograder.grading import cli, feedback, guard, intake, integrity, launcher, sandbox


def _nb(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def _test_cell(grade_id, source, points=1):
    meta = {"nbgrader": {"grade": True, "solution": False, "locked": True, "grade_id": grade_id,
                         "points": points, "schema_version": 3}}
    return nbformat.v4.new_code_cell(source, metadata=meta)


def _solution_cell(grade_id, source):
    meta = {"nbgrader": {"grade": False, "solution": True, "locked": False,
                         "grade_id": grade_id, "schema_version": 3}}
    return nbformat.v4.new_code_cell(source, metadata=meta)


# ----------------------------------------------------------------------- intake
@pytest.mark.parametrize("name, expected", [
    ("Ada Lovelace_123_assignsubmission_file_", "Ada_Lovelace_123"),
    ("bob", "bob"), ("../evil", "evil"), ("???", "unknown"), ("empty_file", "empty_file"),
])
def test_student_id_is_safe(name, expected):
    assert intake.student_id(name) == expected


def test_zip_entries_cannot_escape_the_target(tmp_path):
    archive = tmp_path / "bulk.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../outside.ipynb", "{}")
        bundle.writestr("/abs.ipynb", "{}")
        bundle.writestr("ada_1_conv.ipynb", "{}")
        bundle.writestr("__MACOSX/._x", "junk")
    root = intake.unpack_zip(archive, tmp_path / "out")
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == ["ada_1_conv.ipynb"]
    assert not (tmp_path / "outside.ipynb").exists()
    assert [s for s, _ in intake.discover(root, "conv")] == ["ada"]


def test_discover_reads_the_three_layouts(tmp_path):
    (tmp_path / "ann" / "conv").mkdir(parents=True)
    (tmp_path / "ben").mkdir()
    (tmp_path / "cy_42_conv.ipynb").write_text("{}")
    found = dict(intake.discover(tmp_path, "conv"))
    assert found == {"ann": tmp_path / "ann" / "conv", "ben": tmp_path / "ben",
                     "cy": tmp_path / "cy_42_conv.ipynb"}


@pytest.mark.parametrize("content, fatal", [
    ("", "empty file"), ("{oops", "invalid JSON"), ('{"cells": 3}', "not a valid notebook"),
])
def test_unreadable_notebooks_are_fatal_with_a_reason(tmp_path, content, fatal):
    (tmp_path / "conv.ipynb").write_text(content)
    sub = intake.prepare(tmp_path, "s", "conv", _nb(), tmp_path / "out")
    assert sub.fatal.startswith(fatal) and sub.folder is None


def test_repair_records_deleted_edited_and_duplicated_cells():
    release = _nb(_test_cell("test_a", "check(a)"), _test_cell("test_b", "check(b)"))
    submitted = _nb(_test_cell("test_a", "1.0"), _test_cell("test_a", "check(a)"))
    sub = intake.Submission("s", origin=None)
    intake.repair_cells(submitted, release, sub)
    assert sub.problems == ["edited locked cell test_a: restored from the source",
                            "duplicated cell test_a: the copy is ignored",
                            "deleted test cell test_b: restored from the source"]
    assert "nbgrader" not in submitted.cells[1].metadata


# ------------------------------------------------------------------ static scan
@pytest.mark.parametrize("code, finding", [
    ("np.testing.assert_allclose = print", "replaces np.testing.assert_allclose"),
    ("tf.nn.conv2d = lambda *a, **k: 0", "replaces tf.nn.conv2d"),
    ("from autograder.reference import convolution", "imports the reference implementations"),
    ("import autograder.core as c", "imports the grader's package"),
    ("setattr(np.testing, 'assert_equal', print)", "setattr on np.testing"),
    ("import sys\nsys.modules['numpy'] = None", "reaches into sys.modules"),
    ("__builtins__.len = lambda x: 0", "touches __builtins__"),
    ("m = __import__('auto' + 'grader')", "imports a module dynamically"),
    ("import importlib\nm = importlib.import_module('x')", "imports a module dynamically"),
    ("x = 'autograder.core'", "names the grader's package in a string"),
])
def test_static_scan_flags_tampering(code, finding):
    nb = _nb(_solution_cell("f", code), _test_cell("test_f", "check(f)"))
    affected = integrity.scan_notebook(nb, set())
    assert list(affected) == ["test_f"]
    assert any(finding in text for text in affected["test_f"]), affected


def test_static_scan_accepts_honest_code_and_only_affects_later_tests():
    honest = "import numpy as np\nnp.testing.assert_allclose(np.ones(2), np.ones(2))\nx = np.zeros(3)"
    nb = _nb(_solution_cell("f", honest), _test_cell("test_f", "check(f)"),
             _solution_cell("g", "np.allclose = max"), _test_cell("test_g", "check(g)"))
    assert list(integrity.scan_notebook(nb, set())) == ["test_g"]


# ------------------------------------------------------------------------ guard
def test_guard_sees_a_replaced_numpy_testing_function():
    snapshot = guard.take_snapshot()
    assert guard.compare(snapshot) == []
    original = np.testing.assert_allclose
    np.testing.assert_allclose = lambda *args, **kwargs: None
    try:
        assert guard.compare(snapshot) == ["numpy.testing.assert_allclose was replaced or deleted"]
    finally:
        np.testing.assert_allclose = original
    assert guard.compare(snapshot) == []


def test_guard_sees_a_patched_tensorflow_op():
    import tensorflow as tf

    snapshot = guard.take_snapshot()
    original = tf.nn.conv2d
    tf.nn.conv2d = lambda *args, **kwargs: None
    try:
        assert "tensorflow.nn.conv2d was replaced or deleted" in guard.compare(snapshot)
    finally:
        tf.nn.conv2d = original
    assert guard.compare(snapshot) == []


def test_guard_sees_code_replaced_in_place_and_ipython_input_handling_changed():
    from autograder import core

    snapshot = guard.take_snapshot()
    original = core.assert_close.__code__
    core.assert_close.__code__ = (lambda *args, **kwargs: None).__code__
    try:
        assert "the code of autograder.core.assert_close was replaced" in guard.compare(snapshot)
    finally:
        core.assert_close.__code__ = original
    assert guard.compare(snapshot) == []
    shell = types.SimpleNamespace(input_transformers_cleanup=[], input_transformers_post=[],
                                  ast_transformers=[], input_transformer_manager=None)
    before = guard.input_handling(shell)
    assert guard.input_handling_changes(before, shell) == []
    shell.input_transformers_post.append(lambda lines: ["3.0\n"])
    shell.run_cell = lambda *args, **kwargs: None
    assert guard.input_handling_changes(before, shell) == [
        "IPython's input handling was changed (input_transformers_post)",
        "IPython's input handling was changed (methods set on the shell)"]


def test_guard_accepts_a_lazy_module_replaced_by_the_module_it_loads(monkeypatch):
    class Lazy(types.ModuleType):
        pass

    owner = types.ModuleType("owner")
    monkeypatch.setitem(sys.modules, "owner", owner)
    owner.sub = Lazy("owner.sub")
    snapshot = {"owner": (owner, guard._module_snapshot(owner))}
    owner.sub = types.ModuleType("owner.sub")  # what TensorFlow's LazyLoader does on first use
    assert guard.compare(snapshot) == []
    owner.sub = types.ModuleType("fake")  # a different module is still a replacement
    assert guard.compare(snapshot) == ["owner.sub was replaced or deleted"]
    plain = {"owner": (owner, guard._module_snapshot(owner))}
    owner.sub = types.ModuleType("fake")  # a plain module replaced by another plain one
    assert guard.compare(plain) == ["owner.sub was replaced or deleted"]


def test_guard_signature_depends_on_the_verdict():
    key = b"k" * 32
    clean = guard.sign(key, "n", "before:t", {"changes": [], "events": []})
    assert clean != guard.sign(key, "n", "before:t", {"changes": ["x"], "events": []})
    assert clean != guard.sign(b"other" * 7, "n", "before:t", {"changes": [], "events": []})


# --------------------------------------------------------------------- feedback
def test_hidden_tests_and_their_traceback_frames_are_removed():
    cell = _test_cell("test_f", "check(f)\n### BEGIN HIDDEN TESTS\nsecret_check(f)\n"
                                "### END HIDDEN TESTS")
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="CheckFailure", evalue="f is wrong",
        traceback=["Cell In[3], line 3\n----> 3 \x1b[0msecret_check(f)", "CheckFailure: f is wrong"])]
    nb = _nb(cell)
    hidden = feedback.strip_hidden_tests(nb)
    assert hidden == ["secret_check(f)"]
    assert "secret_check" not in nb.cells[0].source and "hidden tests" in nb.cells[0].source
    assert nb.cells[0].outputs[0].traceback == [feedback.FRAME_NOTE, "CheckFailure: f is wrong"]
    page, count = feedback.redact_html("<pre>secret_check(f)</pre>", hidden)
    assert (page, count) == ("<pre>[hidden]</pre>", 1)


# -------------------------------------------------------------------------- CLI
def test_cli_rejects_bad_arguments_clearly(tmp_path):
    with pytest.raises(SystemExit, match="--workers must be at least 1, got 0"):
        cli.main(["grade", "fixture", str(tmp_path), "--workers", "0"])
    with pytest.raises(SystemExit, match="expected a folder or a .zip"):
        cli.main(["grade", "fixture", str(tmp_path / "nope")])


# --------------------------------------------------------------------- launcher
def test_forked_kernel_handle_sees_a_process_that_is_not_its_child():
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    try:
        handle = launcher.ForkedKernel(pid)
        assert handle.poll() is None
        with pytest.raises(Exception, match="timed out"):
            handle.wait(timeout=0.2)
        handle.kill()
        assert handle.wait(timeout=5) == -1  # a zombie counts as gone
    finally:
        os.waitpid(pid, 0)
    handle.send_signal(signal.SIGTERM)  # no error on a process that is gone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the launcher forks (Linux)")
def test_launcher_is_kept_while_it_answers_and_replaced_when_frozen_or_killed(monkeypatch):
    monkeypatch.setattr(launcher, "REPLY_TIMEOUT", 1.0)
    slot = sandbox.make_slots(1)[0]
    settings = sandbox.launcher_settings(slot, [], ["numpy"], 1000, use_namespaces=False)
    worker_side = launcher.Launcher()
    try:
        worker_side.ensure(slot, settings)
        first = worker_side.popen.pid
        worker_side.ensure(slot, settings)
        assert worker_side.popen.pid == first
        os.kill(first, signal.SIGSTOP)  # what a student's kernel could do to its parent
        worker_side.ensure(slot, settings)
        second = worker_side.popen.pid
        assert second != first and not psutil.pid_exists(first)
        worker_side.popen.kill()
        worker_side.popen.wait()
        worker_side.ensure(slot, settings)
        assert worker_side.popen.pid not in (first, second)
        assert worker_side._ask({"ping": True}, 5.0) == {"pong": True, "pid": worker_side.popen.pid}
    finally:
        worker_side.stop()
        shutil.rmtree(slot.root.parent)
    assert worker_side.popen is None


def test_launcher_settings_hide_the_other_slots_and_the_private_folder():
    slots = sandbox.make_slots(3)
    try:
        settings = sandbox.launcher_settings(slots[1], ["/solutions"], [], 10, use_namespaces=True)
        assert settings["hidden_roots"] == ["/solutions", str(slots[0].root), str(slots[2].root),
                                            str(slots[1].private)]
        assert settings["allowed_write_roots"] == [str(slots[1].kernel), str(slots[1].home),
                                                   str(slots[1].tmp)]
        assert oct(slots[1].root.parent.stat().st_mode & 0o777) == "0o700"
    finally:
        shutil.rmtree(slots[0].root.parent)


# ------------------------------------------------------- copied test code (issue 16)
PUBLIC = "from autograder.checks import conv as checks\nchecks.public_f(f)"
TEST_SOURCE = PUBLIC + "\n### BEGIN HIDDEN TESTS\nchecks.hidden_f(f, points=2)\n### END HIDDEN TESTS"


def _chapter(*student_cells):
    """A source notebook with two exercises, and a submission with cells after test_f."""
    source = _nb(_solution_cell("f", "def f(): ..."), _test_cell("test_f", TEST_SOURCE),
                 _solution_cell("g", "def g(): ..."), _test_cell("test_g", "check(g)"))
    submitted = _nb(source.cells[0], _test_cell("test_f", PUBLIC), *student_cells,
                    source.cells[2], source.cells[3])
    return source, submitted


@pytest.mark.parametrize("pasted", [
    PUBLIC,  # the whole public part of a test cell, pasted into a new cell
    "# checking my f again\n" + PUBLIC + "\n",  # comments and spacing do not matter
    "def f():\n    return 1\n\n" + PUBLIC,  # re-running the check below one's own code
    "from autograder.checks import conv as checks\nchecks.hidden_f(f, points=2)",  # hidden part
])
def test_test_code_pasted_into_a_student_cell_is_not_tampering(pasted):
    source, submitted = _chapter(nbformat.v4.new_code_cell(pasted))
    assert integrity.scan_notebook(submitted, set(), integrity.test_code(source)) == {}


@pytest.mark.parametrize("code, finding", [
    (PUBLIC + "\nf = checks.ref.f", "uses checks.ref of the grader's package"),
    (PUBLIC + "\nc = checks", "uses checks of the grader's package"),
    ("from autograder.checks import conv as c\nc.public_f(f)", "imports the grader's package"),
    (PUBLIC + "\nnp.testing.assert_allclose = print", "replaces np.testing.assert_allclose"),
    (PUBLIC + "\nfrom autograder.reference import conv", "imports the reference implementations"),
])
def test_copied_test_code_does_not_hide_other_tampering(code, finding):
    source, submitted = _chapter(nbformat.v4.new_code_cell(code))
    affected = integrity.scan_notebook(submitted, set(), integrity.test_code(source))
    assert list(affected) == ["test_g"] and any(finding in t for t in affected["test_g"]), affected


def test_a_duplicated_test_cell_is_a_plain_copy_before_nbgrader_and_not_tampering():
    from autograder.grading.intake import drop_duplicate_grade_ids

    source, _ = _chapter()
    pasted = copy_cell(source.cells[1])
    pasted.id = "pasted-copy"  # Jupyter gives a pasted cell a new id, not a new grade_id
    submitted = _nb(*(copy_cell(c) for c in source.cells[:2]), pasted,
                    *(copy_cell(c) for c in source.cells[2:]))
    assert drop_duplicate_grade_ids(submitted) == ["test_f"]
    assert "nbgrader" in submitted.cells[1].metadata and "nbgrader" not in submitted.cells[2].metadata
    assert drop_duplicate_grade_ids(submitted) == []
    assert integrity.scan_notebook(submitted, set(), integrity.test_code(source)) == {}


def copy_cell(cell):
    return nbformat.from_dict(json.loads(json.dumps(cell)))


# ----------------------------------------------------------- output cap (issue 16)
class _Sink:
    def __init__(self):
        self.writes = []

    def write(self, text):
        self.writes.append(text)
        return len(text)


def test_a_huge_single_write_is_cut_before_it_is_sent_and_the_cap_is_per_cell():
    out, err = _Sink(), _Sink()
    budget = guard._OutputBudget(1000)
    stdout, stderr = guard._CappedStream(out, budget), guard._CappedStream(err, budget)
    started = time.perf_counter()
    assert stdout.write("x" * 100_000_000) == 100_000_000  # print() of 100 MB in one call
    assert max(len(w) for w in out.writes) == 1000 and out.writes[0] == "x" * 1000
    assert "output truncated by the grader" in out.writes[1] and len(out.writes) == 2
    stderr.write("more")  # stdout and stderr share the cell's budget: nothing more, no 2nd note
    stdout.writelines(["a", "b"])
    assert err.writes == [] and len(out.writes) == 2
    budget.reset()  # the next cell starts with a full budget
    stdout.write("hello\n")
    assert out.writes[-1] == "hello\n" and time.perf_counter() - started < 5


def test_a_write_that_fits_is_passed_whole_and_counted():
    out = _Sink()
    budget = guard._OutputBudget(10)
    stream = guard._CappedStream(out, budget)
    stream.write("123456")
    stream.write("7890")
    stream.write("!")
    assert out.writes[:2] == ["123456", "7890"] and "truncated" in out.writes[2]


def test_cluster_pack_and_unpack_round_trip_and_refuse_names_that_leave_the_folder(tmp_path):
    """Submissions and templates travel to Dask workers as zips (autograder.grading.cluster)."""
    import io

    from autograder.grading import cluster

    source = tmp_path / "source"
    (source / "data" / "deep").mkdir(parents=True)
    (source / "fixture.ipynb").write_text("{}")
    (source / "data" / "deep" / "x.npy").write_bytes(b"\x00\x01")
    (tmp_path / "gradebook.db").write_bytes(b"db")
    flat = cluster.unpack(cluster.pack({"": source}), tmp_path / "flat")
    assert sorted(p.relative_to(flat).as_posix() for p in flat.rglob("*") if p.is_file()) == [
        "data/deep/x.npy", "fixture.ipynb"]
    named = cluster.unpack(cluster.pack({"source": source, "gradebook.db": tmp_path / "gradebook.db"}),
                           tmp_path / "named")
    assert (named / "source" / "data" / "deep" / "x.npy").read_bytes() == b"\x00\x01"
    assert (named / "gradebook.db").read_bytes() == b"db"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escaped.txt", "x")
    with pytest.raises(ValueError, match="outside the target folder"):
        cluster.unpack(buffer.getvalue(), tmp_path / "evil")
    assert not (tmp_path / "escaped.txt").exists()
