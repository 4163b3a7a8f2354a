"""The "Why MLPs are not enough" chapter: solution, student stub and wrong answers against the checks."""

from __future__ import annotations

import numpy as np
import pytest
from notebook_code import load_namespace
from wrong.mlp_limits import WRONG_IMPLEMENTATIONS

from autograder import core
from autograder.checks import mlp_limits as checks
from autograder.reference import mlp_limits as ref

# The notebook's setup cell (not a solution cell) provides these imports.
PRELUDE = "import math\nimport numpy as np\nimport keras\n"
pytestmark = pytest.mark.xdist_group("mlp_limits")


@pytest.fixture(scope="module")
def solution():
    return load_namespace("mlp_limits", prelude=PRELUDE)


@pytest.mark.parametrize(("shape", "units", "bias"), [((28, 28), 128, True), ((32, 32, 3), 10, False),
                                                      ((7,), 1, True), ((5, 4, 3, 2), 6, True)])
def test_keras_count_equals_the_formula(shape, units, bias):
    assert ref.dense_param_count(shape, units, bias) == ref.dense_param_count_formula(shape, units, bias)


def test_scipy_shift_moves_right_and_down():
    x = np.zeros((1, 4, 5), np.uint8)
    x[0, 1, 2] = 7
    shifted = ref.shift_images(x, 2, 1)
    assert shifted[0, 2, 4] == 7 and shifted.sum() == 7
    assert ref.shift_images(x, 3, 0).sum() == 0  # the pixel left the frame: no wrap-around


def test_numpy_forward_matches_the_reference_model():
    model = ref.build_mlp((4, 3), (5, 2), 3, "tanh")
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in model.weights]
    model.set_weights(weights)
    x = rng.uniform(size=(6, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x)), checks.numpy_forward(x, weights, "tanh"), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad", [(0, 3), (-2,), (2.5, 3), ()])
def test_reference_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match="input_shape"):
        ref.dense_param_count_formula(bad, 4)


def test_reference_shift_rejects_a_single_image():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ref.shift_images(np.zeros((28, 28)), 1, 0)


# ----------------------------------------------------------------- the messages teach
def _public_message(exercise, function) -> str:
    with pytest.raises(core.CheckFailure) as failure:
        getattr(checks, f"public_{exercise}")(function)
    return str(failure.value)


def _wrong(exercise, name):
    return next(w for w in WRONG_IMPLEMENTATIONS[exercise] if w.__name__ == name)


@pytest.mark.parametrize(("name", "phrase"), [
    ("shift_wraps_around", "wraps around"),
    ("shift_swapped", "dx and dy are swapped"),
    ("shift_wrong_direction", "Wrong direction"),
    ("shift_off_by_one", "Off by one"),
    ("shift_in_place", "changed its input"),
])
def test_shift_messages_name_the_mistake(name, phrase):
    assert phrase in _public_message("shift_images", _wrong("shift_images", name))


def test_count_message_fills_in_the_formula():
    message = _public_message("dense_param_count", _wrong("dense_param_count", "count_no_bias"))
    assert "(28 x 28 = 784 inputs) x 128 units + 128 biases = 100,480" in message
    assert "forgot the biases" in message
    message = _public_message("dense_param_count", _wrong("dense_param_count", "count_ignores_channels"))
    assert "left out the 3 channels" in message


def test_build_mlp_messages():
    assert "softmax probabilities" in _public_message("build_mlp", _wrong("build_mlp", "mlp_softmax_output"))
    assert "'relu', but activation='tanh'" in _public_message("build_mlp", _wrong("build_mlp", "mlp_always_relu"))
    assert "Dense 2: 8 x 4 + 4 = 36" in _public_message("build_mlp", _wrong("build_mlp", "mlp_first_hidden_only"))


def test_sigmoid_overflow_is_explained(capsys):
    assert checks.hidden_sigmoid(_wrong("sigmoid", "sigmoid_overflows")) < 1.0
    report = capsys.readouterr().out
    assert "[FAIL] large |s| without overflow" in report and "logaddexp" in report


def test_perceptron_messages():
    assert "not -1/+1" in _public_message("perceptron_predict", _wrong("perceptron_predict", "perceptron_sign"))
    with pytest.raises(core.CheckFailure, match="s >= 0"):
        checks._check_perceptron(_wrong("perceptron_predict", "perceptron_strict"),
                                 checks.Case("on the line", np.array([[0.0, 10.0]]), np.array([1.0, -1.0]), 10.0))


def test_accuracy_messages():
    assert "error rate" in _public_message("accuracy_under_shift", _wrong("accuracy_under_shift", "accuracy_error_rate"))
    assert "are the images shifted" in _public_message("accuracy_under_shift",
                                                       _wrong("accuracy_under_shift", "accuracy_not_shifted"))
