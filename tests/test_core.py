"""Tests of the shared checking machinery in autograder.core."""

import numpy as np
import pytest

from autograder import core


def test_tolerance_depends_on_dtype_and_device():
    assert core.tolerance_for(np.float64, "CPU").rtol < core.tolerance_for(np.float32, "CPU").rtol
    assert core.tolerance_for(np.float32, "GPU").rtol > core.tolerance_for(np.float32, "CPU").rtol


def test_assert_close_accepts_rounding_noise():
    expected = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    noisy = expected * (1 + 1e-6)
    core.assert_close(noisy, expected, "f", core.tolerance_for(np.float32, "CPU"))


def test_assert_close_names_first_wrong_position_and_tolerance():
    expected = np.zeros((2, 3))
    got = expected.copy()
    got[1, 2] = 0.5
    with pytest.raises(core.CheckFailure) as info:
        core.assert_close(got, expected, "conv2d", core.Tolerance(1e-4, 1e-5))
    message = str(info.value)
    assert "(1, 2)" in message
    assert "expected 0, got 0.5" in message
    assert "tolerance 0.0001 relative" in message


def test_assert_shape_names_the_wrong_axis():
    with pytest.raises(core.CheckFailure, match=r"expected \(1, 4, 4, 2\), got \(1, 5, 4, 2\)\. Axis 1"):
        core.assert_shape(np.zeros((1, 5, 4, 2)), (1, 4, 4, 2), "conv2d")


def test_assert_shape_rejects_non_arrays():
    with pytest.raises(core.CheckFailure, match="expected a numpy array"):
        core.assert_shape([1, 2], (2,), "f")


def test_call_without_tensorflow_allows_numpy():
    result = core.call_without_tensorflow(lambda x: np.tensordot(x, x, axes=1), np.ones(3))
    assert result == 3.0


def test_call_without_tensorflow_catches_tf_calls():
    import tensorflow as tf

    def uses_tf(x):
        return tf.nn.relu(x).numpy()

    with pytest.raises(core.UsesTensorFlow, match="uses_tf calls TensorFlow"):
        core.call_without_tensorflow(uses_tf, np.ones(3, dtype=np.float32))


def test_call_student_explains_not_implemented():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(core.CheckFailure, match="stub is not implemented yet"):
        core.call_student(stub, 1)


def _check_positive(case):
    if case <= 0:
        raise core.CheckFailure(f"{case} is not positive")


def test_score_groups_gives_partial_credit(capsys):
    groups = [core.CaseGroup("positives", [1, 2]), core.CaseGroup("mixed", [3, -1])]
    assert core.score_groups("demo", groups, _check_positive) == 0.5
    out = capsys.readouterr().out
    assert "[pass] positives" in out and "[FAIL] mixed" in out and "-1 is not positive" in out


def test_score_groups_raises_when_nothing_passes():
    with pytest.raises(core.CheckFailure, match="0/1 groups"):
        core.score_groups("demo", [core.CaseGroup("negatives", [-1])], _check_positive)


def test_score_groups_turns_crashes_into_failures():
    def crash(case):
        raise IndexError("index 5 is out of bounds")

    with pytest.raises(core.CheckFailure, match="IndexError: index 5"):
        core.score_groups("demo", [core.CaseGroup("any", [0])], crash)


def test_score_groups_returns_points_rounded_down():
    groups = [core.CaseGroup(f"g{i}", [1 if i < 11 else -1]) for i in range(12)]
    assert core.score_groups("demo", groups, _check_positive, points=5) == 4.583
    assert core.score_groups("demo", groups[:2], _check_positive, points=2) == 2.0


def test_call_without_tensorflow_explains_not_implemented():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(core.CheckFailure, match="stub is not implemented yet"):
        core.call_without_tensorflow(stub, 1)


def test_check_numpy_only_leaves_other_errors_to_the_graded_cases():
    def broken(x):
        return x[10]

    core.check_numpy_only(broken, [1])


def test_expect_value_error():
    def strict(n):
        if n < 0:
            raise ValueError("n must be >= 0")
        return n

    core.expect_value_error(strict, (-1,), "n is negative")
    with pytest.raises(core.CheckFailure, match=r"strict\(2,\): expected a ValueError \(n is even\), but it returned 2"):
        core.expect_value_error(strict, (2,), "n is even")


def _student_loop(n):
    total = 0
    for i in range(n):
        total += i
    return total


def test_count_lines_run_counts_student_lines_only():
    _, small = core.count_lines_run(_student_loop, 2)
    _, large = core.count_lines_run(_student_loop, 12)
    assert large - small == 20  # two lines per extra iteration (the for line and its body)
    result, lines = core.count_lines_run(lambda x: np.convolve(x, x), np.ones(50))
    assert lines == 1 and result.shape == (99,)  # numpy's own Python code is not counted


def test_count_lines_run_restores_the_previous_tracer_and_explains_stubs():
    import sys

    def stub():
        raise NotImplementedError()

    previous = sys.gettrace()
    with pytest.raises(core.CheckFailure, match="not implemented"):
        core.count_lines_run(stub)
    assert sys.gettrace() is previous


def test_group_weights_share_the_points(capsys):
    groups = [core.CaseGroup("a", [1]), core.CaseGroup("b", [2]), core.CaseGroup("c", [3], weight=2.0)]

    def fails_on_three(case):
        if case == 3:
            raise core.CheckFailure("three")

    assert core.score_groups("ex", groups, fails_on_three, points=4) == 2.0
    assert "[FAIL] c (2 of the 4 points): 3: three" in capsys.readouterr().out


def test_global_replaced_swaps_a_global_and_restores_it_even_on_error():
    namespace = {"helper": lambda: "student's"}
    exec("def uses_helper():\n    return helper()", namespace)
    function = namespace["uses_helper"]
    with core.global_replaced(function, "helper", lambda: "reference"):
        assert function() == "reference"
    assert function() == "student's"
    with pytest.raises(RuntimeError), core.global_replaced(function, "helper", lambda: "x"):
        raise RuntimeError
    assert function() == "student's"
    with core.global_replaced(function, "absent", lambda: "x"):  # no such global: nothing to do
        assert "absent" not in namespace


def test_as_scalar_and_public_case_report_readably():
    assert core.as_scalar(np.array([[2.5]]), "loss") == 2.5
    with pytest.raises(core.CheckFailure, match="expected one number"):
        core.as_scalar(np.zeros(3), "loss")

    def failing(function, case):
        raise core.CheckFailure("wrong value")

    with pytest.raises(core.CheckFailure, match="^'case 1': wrong value"):
        core.public_case(failing, None, "case 1")
