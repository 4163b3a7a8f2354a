"""Tests for the chapter "What a CNN sees": references, identities, cases, notebook text.

The generic proofs (solution full marks, stub 0 with a readable message, every wrong
implementation loses points) are in tests/test_chapter_contracts.py and
tests/test_chapters_autograde.py.  Here: the references agree with the exact
identities they are graded by, the fooling cases are feasible with a margin, the
nested-model group really needs the nested handling, and the notebook says what
the checks grade.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from notebook_code import load_namespace, notebook_path

from autograder import core
from autograder.checks import introspection as checks
from autograder.reference import common
from autograder.reference import introspection as reference

pytestmark = pytest.mark.xdist_group("introspection")

PRELUDE = "import numpy as np\nimport keras\nimport tensorflow as tf"


@pytest.fixture(scope="module")
def solution():
    return load_namespace("introspection", prelude=PRELUDE)


def _image(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


# -------------------------------------------------------------- exact identities
def test_saliency_of_a_linear_model_is_its_weights():
    model = checks.linear_model((5, 4, 3), 3, seed=1)
    kernel, _ = checks.linear_weights(model, (5, 4, 3))
    got = reference.saliency_map(model, _image((2, 5, 4, 3)), 2)
    np.testing.assert_array_equal(got[0], np.abs(kernel[..., 2]).max(axis=-1))
    np.testing.assert_array_equal(got[0], got[1])  # the same for every image


def test_occlusion_reference_matches_the_closed_form_with_a_remainder():
    model = checks.linear_model((9, 7, 2), 3, seed=2)
    kernel, _ = checks.linear_weights(model, (9, 7, 2))
    image = _image((9, 7, 2))
    got = reference.occlusion_map(model, image, 1, patch=3, stride=4, fill=0.25)
    assert got.shape == ((9 - 3) // 4 + 1, (7 - 3) // 4 + 1) == (2, 2)
    closed = reference.linear_occlusion_map(kernel[..., 1], image, 3, 4, 0.25)
    np.testing.assert_allclose(got, closed, rtol=1e-4, atol=1e-5)  # float32 model vs float64 sum


def test_cam_mean_plus_bias_is_the_logit_and_grad_cam_is_cam_over_hw_on_lite0():
    model, image = checks.lite0_model(), checks.lite0_image()
    cam = reference.class_activation_map(model, image, 281)
    bias = model.get_layer("logits").get_weights()[1][281]
    logit = reference.logits_of(model, image[None])[0, 281]
    np.testing.assert_allclose(cam.mean() + bias, logit, rtol=1e-5, atol=1e-5)
    weighted = reference.grad_cam_weighted_sum(model, image, "top_activation", 281)
    np.testing.assert_allclose(weighted, cam / cam.size, rtol=1e-4, atol=1e-6)


def test_nested_lite0_gives_the_same_logits_and_grad_cam():
    image = checks.lite0_image()
    flat, nested = checks.lite0_model(), checks.lite0_model(nested=True)
    np.testing.assert_allclose(reference.logits_of(nested, image[None]),
                               reference.logits_of(flat, image[None]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reference.grad_cam(nested, image, "top_activation", 285),
                               reference.grad_cam(flat, image, "top_activation", 285), rtol=1e-4, atol=1e-5)


def test_nested_group_needs_the_nested_handling(solution):
    """A Grad-CAM that only looks up top-level layers fails the nested cases, and only those."""

    def top_level_only(model, image, layer_name, class_index):
        if layer_name not in [layer.name for layer in model.layers]:
            raise ValueError(f"no layer {layer_name!r}")
        return solution["grad_cam"](model, image, layer_name, class_index)

    with pytest.raises(ValueError, match="no layer"):
        checks.check_grad_cam_case(top_level_only, checks.GradCamCase("nested", (8, 8, 3), "inner_conv", 0, 1))
    checks.check_grad_cam_case(top_level_only, checks.GradCamCase("conv", (6, 6, 3), "last_conv", 1, 3))
    assert 0 < checks.hidden_grad_cam(top_level_only) < 1


def test_negative_head_leaves_only_zeros():
    model = checks.negative_head_model((6, 6, 3), 4, seed=5)
    weighted = reference.grad_cam_weighted_sum(model, _image((6, 6, 3)), "last_conv", 0)
    assert (weighted <= 0).all()
    assert not reference.grad_cam(model, _image((6, 6, 3)), "last_conv", 0).any()


def test_integrated_gradients_are_complete_on_a_smooth_model_not_with_few_steps_on_relu():
    smooth = checks.conv_model((6, 6, 3), 3, seed=7, activation="tanh")
    image = _image((6, 6, 3), 1)
    attributions = reference.integrated_gradients(smooth, image, 1, 0.0, 256)
    logits = reference.logits_of(smooth, np.stack([image, np.zeros_like(image)]))[:, 1]
    change = logits[0] - logits[1]
    assert abs(attributions.sum() - change) < checks.COMPLETENESS_RTOL * abs(change)
    linear = checks.linear_model((4, 4, 3), 3, seed=8)
    kernel, _ = checks.linear_weights(linear, (4, 4, 3))
    np.testing.assert_allclose(reference.integrated_gradients(linear, image[:4, :4], 2, 0.5, 3),
                               (image[:4, :4] - 0.5) * kernel[..., 2], rtol=1e-5, atol=1e-6)


def test_lime_reference_solves_the_weighted_normal_equations():
    rng = np.random.default_rng(3)
    masks = rng.integers(0, 2, (60, 5))
    masks[1] = 0
    scores = rng.normal(size=60)
    coefficients, intercept = reference.lime_weights(masks, scores, 0.25, 1.0)
    weights = reference.lime_kernel(masks, 0.25)
    assert weights[1] == pytest.approx(np.exp(-1 / 0.25**2))  # all-off mask: distance 1
    design = np.hstack([masks, np.ones((60, 1))])
    penalty = np.diag([1.0] * 5 + [0.0])  # the intercept is not penalised
    solved = np.linalg.solve(design.T @ (weights[:, None] * design) + penalty, design.T @ (weights * scores))
    np.testing.assert_allclose(coefficients, solved[:5], rtol=1e-8, atol=1e-10)  # float64
    assert intercept == pytest.approx(solved[5], rel=1e-8, abs=1e-10)


# -------------------------------------------------------------------- fooling
@pytest.mark.parametrize("name, case", [(n, c) for n, cases in checks.fool_cases() for c in cases],
                         ids=lambda value: value if isinstance(value, str) else repr(value))
def test_every_fooling_case_is_reached_by_the_reference_with_half_the_epsilon(name, case):
    model, image, target = case.arguments()
    fooled = reference.fooling_image(model, image, target, case.epsilon / 2, case.max_steps)
    assert int(np.argmax(reference.logits_of(model, fooled[None])[0])) == target, name
    assert np.abs(fooled - image).max() <= case.epsilon / 2 + 1e-6


def test_counting_model_counts_every_eager_call():
    inner = checks.conv_model((5, 5, 3), 3, seed=1)
    counted = common.counting_model(inner)
    assert counted.calls == 0  # built, its build not counted
    x = _image((2, 5, 5, 3))
    with tf.GradientTape() as tape:
        tensor = tf.convert_to_tensor(x)
        tape.watch(tensor)
        np.testing.assert_array_equal(counted(tensor), inner(tensor))
    counted(x, training=False)
    assert counted.calls == 2


def test_fooling_image_never_changes_the_callers_image(solution):
    case = checks.PUBLIC_FOOL[0]
    model, image, target = case.arguments()
    before = image.copy()
    solution["fooling_image"](model, image, target, epsilon=case.epsilon, max_steps=case.max_steps)
    np.testing.assert_array_equal(image, before)


# ------------------------------------------------------------ scores and text
def test_hidden_checks_return_the_cell_points(solution):
    assert checks.hidden_lime_weights(solution["lime_weights"], points=2) == 2.0
    assert checks.hidden_saliency_map(solution["saliency_map"], points=3) == 3.0


def test_a_keras_model_passed_as_a_functional_model_also_works(solution):
    """Any model that outputs logits: a functional model built from the same layers."""
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = checks._randomise(keras.Model(inputs, keras.layers.Dense(4)(x)), seed=4)
    image = _image((6, 6, 3))
    np.testing.assert_allclose(solution["class_activation_map"](model, image, 2),
                               reference.class_activation_map(model, image, 2), rtol=1e-5, atol=1e-6)


def test_notebook_states_the_points_and_the_rules_the_checks_grade():
    cells = json.loads(notebook_path("introspection").read_text())["cells"]
    text = {c.get("id"): "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"}
    points = {c["metadata"]["nbgrader"]["grade_id"].removeprefix("test_"): c["metadata"]["nbgrader"]["points"]
              for c in cells if c["metadata"].get("nbgrader", {}).get("grade")}
    for exercise, value in points.items():
        unit = "point" if value == 1 else "points"
        assert f"`{exercise}(" in text["intro"] and f"({value} {unit})" in text["intro"], exercise
    assert f"{sum(points.values())} points in all" in text["intro"]
    assert "(H - patch) // stride + 1" in text["occlusion-intro"]
    assert "(k + 1/2)/m" in text["ig-intro"]
    assert "allow two per step" in text["fool-intro"] and checks.call_budget(5) == 2 * 5 + 2
    assert "half the `epsilon`" in text["fool-intro"]


@pytest.mark.parametrize("exercise, wrong_name, hint", [
    ("saliency_map", "saliency_of_softmax", "gradient of the softmax probability"),
    ("saliency_map", "saliency_without_abs", "absolute value"),
    ("occlusion_map", "occlusion_transposed", "transposed"),
    ("occlusion_map", "occlusion_sign_flipped", "Wrong sign"),
    ("class_activation_map", "cam_with_bias", "Add no bias"),
    ("grad_cam", "grad_cam_max_of_gradients", "(mean), not the max"),
    ("integrated_gradients", "ig_without_difference", "(x - baseline)"),
    ("lime_weights", "lime_unweighted", "exp(-d^2 / width^2)"),
])
def test_public_messages_name_the_classic_mistake(exercise, wrong_name, hint):
    import wrong.introspection as wrong

    with pytest.raises(core.CheckFailure) as failure:
        getattr(checks, f"public_{exercise}")(getattr(wrong, wrong_name))
    assert hint in str(failure.value)
