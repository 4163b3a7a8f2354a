"""Tests for the chapter on CNN architectures: reference, checks, solution, stub, wrong code."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from notebook_code import load_namespace
from wrong.architectures import WRONG_IMPLEMENTATIONS

from autograder.checks import architectures as checks
from autograder.reference import architectures as reference

PRELUDE = "import numpy as np\nimport keras\nfrom keras import layers"

pytestmark = pytest.mark.xdist_group("architectures")


@pytest.fixture(scope="module")
def solution():
    return load_namespace("architectures", prelude=PRELUDE)


# ----------------------------------------------------------------- the reference
def test_reference_lenet5_has_the_classic_parameter_count():
    assert reference.reference_lenet5((28, 28, 1), 10).count_params() == 61_706
    # 32x32 with "same" in the first conv flattens 6x6x16 = 576 values, not 400
    assert reference.reference_lenet5((32, 32, 1), 10).count_params() == 61_706 + 176 * 120


@pytest.mark.parametrize("shape, n_classes", [((28, 28, 1), 10), ((36, 28, 2), 7)])
def test_reference_lenet5_stage_shapes(shape, n_classes):
    model = reference.reference_lenet5(shape, n_classes)
    shapes = checks._stage_shapes(model)
    assert shapes == reference.lenet5_stage_shapes(shape, n_classes)


def test_vgg16_parameter_count_from_the_lecture():
    """The slide's 138,357,544 is what keras.applications.VGG16 has (weights=None: no download)."""
    assert keras.applications.VGG16(weights=None).count_params() == 138_357_544


def test_reference_separable_counts_match_the_formula():
    for k, c_in, c_out in [(3, 32, 64), (5, 3, 7), (1, 4, 4)]:
        standard, separable = reference.reference_separable_param_counts(k, c_in, c_out)
        assert standard == k * k * c_in * c_out
        assert separable == k * k * c_in + c_in * c_out


def test_reference_residual_block_is_identity_plus_relu_when_residual_is_zero():
    inputs = keras.Input((5, 5, 3))
    model = keras.Model(inputs, reference.reference_residual_block(inputs, 3, 1))
    for weight in model.weights:
        if len(weight.shape) == 4:
            weight.assign(np.zeros(weight.shape, np.float32))
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(model(x, training=False), np.maximum(x, 0), rtol=1e-6, atol=1e-6)


def test_logits_and_probabilities_losses_agree():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((8, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 8)
    from_logits = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    probabilities = keras.ops.softmax(logits)
    from_probs = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    tf_loss = reference.reference_integer_label_loss(labels, logits)
    np.testing.assert_allclose(float(from_logits), float(tf_loss), rtol=1e-5)  # float32
    np.testing.assert_allclose(float(from_probs), float(tf_loss), rtol=1e-5)
    mismatch = keras.losses.SparseCategoricalCrossentropy()(labels, logits)
    assert not np.isclose(float(mismatch), float(tf_loss), rtol=1e-2)


# ------------------------------------------------------------------ the solution
def test_hidden_checks_return_the_cell_points(solution):
    """nbgrader reads the last value of a test cell as points, not as a fraction."""
    assert checks.hidden_separable_param_saving(solution["separable_param_saving"], points=3) == 3.0
    score = checks.hidden_separable_param_saving(WRONG_IMPLEMENTATIONS["separable_param_saving"][3], points=2)
    assert 0 < score < 2.0


@pytest.mark.slow
def test_solution_training_scores_full_marks(solution):
    function = solution["train_on_subset"]
    checks.public_train_on_subset(function)
    assert checks.hidden_train_on_subset(function, points=2) == 2.0
    run = checks.run_training(function)
    assert run["held_out_accuracy"] >= checks.ACCURACY_THRESHOLDS[-1] + 0.02  # margin


def test_lenet_with_separate_activation_layers_passes():
    """Conv2D + Activation layer instead of a fused activation: same behaviour, full marks."""

    def build(input_shape, n_classes):
        return keras.Sequential(
            [
                keras.Input(input_shape),
                keras.layers.Conv2D(6, 5, padding="same"),
                keras.layers.Activation("tanh"),
                keras.layers.AveragePooling2D(2),
                keras.layers.Conv2D(16, 5),
                keras.layers.Activation(keras.activations.tanh),
                keras.layers.AveragePooling2D(pool_size=(2, 2), strides=2),
                keras.layers.Reshape((-1,)),
                keras.layers.Dense(120, activation="tanh"),
                keras.layers.Dense(84),
                keras.layers.Activation("tanh"),
                keras.layers.Dense(n_classes),
            ]
        )

    assert checks.hidden_build_lenet5(build) == 1.0


def test_residual_block_written_with_plus_and_layer_objects_passes():
    def block(x, filters, stride):
        conv_a = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)
        conv_b = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)
        shortcut = x
        if stride != 1 or x.shape[-1] != filters:  # projection built first
            shortcut = keras.layers.BatchNormalization()(
                keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
            )
        y = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(conv_a(x)))
        y = keras.layers.BatchNormalization()(conv_b(y))
        return keras.layers.Activation("relu")(y + shortcut)

    assert checks.hidden_residual_block(block) == 1.0


# ---------------------------------------------------------------- the student stub




def test_notebook_states_the_points_and_the_hidden_training_rules():
    """The text tells students what the hidden checks grade: points, threshold, images, time."""
    import json

    from notebook_code import notebook_path

    cells = json.loads(notebook_path("architectures").read_text())["cells"]
    text = {c.get("id"): "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"}
    points = {c["metadata"]["nbgrader"]["grade_id"].removeprefix("test_"): c["metadata"]["nbgrader"]["points"]
              for c in cells if c["metadata"].get("nbgrader", {}).get("grade")}
    for exercise, value in points.items():
        unit = "point" if value == 1 else "points"
        assert f"`{exercise}(" in text["intro"] and f"({value} {unit})" in text["intro"], exercise
    assert f"{sum(points.values())} points in all" in text["intro"]
    low, high = checks.ACCURACY_THRESHOLDS
    for phrase in (f"**{low:.0%}**", f"**{high:.0%}**", f"**{checks.TIME_BUDGET_S:.0f} s**",
                   f"**{checks.HELD_OUT_SIZE:,} held-out images**", f"{checks.TRAIN_SIZE:,} Fashion-MNIST"):
        assert phrase in text["train-intro"], phrase
