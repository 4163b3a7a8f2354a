"""The "Convolution" chapter: solution, student stub and wrong answers against the checks."""

from __future__ import annotations

import numpy as np
import pytest
from notebook_code import load_namespace
from wrong.convolution import WRONG_IMPLEMENTATIONS

from autograder import core
from autograder.checks import convolution as checks

# The notebook's setup cell (not a solution cell) provides these imports.
PRELUDE = "import math\nimport numpy as np\n"
EXERCISES = ["conv_output_size", "zero_pad", "conv1d", "conv2d", "conv2d_fast", "count_conv_params"]
pytestmark = pytest.mark.xdist_group("convolution")


@pytest.fixture(scope="module")
def solution():
    return load_namespace("convolution", prelude=PRELUDE)


@pytest.fixture(scope="module")
def stub():
    return load_namespace("convolution", "notebooks", prelude=PRELUDE)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_solution_passes_public_and_scores_full(solution, exercise, capsys):
    getattr(checks, f"public_{exercise}")(solution[exercise])
    assert getattr(checks, f"hidden_{exercise}")(solution[exercise]) == 1.0
    assert "[FAIL]" not in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
@pytest.mark.parametrize("kind", ["public", "hidden"])
def test_stub_fails_readably(stub, exercise, kind):
    with pytest.raises(core.CheckFailure, match="not implemented"):
        getattr(checks, f"{kind}_{exercise}")(stub[exercise])


WRONG_CASES = [(exercise, wrong) for exercise, wrongs in WRONG_IMPLEMENTATIONS.items() for wrong in wrongs]


@pytest.mark.parametrize(("exercise", "wrong"), WRONG_CASES, ids=[w.__name__ for _, w in WRONG_CASES])
def test_wrong_implementation_loses_points(exercise, wrong):
    hidden = getattr(checks, f"hidden_{exercise}")
    try:
        score = hidden(wrong)
    except core.CheckFailure:
        return
    assert score < 1.0, f"{wrong.__name__} scored {score}"


def test_every_exercise_has_three_wrong_implementations():
    assert set(WRONG_IMPLEMENTATIONS) == set(EXERCISES)
    for exercise, wrongs in WRONG_IMPLEMENTATIONS.items():
        assert len(wrongs) >= 3, exercise
        assert all(w.__doc__ for w in wrongs), exercise


# ----------------------------------------------------------------- the messages teach
def _public_message(exercise, function) -> str:
    with pytest.raises(core.CheckFailure) as failure:
        getattr(checks, f"public_{exercise}")(function)
    return str(failure.value)


def test_flipped_kernel_gets_the_flip_hint():
    wrong = WRONG_IMPLEMENTATIONS["conv2d"][1]
    assert "kernel flipped" in _public_message("conv2d", wrong)
    assert "np.convolve" in _public_message("conv1d", WRONG_IMPLEMENTATIONS["conv1d"][0])


def test_shape_message_fills_in_the_formula():
    message = _public_message("conv2d", WRONG_IMPLEMENTATIONS["conv2d"][0])  # missing stride
    assert "H_out = floor((n + 2p - f) / s) + 1 = floor((5 + 2*0 - 3) / 2) + 1 = 2" in message
    assert "stride 1 (is the stride used?)" in message


def test_padding_and_bias_hints():
    assert "extra zero at the top/left" in _public_message("conv2d", WRONG_IMPLEMENTATIONS["conv2d"][2])
    assert "without the bias" in _public_message("conv2d", WRONG_IMPLEMENTATIONS["conv2d"][4])
    assert "'valid' padding (is the padding used?)" in _public_message("conv2d", WRONG_IMPLEMENTATIONS["conv2d"][3])


def test_messages_state_the_tolerance():
    message = _public_message("conv2d_fast", WRONG_IMPLEMENTATIONS["conv2d_fast"][0])
    tol = core.tolerance_for(np.float32)
    assert f"tolerance {tol.rtol:g} relative" in message


@pytest.mark.parametrize("exercise", ["conv1d", "conv2d", "conv2d_fast"])
def test_tensorflow_inside_withholds_the_points(exercise):
    uses_tf = next(w for w in WRONG_IMPLEMENTATIONS[exercise] if "tensorflow" in w.__name__)
    with pytest.raises(core.UsesTensorFlow, match="numpy only"):
        getattr(checks, f"hidden_{exercise}")(uses_tf)


def test_output_size_messages():
    assert "expected a ValueError" in _public_message("conv_output_size", WRONG_IMPLEMENTATIONS["conv_output_size"][3])
    message = _public_message("conv_output_size", WRONG_IMPLEMENTATIONS["conv_output_size"][0])
    assert "return an int" in message or "floor" in message


def test_reference_rejects_bad_input_clearly():
    from autograder.reference import convolution as ref

    with pytest.raises(ValueError, match=r"\(N, H, W, C_in\)"):
        ref.conv2d(np.zeros((3, 3), np.float32), np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match="padding must be"):
        ref.tf_padding("full")


def test_notebook_test_cells_pass_their_points():
    """nbgrader reads the cell's final number as points: it must scale by the cell's own points."""
    import json
    import re

    from notebook_code import notebook_path

    cells = json.loads(notebook_path("convolution").read_text())["cells"]
    graded = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    assert {c["metadata"]["nbgrader"]["grade_id"] for c in graded} == {f"test_{e}" for e in EXERCISES}
    for cell in graded:
        meta = cell["metadata"]["nbgrader"]
        call = re.search(r"checks\.hidden_(\w+)\((\w+), points=(\d+)\)\s*### END HIDDEN TESTS", "".join(cell["source"]))
        assert call, meta["grade_id"]
        assert f"test_{call[1]}" == meta["grade_id"] and call[1] == call[2]
        assert int(call[3]) == meta["points"], meta["grade_id"]


def test_partial_credit_is_scaled_to_points():
    wrong = WRONG_IMPLEMENTATIONS["conv2d"][2]  # fails only the groups with even kernels and 'same'
    fraction = checks.hidden_conv2d(wrong)
    assert 0.5 < fraction < 1.0
    assert checks.hidden_conv2d(wrong, points=4) == pytest.approx(4 * fraction, abs=4e-3)
