"""Checks in the grading worker, student code in the kernel (issue 16, case 7): the wire format,
the agent and the checker's proxies, without a kernel (the agent runs in a thread here; the
fixture cohort of test_grading_cohort runs them through real kernels)."""

from __future__ import annotations

import ast
import io
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from autograder import core
from autograder.grading import agent, checker, runner, wire


def round_trip(value):
    blobs: list[bytes] = []
    return wire.decode(wire.encode(value, blobs), blobs)


def test_plain_data_crosses_with_its_types():
    value = {"ints": (1, -2**70, np.int64(3)), "floats": [0.5, float("nan"), float("-inf"), np.float32(2)],
             "array": np.arange(6, dtype=np.float32).reshape(2, 3), "flags": (True, None, "é"),
             "bytes": b"\x00\xff", 4: "an int key", "empty": np.zeros((0, 3), np.int8)}
    got = round_trip(value)
    assert got.keys() == value.keys()
    assert type(got["ints"]) is tuple and type(got["ints"][1]) is int and type(got["ints"][2]) is np.int64
    assert type(got["floats"][3]) is np.float32 and np.isnan(got["floats"][1]) and got["floats"][2] == -np.inf
    assert got["array"].dtype == np.float32 and np.array_equal(got["array"], value["array"])
    assert got["flags"] == value["flags"] and got["bytes"] == value["bytes"] and got[4] == "an int key"
    assert got["empty"].shape == (0, 3) and got["empty"].dtype == np.int8


@pytest.mark.parametrize("value", [object(), np.array([object()]), print, {1, 2}])
def test_what_is_not_plain_data_is_refused_without_a_reference(value):
    with pytest.raises(wire.Unsendable):
        wire.encode(value, [])


def test_decoding_never_unpickles_and_rejects_unknown_forms():
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError, match="without running code"):
        wire.decode({"array": 0}, [pickled.getvalue()])
    for form in ({"array": 3}, {"eval": "1"}, {"list": [{"module": "os"}]}, {"ref": 0}):
        with pytest.raises(wire.WireError):
            wire.decode(form, [])


def test_grader_functions_cross_to_the_kernel_only_and_only_from_the_references():
    from autograder.checks.detection_segmentation import GRADER_IOU
    from autograder.reference import detection_segmentation as reference

    blobs: list[bytes] = []
    forms = wire.encode([GRADER_IOU, reference.iou], blobs, grader=True)
    with pytest.raises(wire.WireError):  # the worker's side: never code from a kernel
        wire.decode(forms, blobs)
    iou, ref_iou = wire.decode(forms, blobs, code=True)
    assert ref_iou is reference.iou
    assert iou(np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([[1.0, 0.0, 3.0, 2.0]]))[0, 0] == pytest.approx(1 / 3)
    with pytest.raises(wire.WireError, match="not a reference"):
        wire.decode({"function": ["os", "system"]}, [], code=True)


def test_a_partial_of_a_reference_crosses_with_its_plain_data_arguments():
    import functools

    from autograder.reference import texture_style_colour as reference

    loss = functools.partial(reference.step_loss, "quadratic", np.full((2, 2, 1), 0.5, np.float32), None, None)
    blobs: list[bytes] = []
    form = wire.encode(loss, blobs, grader=True)
    assert "partial" in form
    again = wire.decode(form, blobs, code=True)
    assert again.func is reference.step_loss and again.args[0] == "quadratic"
    assert float(again(np.zeros((2, 2, 1), np.float32))) == pytest.approx(0.25)
    with pytest.raises(wire.Unsendable):  # a partial of anything else is not plain data
        wire.encode(functools.partial(print, 1), [], grader=True)


def test_a_sequential_model_crosses_as_its_constructor_builds_it():
    """Keras' from_config calls a Sequential model's first layers again at each layer it adds:
    ``layer.output`` then belongs to an older graph than ``model.outputs``, and a Grad-CAM built
    on both (``keras.Model(model.inputs, [layer.output, model.output])``) gets no gradient."""
    keras = pytest.importorskip("keras")
    import tensorflow as tf

    model = keras.Sequential([keras.Input((5, 5, 2)), keras.layers.Conv2D(3, 3, name="conv"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)],
                             name="small")
    blobs: list[bytes] = []
    again = wire.decode(wire.encode(model, blobs, grader=True), blobs, code=True)
    assert type(again) is keras.Sequential and again.name == "small"
    assert [len(layer._inbound_nodes) for layer in again.layers] == [1, 1, 1]
    x = np.random.default_rng(0).random((1, 5, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(again(x), model(x))
    both = keras.Model(again.inputs, [again.get_layer("conv").output, again.outputs[0]])
    with tf.GradientTape() as tape:
        maps, logits = both(x)
        score = logits[0, 1]
    assert tape.gradient(score, maps) is not None


def test_a_message_over_the_limit_or_cut_short_is_refused():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(struct.pack("!Q", 1 << 60))
        with pytest.raises(wire.WireError, match="larger than"):
            wire.receive(right)
    left, right = socket.socketpair()
    with right:
        left.sendall(struct.pack("!Q", 10) + b"{")
        left.close()
        with pytest.raises(wire.WireError, match="closed"):
            wire.receive(right)


def test_free_names_are_what_the_cell_reads_and_does_not_define():
    code = ("from autograder.checks import pooling as checks\nimport numpy as np\nx = np.ones(2)\n"
            "def helper(k):\n    return scale(x, k) + offset\n[i for i in range(3)]\n"
            "try:\n    pass\nexcept ValueError as error:\n    print(error)\n"
            "checks.hidden_pool2d(pool2d, points=5)")
    assert sorted(checker.free_names(ast.parse(code))) == ["offset", "pool2d", "scale"]


class Kernel:
    """An agent serving ``namespace`` in a thread, connected to a checker's link."""

    def __init__(self, namespace: dict):
        self.left, right = socket.socketpair()
        self.thread = threading.Thread(target=agent.serve_connection,
                                       args=(right, "t0ken", namespace), daemon=True)
        self.thread.start()
        hello, _ = wire.receive(self.left)
        assert hello["hello"] == "t0ken"
        self.link = checker.KernelLink(self.left)

    def run(self, source: str) -> list:
        return checker.run_cell_code(source, self.link, 7)

    def close(self) -> None:
        wire.send(self.left, {"op": "done"}, [])
        self.thread.join(5)
        self.left.close()


def _loop_sum(x):
    total = 0.0
    for value in x:
        total += value
    return total


def _student_namespace() -> dict:
    def stub(x):
        raise NotImplementedError()

    def picky(x):
        if np.ndim(x) != 2:
            raise ValueError("x must be 2-D")
        return np.asarray(x).T

    class Model:
        def __init__(self):
            self.units = 3

        def predict(self, x):
            return np.asarray(x) * self.units

    namespace = {"np": np}
    exec("def helper(a, b):\n    return np.zeros((len(a), len(b)))\n\n"  # noqa: S102
         "def uses_helper(a, b):\n    return helper(a, b) * 2\n\n"
         "def square_sum(x, scale=1.0):\n    import tensorflow as tf\n"
         "    return tf.reduce_sum(x * x) * scale\n\n"
         "def pair_product(pair):\n    import tensorflow as tf\n"
         "    return tf.reduce_sum(pair[0] * pair[1])\n", namespace)
    return {**namespace, "np": "not numpy", "double": lambda x: np.asarray(x) * 2, "stub": stub,
            "picky": picky, "model": Model(),
            "loop_sum": _loop_sum, "rate": 0.5,
            "uses_tf": lambda x: __import__("tensorflow").reduce_sum(x).numpy()}


@pytest.fixture()
def kernel():
    kernel = Kernel(_student_namespace())
    yield kernel
    kernel.close()


def test_a_test_cell_runs_here_and_calls_student_functions_there(kernel):
    outputs = kernel.run("from autograder import core\nprint('checked')\n"
                         "core.assert_close(double(np.arange(3.0)), np.arange(3.0) * 2, 'double', "
                         "core.Tolerance(0, 0))\nfloat(model.predict([1, 2]).sum() + model.units + rate)")
    assert [o["output_type"] for o in outputs] == ["stream", "execute_result"]
    assert outputs[0]["text"] == "checked\n"
    assert outputs[1]["data"]["text/plain"] == "12.5" and outputs[1]["execution_count"] == 7


def test_student_exceptions_keep_their_builtin_class(kernel):
    outputs = kernel.run("from autograder import core\ncore.expect_value_error(picky, (np.ones(3),), "
                         "'1-D input')\ncore.call_student(stub, 1)")
    assert outputs[-1]["ename"] == "CheckFailure" and "stub is not implemented" in outputs[-1]["evalue"]
    assert kernel.run("undefined_name(1)")[0]["ename"] == "NameError"
    error = checker.student_exception({"type": "InvalidArgumentError", "message": "bad shape"})
    assert isinstance(error, checker.StudentError) and type(error).__name__ == "InvalidArgumentError"
    assert isinstance(checker.student_exception({"type": "ValueError", "builtin": True}), ValueError)
    # a student's AssertionError is not the grader's CheckFailure (an AssertionError)
    assert not isinstance(checker.student_exception({"type": "AssertionError", "builtin": True}),
                          AssertionError)


def test_measurements_are_made_where_the_student_code_runs(kernel):
    outputs = kernel.run("from autograder import core\n"
                         "_, short = core.count_lines_run(loop_sum, np.ones(2))\n"
                         "_, long = core.count_lines_run(loop_sum, np.ones(20))\n"
                         "core.call_without_tensorflow(double, np.ones(2))\n(short, long)")
    short, long = ast.literal_eval(outputs[-1]["data"]["text/plain"])
    assert long - short == 36  # two lines per extra element: the loop test and its body
    outputs = kernel.run("from autograder import core\n"
                         "core.call_without_tensorflow(uses_tf, np.ones(2, np.float32))")
    assert outputs[-1]["ename"] == "UsesTensorFlow"


def test_gradients_are_taken_where_the_student_code_runs(kernel):
    outputs = kernel.run("from autograder import core\n"
                         "out, grad = core.gradient_of(square_sum, [np.ones(3, np.float32)], 0, scale=2.0)\n"
                         "(float(out), grad.tolist(), core.gradient_of(double, [np.ones(2)], 0)[1])")
    assert outputs[-1]["data"]["text/plain"] == "(6.0, [4.0, 4.0, 4.0], None)"
    outputs = kernel.run("from autograder import core\n"  # d / d pair[0], inside a list argument
                         "pair = [np.ones(2, np.float32), np.array([3.0, 5.0], np.float32)]\n"
                         "core.gradient_of(pair_product, [pair], (0, 0))[1].tolist()")
    assert outputs[-1]["data"]["text/plain"] == "[3.0, 5.0]"


def test_an_earlier_exercise_is_replaced_by_the_grader_s_in_the_kernel_then_restored(kernel):
    outputs = kernel.run("from autograder import core\n"
                         "from autograder.checks.detection_segmentation import GRADER_IOU\n"
                         "a, b = np.array([[0.0, 0, 2, 2]]), np.array([[1.0, 0, 3, 2]])\n"
                         "with core.global_replaced(uses_helper, 'helper', GRADER_IOU):\n"
                         "    during = float(uses_helper(a, b)[0, 0])\n"
                         "(round(during, 6), float(uses_helper(a, b)[0, 0]))")
    assert outputs[-1]["data"]["text/plain"] == "(0.666667, 0.0)"


def test_the_kernel_cannot_choose_what_the_grader_s_names_mean(kernel):
    # np is the grader's numpy, whatever the kernel binds to the name
    assert kernel.run("float(np.ones(2).sum())")[-1]["data"]["text/plain"] == "2.0"


def test_a_kernel_that_stops_answering_fails_the_cell_it_does_not_crash_the_checker():
    kernel = Kernel(_student_namespace())
    kernel.left.shutdown(socket.SHUT_WR)
    outputs = kernel.run("double(1)")
    assert outputs[-1]["ename"] == "KernelGone"
    kernel.left.close()


def test_the_salt_changes_the_random_cases_and_nothing_else():
    plain = core.rng(5).standard_normal(3)
    assert np.array_equal(plain, np.random.default_rng(5).standard_normal(3))
    try:
        core.set_case_salt("00ff00ff" * 4)
        salted = core.rng(5).standard_normal(3)
        assert np.array_equal(salted, core.rng(5).standard_normal(3))
        core.set_case_salt("11ff00ff" * 4)
        assert not np.array_equal(salted, core.rng(5).standard_normal(3))
    finally:
        core.set_case_salt(None)
    assert np.array_equal(core.rng(5).standard_normal(3), plain)


def test_the_grading_secret_is_made_once_private_and_salts_each_chapter(tmp_path, monkeypatch):
    monkeypatch.delenv(runner.SECRET_ENV, raising=False)
    secret = runner.grading_secret(tmp_path)
    assert len(secret) == 64 and runner.grading_secret(tmp_path) == secret
    assert (tmp_path / ".grading-secret").stat().st_mode & 0o777 == 0o600

    def salt(chapter: str) -> str:
        return runner.Cohort(chapter=chapter, workspace=tmp_path, source_root=tmp_path,
                             namespaces=False).case_salt()

    first = salt("convolution")
    assert len(first) == 32 and first == salt("convolution") != salt("pooling")
    monkeypatch.setenv(runner.SECRET_ENV, "another")
    assert salt("convolution") != first
    kernel = runner.Cohort(chapter="convolution", workspace=tmp_path, source_root=tmp_path,
                           namespaces=False, checks="kernel")
    assert kernel.case_salt() == ""  # checks in the kernel: student code could read a salt


def test_where_each_chapter_runs_its_checks(tmp_path):
    """Every chapter runs all its checks in the worker (the README says so): no test cell is
    left in the kernel. (A name in ``CHECKED_IN_KERNEL`` must be a test cell of its notebook: a
    typo would move one silently.)"""
    import json

    solutions = Path(__file__).resolve().parents[1] / "solutions"
    in_kernel, exercises = 0, 0
    for notebook in sorted(solutions.glob("*/*.ipynb")):
        chapter = notebook.parent.name
        cells = json.loads(notebook.read_text())["cells"]
        ids = {c["metadata"]["nbgrader"]["grade_id"] for c in cells
               if c["metadata"].get("nbgrader", {}).get("grade") and not c["metadata"]["nbgrader"].get("solution")}
        assert runner.checks_location(chapter) == "worker", chapter
        assert set(runner.kernel_cells(chapter)) <= ids, chapter
        in_kernel += len(runner.kernel_cells(chapter))
        exercises += len(ids)
    assert (in_kernel, exercises) == (0, 62)  # the README: "all 62 graded exercises"
    assert runner.checks_location("fixture") == "worker"  # no checks module: numpy in the cell
    module = tmp_path / "old.py"
    module.write_text("X = 1\n")
    assert runner._checks_constant(module, "CHECKS_RUN_IN", "kernel") == "kernel"
    module.write_text('CHECKED_IN_KERNEL = ("test_a", "test_b")\n')
    assert runner._checks_constant(module, "CHECKED_IN_KERNEL", ()) == ("test_a", "test_b")
    with pytest.raises(ValueError, match="worker"):
        runner.Cohort(chapter="fixture", workspace=None, source_root=None, namespaces=False,
                      checks="elsewhere")


# The model exercises moved last to the worker: their checks hand Keras models to the kernel
# (architecture and weights), rebuild there what one model cannot carry, and read back plain
# data. Through the agent, the solution keeps full marks and every wrong implementation of
# tests/wrong/ still loses points (tests/test_chapter_contracts.py proves the same in one
# process, where the checks' objects are the student's).
MODEL_EXERCISES = [("introspection", "grad_cam"), ("introspection", "fooling_image"),
                   ("transfer_learning", "add_classifier"), ("transfer_learning", "set_strategy"),
                   ("transfer_learning", "extract_features"), ("transfer_learning", "fine_tune")]


@pytest.mark.slow
@pytest.mark.parametrize(("chapter", "exercise"), MODEL_EXERCISES,
                         ids=[f"{c}-{e}" for c, e in MODEL_EXERCISES])
def test_model_exercises_score_through_the_agent(chapter, exercise):
    import importlib

    from test_chapter_contracts import namespace

    pytest.importorskip("tensorflow")
    solution = namespace(chapter, "solutions")
    cell = (f"from autograder.checks import {chapter} as checks\n"
            f"checks.hidden_{exercise}({exercise}, points=3)")
    scores = {}
    wrong = importlib.import_module(f"wrong.{chapter}").WRONG_IMPLEMENTATIONS[exercise]
    for function in [solution[exercise], *wrong]:
        kernel = Kernel({**solution, exercise: function})
        try:
            outputs = kernel.run(cell)
        finally:
            kernel.close()
        result = outputs[-1]
        if result["output_type"] == "error":  # every group failed: 0 points, with the reason
            assert result["ename"] == "CheckFailure", (function.__name__, result)
            scores[function.__name__] = 0.0
        else:
            scores[function.__name__] = float(result["data"]["text/plain"])
    assert scores.pop(exercise) == 3.0
    assert all(score < 3.0 for score in scores.values()), scores
