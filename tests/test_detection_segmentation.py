"""Tests for the chapter "Beyond classification: detection and segmentation": references, and
the facts the checks rely on.

The generic proofs (solution full marks, stub 0 with a readable message, every wrong
implementation loses points) are in tests/test_chapter_contracts.py and
tests/test_chapters_autograde.py. Here: each reference agrees with an independent one (Keras'
IoU, box codes, Dice, MeanIoU and Huber; a greedy numpy NMS; the adjoint identity of the
transposed convolution), the trained exercise scores full marks with the solution, NMS is graded
with the grader's IoU, and the checks name the classic mistakes.
"""

from __future__ import annotations

import numpy as np
import pytest
from notebook_code import hidden_report, load_namespace
from test_chapter_contracts import PRELUDES

from autograder.checks import detection_segmentation as checks
from autograder.reference import detection_segmentation as reference

pytestmark = pytest.mark.xdist_group("detection_segmentation")
CHAPTER = "detection_segmentation"


@pytest.fixture(scope="module")
def solution():
    return load_namespace(CHAPTER, prelude=PRELUDES[CHAPTER])


def _boxes(seed, n):
    return checks._random_boxes(np.random.default_rng(seed), n)


def test_reference_iou_equals_keras_and_the_grader_numpy_iou():
    a, b = _boxes(0, 9), _boxes(1, 7)
    ours = reference.iou(a, b).numpy()
    assert np.allclose(ours, reference.keras_iou(a, b), rtol=1e-5, atol=1e-6)
    assert np.abs(ours - checks.GRADER_IOU(a, b)).max() < 1e-12
    touching = np.array([[0.0, 0.0, 4.0, 4.0]]), np.array([[4.0, 0.0, 8.0, 4.0], [3.0, 3.0, 3.0, 3.0]])
    assert reference.iou(*touching).numpy().tolist() == [[0.0, 0.0]]


def test_reference_nms_equals_greedy_numpy_nms_with_its_rules():
    for seed in range(40):
        boxes, scores = checks.NMSCase("", 25, seed=seed, tied=seed % 2 == 0).arrays()
        overlaps = checks.GRADER_IOU(boxes, boxes)
        kept = []
        for index in np.argsort(-scores, kind="stable"):
            if all(overlaps[index, other] <= 0.45 for other in kept):
                kept.append(index)
        assert reference.non_max_suppression(boxes, scores, 0.45, 100).tolist() == kept
    boxes, scores = checks._AT_THRESHOLD
    assert reference.non_max_suppression(boxes, scores, 0.5, 10).tolist() == [0, 1, 2]  # IoU == 0.5 kept
    assert reference.non_max_suppression(boxes, scores, 0.49, 10).tolist() == [0, 2]


def test_box_codes_equal_keras_and_round_trip():
    boxes, anchors = _boxes(2, 10), _boxes(3, 10)
    ours = reference.encode_boxes_float64(boxes, anchors).numpy()
    assert np.allclose(ours, reference.encode_boxes(boxes, anchors), rtol=1e-4, atol=1e-5)
    assert np.allclose(reference.decode_boxes_float64(ours, anchors).numpy(), boxes, atol=1e-12)
    assert np.allclose(reference.decode_boxes(ours, anchors), boxes, atol=1e-3)


def test_smooth_l1_is_huber_and_its_branches():
    error = np.array([[0.5, -0.5, 2.0, -3.0, 1.0, 0.0]], np.float32)
    by_hand = np.where(np.abs(error) < 1, 0.5 * error**2, np.abs(error) - 0.5).mean()
    assert float(reference.smooth_l1(np.zeros_like(error), error)) == pytest.approx(by_hand, rel=1e-6)


def test_reference_dice_matches_keras_without_smoothing_and_is_zero_on_empty_masks():
    truth, pred = checks.DiceCase("", (3, 8, 8), 5).arrays()
    assert float(reference.dice_loss(truth, pred, 0.0)) == pytest.approx(
        float(reference.keras_dice(truth, pred).mean()), rel=1e-5)
    empty = np.zeros((2, 4, 4), np.float32)
    assert float(reference.dice_loss(empty, empty, 1.0)) == 0.0
    # Keras' Dice has no smoothing: an empty mask predicted empty scores 1, the worst loss
    assert reference.keras_dice(empty, empty).tolist() == [1.0, 1.0]


def test_reference_mean_iou_equals_keras_and_leaves_absent_classes_out():
    for seed in range(5):
        truth, pred = checks.MeanIoUCase("", (3, 9, 9), 5, seed).arrays()
        assert float(reference.mean_iou(truth, pred, 5)) == pytest.approx(
            reference.keras_mean_iou(truth, pred, 5), rel=1e-6)
    assert float(reference.mean_iou([0, 0, 1, 1], [0, 0, 1, 0], 3)) == pytest.approx((2 / 3 + 1 / 2) / 2)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_reference_conv_transpose_is_the_adjoint_of_conv2d(padding, stride):
    rng = np.random.default_rng(stride)
    x, kernel = rng.normal(size=(4, 5, 2)), rng.normal(size=(3, 2, 3, 2))
    y = reference.conv_transpose(x, kernel, stride, padding).numpy()
    probe = rng.normal(size=y.shape)
    forward = reference.conv2d(probe, kernel, stride, padding).numpy()
    assert forward.shape == x.shape
    assert np.sum(y * probe) == pytest.approx(np.sum(x * forward), rel=1e-12)


def test_the_reference_unet_passes_the_build_unet_checks():
    assert checks.hidden_build_unet(reference.unet, points=2) == 2.0


def test_trained_segmenter_solution_scores_full_marks(solution, capsys):
    function = solution["train_segmenter"]
    checks.public_train_segmenter(function)
    assert checks.hidden_train_segmenter(function, points=2) == 2.0
    run = checks.run_training(function)
    assert run["mean_iou"] >= checks.FLOORS[-1]
    assert "[FAIL]" not in capsys.readouterr().out


def test_nms_is_graded_with_the_grader_iou(solution):
    namespace = solution["non_max_suppression"].__globals__
    students = namespace["iou"]
    namespace["iou"] = lambda a, b: 1.0 - checks.GRADER_IOU(a, b)  # a wrong iou
    try:
        assert checks.hidden_non_max_suppression(solution["non_max_suppression"], points=3) == 3.0
    finally:
        namespace["iou"] = students


def test_scenes_used_for_grading_are_fixed():
    a, b = checks._scenes(5, checks.HELD_OUT_SEED), checks._scenes(5, checks.HELD_OUT_SEED)
    assert np.array_equal(a.semantic, b.semantic)
    assert not np.array_equal(a.semantic, checks._scenes(5, checks.TRAINING_SEED).semantic)


@pytest.mark.parametrize(("wrong", "exercise", "hint"), [
    ("iou_not_clamped", "iou", "Clamp the overlap"),
    ("iou_plus_one", "iou", "without the +1"),
    ("iou_union_keeps_intersection", "iou", "subtract the intersection"),
    ("iou_loop_over_pairs", "iou", "loops over the pairs"),
    ("iou_zero_area_nan", "iou", "never NaN"),
    ("nms_suppresses_at_threshold", "non_max_suppression", "equals the threshold is kept"),
    ("nms_input_order", "non_max_suppression", "decreasing score"),
    ("nms_ties_to_higher_index", "non_max_suppression", "lower index comes first"),
    ("nms_with_tensorflow", "non_max_suppression", "numpy only"),
    ("encode_xy_swapped", "encode_boxes", "x first"),
    ("encode_without_log", "encode_boxes", "logarithms"),
    ("decode_without_exp", "decode_boxes", "exp(tw)"),
    ("smooth_l1_as_l1", "smooth_l1", "quadratic"),
    ("smooth_l1_summed", "smooth_l1", "do not sum"),
    ("smooth_l1_in_numpy", "smooth_l1", "no gradient flows"),
    ("dice_without_smoothing", "dice_loss", "not NaN"),
    ("dice_over_the_batch", "dice_loss", "Dice of each sample"),
    ("miou_per_image", "mean_iou", "do not average per-image"),
    ("miou_absent_as_zero", "mean_iou", "leave it out of the mean"),
    ("convt_flipped_kernel", "conv_transpose", "Do not flip the kernel"),
    ("convt_same_cropped_at_end", "conv_transpose", "not everything at the end"),
    ("convt_same_is_full", "conv_transpose", "H * stride"),
    ("unet_without_skips", "build_unet", "skip connections"),
    ("unet_linear_outputs", "build_unet", "softmax"),
    ("train_compiled_not_fitted", "train_segmenter", "below"),
])
def test_checks_name_the_classic_mistake(wrong, exercise, hint, capsys):
    assert hint in hidden_report("detection_segmentation", exercise, wrong, capsys)
