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
pytestmark = pytest.mark.xdist_group("convolution")


@pytest.fixture(scope="module")
def solution():
    return load_namespace("convolution", prelude=PRELUDE)


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


def test_partial_credit_is_scaled_to_points():
    wrong = WRONG_IMPLEMENTATIONS["conv2d"][2]  # fails only the groups with an odd 'same' padding
    fraction = checks.hidden_conv2d(wrong)
    assert 0.3 < fraction < 1.0
    assert checks.hidden_conv2d(wrong, points=4) == pytest.approx(4 * fraction, abs=4e-3)


# ------------------------------------------------- conv2d_fast: vectorised or not
def _shift_and_add(x, w, b=None, stride=1, padding="valid"):
    """Vectorised over the positions, with a loop over the kh * kw kernel offsets and the images."""
    from wrong.convolution import _pad_tf

    xp, sh, sw = _pad_tf(x, w, stride, padding)
    kh, kw, _, c_out = w.shape
    h_out, w_out = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], h_out, w_out, c_out), np.float32)
    for n in range(x.shape[0]):
        for u in range(kh):
            for v in range(kw):
                y[n] += xp[n, u:u + sh * (h_out - 1) + 1:sh, v:v + sw * (w_out - 1) + 1:sw, :] @ w[u, v]
    return y if b is None else y + b


def _delegates_to_a_looping_helper(x, w, b=None, stride=1, padding="valid"):
    """Looks vectorised, but calls a helper (another cell) that loops over the positions."""
    return WRONG_IMPLEMENTATIONS["conv2d_fast"][5](x, w, b, stride, padding)


def test_vectorised_solution_runs_the_same_lines_for_any_size(solution):
    small, large = checks.VectorisationCase().lines_run(solution["conv2d_fast"])
    assert small == large > 0
    assert checks.VectorisationCase().verdict([small, large]) == ""


def test_a_loop_over_positions_is_named_with_its_counts():
    loops = WRONG_IMPLEMENTATIONS["conv2d_fast"][5]
    assert loops.__name__ == "conv2d_fast_loops"
    small, large = checks.VectorisationCase().lines_run(loops)
    assert large - small >= 240  # at least one line per extra position
    message = checks.VectorisationCase().verdict([small, large])
    assert f"ran {small} lines of your code for 16 output positions (4x4) and {large} for 256" in message
    assert "loops over output positions" in message


def test_a_loop_copy_keeps_two_thirds_of_the_points(capsys):
    assert checks.hidden_conv2d_fast(WRONG_IMPLEMENTATIONS["conv2d_fast"][5], points=3) == 2.0
    assert "[FAIL] no Python loop over output positions" in capsys.readouterr().out
    checks.public_conv2d_fast(WRONG_IMPLEMENTATIONS["conv2d_fast"][5])  # a note, not a failure
    assert "Note: your conv2d_fast ran" in capsys.readouterr().out


def test_loops_that_do_not_grow_with_the_image_are_allowed():
    small, large = checks.VectorisationCase().lines_run(_shift_and_add)
    assert small == large
    assert checks.hidden_conv2d_fast(_shift_and_add, points=3) == 3.0


def test_helpers_from_other_cells_are_counted():
    small, large = checks.VectorisationCase().lines_run(_delegates_to_a_looping_helper)
    assert large - small >= 240
    assert checks.hidden_conv2d_fast(_delegates_to_a_looping_helper, points=3) == 2.0
