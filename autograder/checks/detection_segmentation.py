"""Checks for the chapter "Beyond classification: detection and segmentation".

Every check runs the student's function and the reference
(:mod:`autograder.reference.detection_segmentation`: TensorFlow ops, ``tf.image``'s NMS,
Keras' box encoding, ``tf.nn.conv2d_transpose``) on seeded random cases, plus a
deterministic case for each branch of each rule: disjoint and touching boxes (IoU 0),
zero-area boxes, an IoU exactly at the NMS threshold (kept), ties in score (lower index
first), offsets along x only and along y only (TensorFlow's [y1, x1, y2, x2] is not ours),
errors on both sides of smooth L1's kink, empty masks for Dice, a class absent from truth
and prediction for mean IoU, every padding and a kernel smaller than the stride for the
transposed convolution.  Invariants hold whatever the reference says: IoU is symmetric,
in [0, 1] and unchanged when both boxes move or scale together; NMS keeps boxes pairwise at
most at the threshold, in decreasing score; decoding an encoding gives the boxes back; the
transposed convolution is the adjoint of the convolution.

``iou``, ``non_max_suppression``, ``encode_boxes``, ``decode_boxes``, ``mean_iou`` and
``conv_transpose`` are numpy only (TensorFlow and Keras are refused); ``smooth_l1`` and
``dice_loss`` are TensorFlow losses, checked on values and gradients.
``non_max_suppression`` is graded with the grader's IoU in place of the student's, so a
mistake in ``iou`` costs points there only.

Tolerances: float64 numpy against float64 TensorFlow: ``core.tolerance_for(float64)``
(1e-9, atol scaled by max |expected|) for the transposed convolution, 1e-7 for IoU, box
codes and mean IoU (a student may divide in another order); float32 losses
``core.tolerance_for(float32)`` (CPU rtol 1e-4, atol 1e-5; GPU rtol 1e-3, atol 1e-4).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from autograder import core
from autograder.core import BadCase, CaseGroup
from autograder.reference import common
from autograder.reference import detection_segmentation as reference

# graded test cells run these checks in the grading worker, out of the student's reach: a
# student's model stays in the kernel (the checks call it there); the grader's U-Net is trained
# there by the student's function, and its weights are read back and scored here
CHECKS_RUN_IN = "worker"

FLOAT32 = np.float32
FLOAT64 = np.float64
TIGHT = core.Tolerance(1e-7, 1e-7)


def _tol32() -> core.Tolerance:
    return core.tolerance_for(FLOAT32)


def _tol64() -> core.Tolerance:
    return core.tolerance_for(FLOAT64, "CPU")


def _tf():
    import tensorflow as tf

    return tf


def _random_boxes(rng, n: int, extent: float = 60.0, largest: float = 30.0) -> np.ndarray:
    corner = rng.uniform(0.0, extent, (n, 2))
    size = rng.uniform(1.0, largest, (n, 2))
    return np.concatenate([corner, corner + size], axis=1)


# A numpy IoU compiled outside the grader's folder: ``non_max_suppression`` is graded with it
# in place of the student's ``iou`` (a mistake there costs points once), and the numpy-only
# profiler, which refuses any call into the grader's files, must not count it against them.
_GRADER_IOU_SOURCE = '''
def iou(boxes_a, boxes_b):
    a = np.asarray(boxes_a, dtype=np.float64)[:, None, :]
    b = np.asarray(boxes_b, dtype=np.float64)[None, :, :]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height
    union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
             + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
'''
_grader_namespace: dict = {"np": np}
exec(compile(_GRADER_IOU_SOURCE, "<the grader's iou>", "exec"), _grader_namespace)  # noqa: S102
GRADER_IOU = _grader_namespace["iou"]
GRADER_IOU.__wire_source__ = _GRADER_IOU_SOURCE  # how it reaches a graded kernel


# ============================================================================== 1. iou
@dataclass(frozen=True)
class IoUCase:
    label: str
    n: int = 0
    m: int = 0
    seed: int = 0
    fixed: tuple = ()  # (boxes_a, boxes_b) as tuples

    def arrays(self):
        if self.fixed:
            return (np.array(self.fixed[0], FLOAT64).reshape(-1, 4),
                    np.array(self.fixed[1], FLOAT64).reshape(-1, 4))
        rng = core.rng(self.seed)
        return _random_boxes(rng, self.n), _random_boxes(rng, self.m)

    def __repr__(self) -> str:
        if self.fixed:
            return f"{self.label}: boxes_a={list(self.fixed[0])}, boxes_b={list(self.fixed[1])}"
        return f"{self.label}: {self.n} x {self.m} random boxes (seed {self.seed})"


def _iou_parts(a, b, plus_one: bool = False):
    a, b = a[:, None, :], b[None, :, :]
    one = 1.0 if plus_one else 0.0
    width = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + one
    height = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + one
    area_a = (a[..., 2] - a[..., 0] + one) * (a[..., 3] - a[..., 1] + one)
    area_b = (b[..., 2] - b[..., 0] + one) * (b[..., 3] - b[..., 1] + one)
    return width, height, area_a, area_b


def _iou_variants(a, b) -> dict:
    def ratio(inter, union):
        with np.errstate(all="ignore"):
            return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)

    width, height, area_a, area_b = _iou_parts(a, b)
    clamped = np.clip(width, 0, None) * np.clip(height, 0, None)
    w1, h1, a1, b1 = _iou_parts(a, b, plus_one=True)
    inter1 = np.clip(w1, 0, None) * np.clip(h1, 0, None)
    return {
        "Clamp the overlap's width and height at 0 before multiplying: two negative extents "
        "multiply to a positive 'overlap' for disjoint boxes.":
            ratio(width * height, area_a + area_b - width * height),
        "The union is area_a + area_b - intersection: subtract the intersection, counted twice.":
            ratio(clamped, area_a + area_b),
        "Boxes are in pixel edges: the width is x2 - x1, without the +1 of the old pixel-index "
        "convention.": ratio(inter1, a1 + b1 - inter1),
        "Pairwise: result[i, j] = IoU(boxes_a[i], boxes_b[j]); check the order of the axes.":
            ratio(clamped, area_a + area_b - clamped).T,
    }


def check_iou_case(iou, case: IoUCase) -> None:
    a, b = case.arrays()
    name = "iou(boxes_a, boxes_b)"
    got = core.as_array(core.call_student(iou, a.copy(), b.copy()), name)
    expected = core.run_reference(reference.iou, a, b)
    core.assert_shape(got, expected.shape, name,
                      f"One IoU per pair: (len(boxes_a), len(boxes_b)) = {expected.shape}.")
    if not np.isfinite(got).all():
        raise core.CheckFailure(f"{name}: NaN or inf in your result. Boxes with zero area have an "
                                "empty union: their IoU is 0 (divide only where union > 0).")
    core.assert_close_or_hint(got, expected, name, TIGHT, lambda: _iou_variants(a, b))


@dataclass(frozen=True)
class IoUInvariantCase:
    label: str
    seed: int = 0

    def __repr__(self) -> str:
        return f"{self.label} (seed {self.seed})"


def check_iou_invariants(iou, case: IoUInvariantCase) -> None:
    rng = core.rng(case.seed)
    a, b = _random_boxes(rng, 6), _random_boxes(rng, 5)
    forward = core.as_array(core.call_student(iou, a, b), "iou(a, b)")
    backward = core.as_array(core.call_student(iou, b, a), "iou(b, a)")
    core.assert_shape(backward, forward.shape[::-1], "iou(b, a)")
    core.assert_close(backward, forward.T, "iou(b, a) against iou(a, b).T (IoU is symmetric)", TIGHT)
    if forward.min() < 0 or forward.max() > 1:
        raise core.CheckFailure(f"iou: values must lie in [0, 1], got {forward.min():.4g} to {forward.max():.4g}.")
    shift, scale = rng.uniform(-20, 20, 2), 3.5
    moved = core.as_array(core.call_student(iou, (a + np.tile(shift, 2)) * scale,
                                            (b + np.tile(shift, 2)) * scale), "iou(moved a, moved b)")
    core.assert_close(moved, forward, "iou after shifting and scaling both sets of boxes together "
                      "(IoU is a ratio of areas: it must not change)", TIGHT)
    same = core.as_array(core.call_student(iou, a, a), "iou(a, a)")
    core.assert_close(np.diag(same), np.ones(len(a)), "the diagonal of iou(a, a) (a box with itself)", TIGHT)


@dataclass(frozen=True)
class VectorisedCase:
    label: str = "vectorised: the lines of your code run do not grow with the number of boxes"

    def __repr__(self) -> str:
        return self.label


def check_iou_vectorised(iou, case: VectorisedCase) -> None:
    counts = []
    for n in (4, 16):
        a, b = _random_boxes(core.rng(n), n), _random_boxes(core.rng(n + 1), n)
        _, lines = core.count_lines_run(iou, a, b)
        counts.append(lines)
    if counts[1] - counts[0] >= 16:
        raise core.CheckFailure(
            f"iou ran {counts[0]} lines of your code for 4 x 4 boxes and {counts[1]} for 16 x 16: it "
            "loops over the pairs in Python. Broadcast instead: boxes_a[:, None, :] against "
            "boxes_b[None, :, :] gives every pair at once.")


def _iou_bad_cases() -> list[BadCase]:
    good = np.array([[0.0, 0.0, 4.0, 4.0]])
    return [
        BadCase("a box with x2 < x1", lambda: ((np.array([[5.0, 0.0, 2.0, 4.0]]), good), {}),
                "boxes need x1 <= x2"),
        BadCase("a box with y2 < y1 in boxes_b", lambda: ((good, np.array([[0.0, 5.0, 4.0, 2.0]])), {}),
                "boxes need y1 <= y2"),
        BadCase("boxes with 3 numbers, shape (2, 3)", lambda: ((np.zeros((2, 3)), good), {}),
                "boxes must have shape (n, 4)"),
        BadCase("boxes of shape (2, 2, 4)", lambda: ((good, np.zeros((2, 2, 4))), {}),
                "boxes must have shape (n, 4)"),
    ]


def _iou_groups() -> list[CaseGroup]:
    return [
        CaseGroup("random boxes, n x m pairs",
                  [IoUCase("random", n, m, seed) for seed, (n, m) in enumerate([(5, 7), (1, 1), (12, 3)])]),
        CaseGroup("disjoint boxes (apart along x, along y, along both) and touching boxes: IoU 0",
                  [IoUCase("disjoint", fixed=(((0, 0, 4, 4),), ((6, 0, 9, 4), (0, 6, 4, 9), (6, 7, 9, 10)))),
                   IoUCase("touching", fixed=(((0, 0, 4, 4),), ((4, 0, 8, 4), (0, 4, 4, 8), (4, 4, 6, 6))))]),
        CaseGroup("identical, nested and partly overlapping boxes",
                  [IoUCase("fixed", fixed=(((0, 0, 10, 10), (2, 2, 4, 8)),
                                           ((0, 0, 10, 10), (2, 3, 4, 5), (5, 0, 15, 10), (0, 5, 10, 20))))]),
        CaseGroup("zero-area boxes (a point, a line): IoU 0, never NaN; an empty set of boxes",
                  [IoUCase("zero area", fixed=(((3, 3, 3, 3), (0, 2, 6, 2)), ((0, 0, 6, 6), (3, 3, 3, 3)))),
                   IoUCase("empty set", fixed=((), ((0, 0, 1, 1),)))]),
        CaseGroup("invariants: symmetric, in [0, 1], 1 on the diagonal, unchanged by moving both boxes",
                  [IoUInvariantCase("invariants", 40), IoUInvariantCase("invariants", 41)]),
        CaseGroup("vectorised", [VectorisedCase()]),
        CaseGroup("bad input raises ValueError", _iou_bad_cases()),
    ]


def _check_iou(iou, case) -> None:
    if isinstance(case, IoUCase):
        check_iou_case(iou, case)
    elif isinstance(case, IoUInvariantCase):
        check_iou_invariants(iou, case)
    else:
        check_iou_vectorised(iou, case)


@core.quiet
def public_iou(iou) -> None:
    a, b = np.array([[0.0, 0.0, 4.0, 4.0]]), np.array([[2.0, 2.0, 6.0, 6.0]])
    core.check_numpy_only(iou, a, b)
    got = core.as_array(core.call_student(iou, a, b), "iou([[0, 0, 4, 4]], [[2, 2, 6, 6]])")
    # overlap 2 x 2 = 4, union 16 + 16 - 4 = 28
    core.assert_shape(got, (1, 1), "iou of one box against one box", "One IoU per pair: (1, 1).")
    core.assert_close_or_hint(got, np.array([[4.0 / 28.0]]), "iou([[0, 0, 4, 4]], [[2, 2, 6, 6]]) = 4 / 28",
                              TIGHT, lambda: _iou_variants(a, b))
    core.public_case(check_iou_case, iou, IoUCase("disjoint", fixed=(((0, 0, 4, 4),), ((6, 6, 9, 9),))))
    core.public_case(check_iou_case, iou, IoUCase("random", 3, 4, 1))
    print("iou: public checks pass (hidden checks: touching and zero-area boxes, invariants, "
          "vectorised, bad input).")


@core.quiet
def hidden_iou(iou, points: float = 1.0) -> float:
    core.check_numpy_only(iou, np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([[1.0, 1.0, 3.0, 3.0]]))
    return core.score_function("iou", iou, _iou_groups(), _check_iou, points)


# =============================================================== 2. non_max_suppression
@dataclass(frozen=True)
class NMSCase:
    label: str
    n: int = 0
    threshold: float = 0.5
    max_output: int = 100
    seed: int = 0
    fixed: tuple = ()  # (boxes, scores)
    tied: bool = False  # scores rounded to one decimal: many ties

    def arrays(self):
        if self.fixed:
            return np.array(self.fixed[0], FLOAT64).reshape(-1, 4), np.array(self.fixed[1], FLOAT64)
        rng = core.rng(self.seed)
        boxes = np.round(_random_boxes(rng, self.n, extent=40.0, largest=25.0))
        scores = rng.random(self.n)
        return boxes, (np.round(scores, 1) if self.tied else scores)

    def __repr__(self) -> str:
        what = f"boxes={[list(b) for b in self.fixed[0]]}, scores={list(self.fixed[1])}" if self.fixed \
            else f"{self.n} random boxes (seed {self.seed}{', tied scores' if self.tied else ''})"
        return f"{self.label}: {what}, iou_threshold={self.threshold}, max_output={self.max_output}"


def _nms_variants(boxes, scores, threshold, max_output) -> dict:
    overlaps = GRADER_IOU(boxes, boxes)

    def greedy(order, keep_rule, limit=max_output):
        kept = []
        for index in order:
            if len(kept) == limit:
                break
            if all(keep_rule(overlaps[index, other]) for other in kept):
                kept.append(index)
        return np.array(kept, np.int64)

    stable = np.argsort(-scores, kind="stable")
    by_last = len(scores) - 1 - np.argsort(-scores[::-1], kind="stable")
    keep = greedy(stable, lambda v: v <= threshold)
    return {
        "A box whose IoU with a kept box equals the threshold is kept: suppress only when IoU > "
        "iou_threshold (tf.image.non_max_suppression's rule).": greedy(stable, lambda v: v < threshold),
        "Visit the boxes by decreasing score (np.argsort(-scores, kind='stable')), not in input order.":
            greedy(np.arange(len(scores)), lambda v: v <= threshold),
        "Ties in score: the box with the lower index comes first (a stable sort of -scores).":
            greedy(by_last, lambda v: v <= threshold),
        "Return at most max_output indices.": greedy(stable, lambda v: v <= threshold, limit=len(scores)),
        "Return the kept indices in the order they were kept (decreasing score), not sorted by index.":
            np.sort(keep),
    }


def check_nms_case(non_max_suppression, case: NMSCase) -> None:
    boxes, scores = case.arrays()
    name = "non_max_suppression(boxes, scores, iou_threshold, max_output)"
    with core.global_replaced(non_max_suppression, "iou", GRADER_IOU):
        got = core.as_array(core.call_student(non_max_suppression, boxes.copy(), scores.copy(),
                                              case.threshold, case.max_output), name)
    expected = reference.non_max_suppression(boxes, scores, case.threshold, case.max_output)
    if got.ndim != 1:
        raise core.CheckFailure(f"{name}: expected a 1-D array of indices, got shape {got.shape}.")
    if got.size and not np.all(np.equal(np.mod(got, 1), 0)):
        raise core.CheckFailure(f"{name}: expected integer indices into boxes, got {got[:5]}.")
    if not np.array_equal(got.astype(np.int64), expected):
        variants = _nms_variants(boxes, scores, case.threshold, case.max_output)
        hint = next((h for h, v in variants.items() if np.array_equal(got.astype(np.int64), v)), "")
        raise core.CheckFailure(f"{name}: expected the indices {expected.tolist()}, got "
                                f"{got.astype(np.int64).tolist()}." + (f"\n{hint}" if hint else ""))


@dataclass(frozen=True)
class NMSInvariantCase:
    label: str
    seed: int = 0
    threshold: float = 0.4

    def __repr__(self) -> str:
        return f"{self.label} (seed {self.seed}, iou_threshold={self.threshold})"


def check_nms_invariants(non_max_suppression, case: NMSInvariantCase) -> None:
    boxes, scores = NMSCase("", 40, seed=case.seed).arrays()
    name = "non_max_suppression(40 random boxes)"
    with core.global_replaced(non_max_suppression, "iou", GRADER_IOU):
        kept = core.as_array(core.call_student(non_max_suppression, boxes, scores, case.threshold, 100),
                             name).astype(np.int64)
    if len(set(kept.tolist())) != len(kept):
        raise core.CheckFailure(f"{name}: an index is kept twice: {kept.tolist()}.")
    overlaps = GRADER_IOU(boxes[kept], boxes[kept])
    np.fill_diagonal(overlaps, 0.0)
    if (overlaps > case.threshold).any():
        raise core.CheckFailure(f"{name}: two kept boxes overlap with IoU {overlaps.max():.3f} > "
                                f"{case.threshold}: one of them should have been suppressed.")
    if (np.diff(scores[kept]) > 0).any():
        raise core.CheckFailure(f"{name}: the kept boxes must come by decreasing score.")


def _nms_bad_cases() -> list[BadCase]:
    boxes, scores = NMSCase("bad", 5, seed=3).arrays()
    return [
        BadCase("5 boxes, 4 scores", lambda: ((boxes, scores[:4], 0.5, 10), {}),
                "one score per box"),
        BadCase("boxes of shape (5, 3)", lambda: ((boxes[:, :3], scores, 0.5, 10), {}),
                "boxes must have shape (n, 4)"),
        BadCase("iou_threshold=1.5", lambda: ((boxes, scores, 1.5, 10), {}), "iou_threshold must be in [0, 1]"),
        BadCase("iou_threshold=-0.1", lambda: ((boxes, scores, -0.1, 10), {}), "iou_threshold must be in [0, 1]"),
        BadCase("max_output=-1", lambda: ((boxes, scores, 0.5, -1), {}), "max_output must be >= 0"),
    ]


_AT_THRESHOLD = (((0, 0, 10, 10), (0, 0, 10, 5), (20, 20, 30, 30)), (0.9, 0.8, 0.7))  # IoU 50 / 100


def _nms_groups() -> list[CaseGroup]:
    return [
        CaseGroup("random boxes, thresholds 0.3, 0.5, 0.7",
                  [NMSCase("random", 30, t, seed=seed) for seed, t in enumerate((0.3, 0.5, 0.7))]),
        CaseGroup("max_output smaller than the number kept, and 0",
                  [NMSCase("limited", 30, 0.5, 3, seed=10), NMSCase("none asked", 10, 0.5, 0, seed=11)]),
        CaseGroup("IoU exactly at the threshold: kept (suppress only above)",
                  [NMSCase("at threshold", threshold=0.5, fixed=_AT_THRESHOLD),
                   NMSCase("just below", threshold=0.49, fixed=_AT_THRESHOLD)]),
        CaseGroup("ties in score: the lower index first",
                  [NMSCase("tie", threshold=0.5, fixed=(((0, 0, 10, 10), (0, 0, 10, 10), (30, 30, 40, 40)),
                                                        (0.5, 0.5, 0.5))),
                   NMSCase("ties", 30, 0.5, seed=20, tied=True)]),
        CaseGroup("threshold 0 (touching boxes are kept) and 1 (identical boxes are kept)",
                  [NMSCase("threshold 0", threshold=0.0,
                           fixed=(((0, 0, 4, 4), (4, 0, 8, 4), (1, 1, 5, 5)), (0.3, 0.2, 0.9))),
                   NMSCase("threshold 1", threshold=1.0, fixed=(((0, 0, 4, 4), (0, 0, 4, 4)), (0.3, 0.6)))]),
        CaseGroup("no box, one box, scores in any order",
                  [NMSCase("empty", threshold=0.5, fixed=((), ())),
                   NMSCase("one box", threshold=0.5, fixed=(((1, 2, 3, 4),), (0.1,))),
                   NMSCase("unsorted", threshold=0.5,
                           fixed=(((0, 0, 10, 10), (1, 1, 11, 11), (50, 50, 60, 60)), (0.2, 0.9, 0.5)))]),
        CaseGroup("kept boxes pairwise at most at the threshold, by decreasing score",
                  [NMSInvariantCase("invariants", 30), NMSInvariantCase("invariants", 31, 0.2)]),
        CaseGroup("bad input raises ValueError", _nms_bad_cases()),
    ]


def _check_nms(non_max_suppression, case) -> None:
    if isinstance(case, NMSCase):
        check_nms_case(non_max_suppression, case)
    else:
        check_nms_invariants(non_max_suppression, case)


def _nms_numpy_only(non_max_suppression) -> None:
    boxes, scores = NMSCase("", 6, seed=1).arrays()
    with core.global_replaced(non_max_suppression, "iou", GRADER_IOU):
        core.check_numpy_only(non_max_suppression, boxes, scores, 0.5, 10)


@core.quiet
def public_non_max_suppression(non_max_suppression) -> None:
    _nms_numpy_only(non_max_suppression)
    core.public_case(check_nms_case, non_max_suppression,
                     NMSCase("unsorted", threshold=0.5,
                             fixed=(((0, 0, 10, 10), (1, 1, 11, 11), (50, 50, 60, 60)), (0.2, 0.9, 0.5))))
    core.public_case(check_nms_case, non_max_suppression, NMSCase("random", 12, 0.4, seed=2))
    print("non_max_suppression: public checks pass (hidden checks: max_output, IoU at the threshold, "
          "ties, thresholds 0 and 1, empty input, invariants, bad input).")


@core.quiet
def hidden_non_max_suppression(non_max_suppression, points: float = 1.0) -> float:
    _nms_numpy_only(non_max_suppression)
    return core.score_function("non_max_suppression", non_max_suppression, _nms_groups(), _check_nms, points)


# ===================================================================== 3-4. box codes
@dataclass(frozen=True)
class BoxCodeCase:
    label: str
    n: int = 0
    seed: int = 0
    fixed: tuple = ()  # (boxes or deltas, anchors)

    def arrays(self, deltas: bool = False):
        if self.fixed:
            return np.array(self.fixed[0], FLOAT64).reshape(-1, 4), np.array(self.fixed[1], FLOAT64).reshape(-1, 4)
        rng = core.rng(self.seed)
        anchors = _random_boxes(rng, self.n, largest=20.0)
        first = rng.normal(0.0, 0.5, (self.n, 4)) if deltas else _random_boxes(rng, self.n, largest=20.0)
        return first, anchors

    def __repr__(self) -> str:
        if self.fixed:
            return f"{self.label}: {[list(v) for v in self.fixed[0]]} with anchors {[list(v) for v in self.fixed[1]]}"
        return f"{self.label}: {self.n} random pairs (seed {self.seed})"


def _wh(boxes):
    return boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]


def _encode_variants(boxes, anchors) -> dict:
    right = reference.encode_boxes_float64(boxes, anchors).numpy()
    bw, bh = _wh(boxes)
    aw, ah = _wh(anchors)
    return {
        "Keep our order [tx, ty, tw, th]: x first (TensorFlow's boxes put y first, ours do not).":
            right[:, [1, 0, 3, 2]],
        "Divide the offset of the centres by the anchor's width and height, not the box's.":
            np.stack([right[:, 0] * aw / bw, right[:, 1] * ah / bh, right[:, 2], right[:, 3]], 1),
        "The size terms are logarithms: tw = log(w / wa), th = log(h / ha).":
            np.stack([right[:, 0], right[:, 1], bw / aw, bh / ah], 1),
        "Offsets are between the centres, not between the top-left corners.":
            np.stack([(boxes[:, 0] - anchors[:, 0]) / aw, (boxes[:, 1] - anchors[:, 1]) / ah,
                      right[:, 2], right[:, 3]], 1),
    }


def check_encode_case(encode_boxes, case: BoxCodeCase) -> None:
    boxes, anchors = case.arrays()
    name = "encode_boxes(boxes, anchors)"
    got = core.as_array(core.call_student(encode_boxes, boxes.copy(), anchors.copy()), name)
    expected = core.run_reference(reference.encode_boxes_float64, boxes, anchors)
    core.assert_shape(got, expected.shape, name, "One [tx, ty, tw, th] per box: (n, 4).")
    core.assert_close_or_hint(got, expected, name, TIGHT, lambda: _encode_variants(boxes, anchors))


def _decode_variants(deltas, anchors) -> dict:
    right = reference.decode_boxes_float64(deltas, anchors).numpy()
    aw, ah = _wh(anchors)
    cx, cy = anchors[:, 0] + aw / 2 + deltas[:, 0] * aw, anchors[:, 1] + ah / 2 + deltas[:, 1] * ah
    w, h = aw * (1 + deltas[:, 2]), ah * (1 + deltas[:, 3])
    swapped = reference.decode_boxes_float64(deltas[:, [1, 0, 3, 2]], anchors).numpy()
    return {
        "tw and th are logarithms: w = wa * exp(tw), h = ha * exp(th).":
            np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1),
        "Keep our order [tx, ty, tw, th]: x first.": swapped,
        "Return corners [x1, y1, x2, y2], not [cx, cy, w, h].":
            np.stack([(right[:, 0] + right[:, 2]) / 2, (right[:, 1] + right[:, 3]) / 2,
                      right[:, 2] - right[:, 0], right[:, 3] - right[:, 1]], 1),
    }


def check_decode_case(decode_boxes, case: BoxCodeCase) -> None:
    deltas, anchors = case.arrays(deltas=True)
    name = "decode_boxes(deltas, anchors)"
    got = core.as_array(core.call_student(decode_boxes, deltas.copy(), anchors.copy()), name)
    expected = core.run_reference(reference.decode_boxes_float64, deltas, anchors)
    core.assert_shape(got, expected.shape, name, "One box [x1, y1, x2, y2] per row: (n, 4).")
    core.assert_close_or_hint(got, expected, name, TIGHT, lambda: _decode_variants(deltas, anchors))


@dataclass(frozen=True)
class RoundTripCase:
    label: str
    seed: int = 0

    def __repr__(self) -> str:
        return f"{self.label} (seed {self.seed})"


def check_round_trip(decode_boxes, case: RoundTripCase) -> None:
    boxes, anchors = BoxCodeCase("", 8, case.seed).arrays()
    deltas = reference.encode_boxes_float64(boxes, anchors).numpy()
    got = core.as_array(core.call_student(decode_boxes, deltas, anchors), "decode_boxes(encode(boxes), anchors)")
    core.assert_close(got, boxes, "decode_boxes(encode_boxes(boxes, anchors), anchors): the boxes back", TIGHT)


def _code_bad_cases(deltas: bool) -> list[BadCase]:
    first, anchors = BoxCodeCase("bad", 3, 5).arrays(deltas=deltas)
    flat = anchors.copy()
    flat[1, 2] = flat[1, 0]
    cases = [
        BadCase("3 rows, 2 anchors", lambda: ((first, anchors[:2]), {}), "one anchor per row"),
        BadCase("rows of 3 numbers", lambda: ((first[:, :3], anchors[:, :3]), {}), "shape (n, 4)"),
        BadCase("an anchor of width 0", lambda: ((first, flat), {}), "anchors need a positive size"),
    ]
    if not deltas:
        box_flat = first.copy()
        box_flat[0, 3] = box_flat[0, 1]
        cases.append(BadCase("a box of height 0", lambda: ((box_flat, anchors), {}),
                             "log(h / ha) needs h > 0"))
    return cases


_SQUARE = (0.0, 0.0, 10.0, 10.0)
_WIDE = (10.0, 20.0, 50.0, 30.0)  # 40 wide, 10 high


def _encode_groups() -> list[CaseGroup]:
    return [
        CaseGroup("random boxes and anchors", [BoxCodeCase("random", n, s) for s, n in enumerate((6, 1, 15))]),
        CaseGroup("a box equal to its anchor: [0, 0, 0, 0]", [BoxCodeCase("same", fixed=((_WIDE,), (_WIDE,)))]),
        CaseGroup("moved along x only, then along y only (tx, then ty)",
                  [BoxCodeCase("x only", fixed=(((4.0, 0.0, 14.0, 10.0),), (_SQUARE,))),
                   BoxCodeCase("y only", fixed=(((0.0, 5.0, 10.0, 15.0),), (_SQUARE,)))]),
        CaseGroup("a wide anchor (wa != ha) and a box twice as wide",
                  [BoxCodeCase("wide", fixed=(((0.0, 15.0, 80.0, 35.0), (20.0, 20.0, 30.0, 40.0)), (_WIDE, _WIDE)))]),
        CaseGroup("bad input raises ValueError", _code_bad_cases(deltas=False)),
    ]


def _decode_groups() -> list[CaseGroup]:
    return [
        CaseGroup("random offsets and anchors", [BoxCodeCase("random", n, 10 + s) for s, n in enumerate((6, 1, 15))]),
        CaseGroup("zero offsets give the anchor back", [BoxCodeCase("zero", fixed=(((0.0,) * 4,), (_WIDE,)))]),
        CaseGroup("tx only, then ty only, then tw and th",
                  [BoxCodeCase("tx", fixed=(((0.5, 0.0, 0.0, 0.0),), (_WIDE,))),
                   BoxCodeCase("ty", fixed=(((0.0, 0.5, 0.0, 0.0),), (_WIDE,))),
                   BoxCodeCase("tw, th", fixed=(((0.0, 0.0, np.log(2.0), -np.log(2.0)),), (_WIDE,)))]),
        CaseGroup("round trip: decode(encode(boxes)) == boxes", [RoundTripCase("round trip", 20)]),
        CaseGroup("bad input raises ValueError", _code_bad_cases(deltas=True)),
    ]


def _check_decode(decode_boxes, case) -> None:
    if isinstance(case, RoundTripCase):
        check_round_trip(decode_boxes, case)
    else:
        check_decode_case(decode_boxes, case)


@core.quiet
def public_encode_boxes(encode_boxes) -> None:
    boxes, anchors = np.array([[2.0, 1.0, 12.0, 21.0]]), np.array([_SQUARE])
    core.check_numpy_only(encode_boxes, boxes, anchors)
    # centres (7, 11) and (5, 5), sizes 10 x 20 and 10 x 10
    got = core.as_array(core.call_student(encode_boxes, boxes, anchors), "encode_boxes")
    core.assert_shape(got, (1, 4), "encode_boxes(one box, one anchor)")
    core.assert_close_or_hint(got, np.array([[0.2, 0.6, 0.0, np.log(2.0)]]),
                              "encode_boxes([[2, 1, 12, 21]], [[0, 0, 10, 10]])", TIGHT,
                              lambda: _encode_variants(boxes, anchors))
    core.public_case(check_encode_case, encode_boxes, BoxCodeCase("random", 4, 1))
    print("encode_boxes: public checks pass (hidden checks: x and y separately, wide anchors, bad input).")


@core.quiet
def hidden_encode_boxes(encode_boxes, points: float = 1.0) -> float:
    core.check_numpy_only(encode_boxes, *BoxCodeCase("", 2, 1).arrays())
    return core.score_function("encode_boxes", encode_boxes, _encode_groups(), check_encode_case, points)


@core.quiet
def public_decode_boxes(decode_boxes) -> None:
    deltas, anchors = np.array([[0.2, 0.6, 0.0, np.log(2.0)]]), np.array([_SQUARE])
    core.check_numpy_only(decode_boxes, deltas, anchors)
    got = core.as_array(core.call_student(decode_boxes, deltas, anchors), "decode_boxes")
    core.assert_shape(got, (1, 4), "decode_boxes(one offset, one anchor)")
    core.assert_close_or_hint(got, np.array([[2.0, 1.0, 12.0, 21.0]]),
                              "decode_boxes([[0.2, 0.6, 0, log 2]], [[0, 0, 10, 10]])", TIGHT,
                              lambda: _decode_variants(deltas, anchors))
    core.public_case(check_decode_case, decode_boxes, BoxCodeCase("random", 4, 2))
    print("decode_boxes: public checks pass (hidden checks: each offset alone, round trip, bad input).")


@core.quiet
def hidden_decode_boxes(decode_boxes, points: float = 1.0) -> float:
    core.check_numpy_only(decode_boxes, *BoxCodeCase("", 2, 1).arrays(deltas=True))
    return core.score_function("decode_boxes", decode_boxes, _decode_groups(), _check_decode, points)


# ========================================================================= losses (5-6)
def _gradient(function, arrays, wrt: int, **kwargs):
    """d function(*arrays) / d arrays[wrt] with tf.GradientTape (where the function runs), or
    None when nothing flows."""
    return core.gradient_of(function, arrays, wrt, **kwargs)[1]


def _assert_gradient(got, expected, name: str) -> None:
    if got is None:
        raise core.CheckFailure(f"{name}: no gradient flows to y_pred. Compute the loss with "
                                "TensorFlow ops (tf.*, keras.ops.*) on tensors, not with numpy, so "
                                "that a model can be trained with it.")
    core.assert_close(got, expected, name, _tol32())


# ====================================================================== 5. smooth_l1
@dataclass(frozen=True)
class SmoothCase:
    label: str
    shape: tuple = (4, 5)
    seed: int = 0
    spread: float = 2.0
    fixed: tuple = ()  # errors y_pred - y_true
    integer_truth: bool = False
    gradient: bool = False

    def arrays(self):
        rng = core.rng(self.seed)
        if self.fixed:
            error = np.array(self.fixed, FLOAT32)
            truth = np.zeros_like(error)
        else:
            truth = rng.normal(0.0, 1.0, self.shape).astype(FLOAT32)
            error = rng.normal(0.0, self.spread, self.shape).astype(FLOAT32)
        if self.integer_truth:
            truth = np.round(truth).astype(np.int32)
        return truth, (truth + error).astype(FLOAT32)

    def __repr__(self) -> str:
        what = f"errors {list(self.fixed)}" if self.fixed else f"shape {self.shape}, errors ~ N(0, {self.spread})"
        extra = ", integer y_true" if self.integer_truth else ""
        return f"{self.label}: {what}{extra}{', gradient' if self.gradient else ''}"


def _smooth_variants(truth, pred) -> dict:
    error = np.abs(pred.astype(np.float64) - truth)
    huber = np.where(error < 1, 0.5 * error**2, error - 0.5)
    return {
        "Below 1 the loss is quadratic: 0.5 d^2, not |d|.": np.float64(error.mean()),
        "Above 1 the loss is linear: |d| - 0.5 (the 0.5 joins the two pieces).":
            np.float64(np.where(error < 1, 0.5 * error**2, 0.5 * error).mean()),
        "The loss is quadratic only for |d| < 1, not for all errors.": np.float64((0.5 * error**2).mean()),
        "Average over all elements (like keras.losses.Huber), do not sum.": np.float64(huber.sum()),
        "The kink is at |d| = 1 (delta 1): 0.5 d^2 below 1, |d| - 0.5 above.":
            np.float64(np.where(error < 0.5, 0.5 * error**2, error - 0.125).mean()),
    }


def check_smooth_case(smooth_l1, case: SmoothCase) -> None:
    truth, pred = case.arrays()
    name = "smooth_l1(y_true, y_pred)"
    expected = core.run_reference(reference.smooth_l1, truth, pred)
    if case.gradient:
        got = _gradient(smooth_l1, [truth, pred], wrt=1)
        _assert_gradient(got, _gradient(reference.smooth_l1, [truth, pred], wrt=1), f"d {name} / d y_pred")
        return
    got = core.as_scalar(core.call_student(smooth_l1, truth.copy(), pred.copy()), name)
    core.assert_close_or_hint(got, expected, name, _tol32(), lambda: _smooth_variants(truth, pred))


def _smooth_groups() -> list[CaseGroup]:
    ones = SmoothCase("bad", (2, 3)).arrays()
    return [
        CaseGroup("random errors on both sides of 1", [SmoothCase("random", shape, seed)
                                                       for seed, shape in enumerate([(4, 5), (2, 3, 4), (7,)])]),
        CaseGroup("small errors only (|d| < 1): 0.5 d^2", [SmoothCase("small", (5, 4), 10, 0.2)]),
        CaseGroup("large errors only (|d| > 1): |d| - 0.5",
                  [SmoothCase("large", fixed=(3.0, -2.5, 10.0, -1.5)), SmoothCase("large", fixed=(4.0,))]),
        CaseGroup("d = 0, d = +-1 (the kink), d = +-0.5", [SmoothCase("kink", fixed=(0.0, 1.0, -1.0, 0.5, -0.5))]),
        CaseGroup("integer y_true", [SmoothCase("integer truth", (3, 4), 20, integer_truth=True)]),
        CaseGroup("gradient with respect to y_pred (a TensorFlow loss)",
                  [SmoothCase("gradient", (4, 5), 30, gradient=True),
                   SmoothCase("gradient", fixed=(0.0, 0.3, -0.7, 2.0, -4.0), gradient=True)]),
        CaseGroup("bad input raises ValueError",
                  [BadCase("y_true (2, 3), y_pred (3, 2)", lambda: ((ones[0], ones[1].reshape(3, 2)), {}),
                           "y_true and y_pred must have the same shape")]),
    ]


@core.quiet
def public_smooth_l1(smooth_l1) -> None:
    truth, pred = np.zeros(4, FLOAT32), np.array([0.5, -0.5, 2.0, -3.0], FLOAT32)
    # 0.125 + 0.125 + 1.5 + 2.5 = 4.25, mean 1.0625
    got = core.as_scalar(core.call_student(smooth_l1, truth, pred), "smooth_l1")
    core.assert_close_or_hint(got, np.float64(1.0625), "smooth_l1(0, [0.5, -0.5, 2, -3]) = mean(0.125, 0.125, "
                              "1.5, 2.5)", _tol32(), lambda: _smooth_variants(truth, pred))
    core.public_case(check_smooth_case, smooth_l1, SmoothCase("random", (3, 4), 1))
    print("smooth_l1: public checks pass (hidden checks: each branch, the kink, gradients, bad input).")


@core.quiet
def hidden_smooth_l1(smooth_l1, points: float = 1.0) -> float:
    return core.score_function("smooth_l1", smooth_l1, _smooth_groups(), check_smooth_case, points)


# ====================================================================== 6. dice_loss
@dataclass(frozen=True)
class DiceCase:
    label: str
    shape: tuple = (3, 8, 8)
    seed: int = 0
    smooth: float = 1.0
    empty: str = ""  # "both": empty truth and prediction for sample 0; "truth": empty truth only
    mixed_sizes: bool = False  # one large and one small object: per-sample differs from global
    perfect: bool = False
    gradient: bool = False

    def arrays(self):
        rng = core.rng(self.seed)
        truth = (rng.random(self.shape) < 0.4).astype(FLOAT32)
        pred = rng.random(self.shape).astype(FLOAT32)
        if self.perfect:
            pred = truth.copy()
        if self.mixed_sizes:
            truth[:] = 0.0
            truth[0, 1:7, 1:7] = 1.0
            truth[1, 2, 2] = 1.0
            pred = (0.9 * truth + 0.05 * rng.random(self.shape)).astype(FLOAT32)
            pred[1] = np.roll(pred[1], 1, axis=0)
        if self.empty:
            truth[0] = 0.0
            if self.empty == "both":
                pred[0] = 0.0
        return truth, pred

    def __repr__(self) -> str:
        extra = {"both": ", sample 0 empty in truth and prediction", "truth": ", sample 0 empty in truth"}
        text = f"{self.label}: shape {self.shape}, smooth={self.smooth}{extra.get(self.empty, '')}"
        return text + (", gradient" if self.gradient else "")


def _dice_variants(truth, pred, smooth) -> dict:
    t, p = truth.astype(np.float64), pred.astype(np.float64)
    axes = tuple(range(1, t.ndim))
    inter, total = (t * p).sum(axes), t.sum(axes) + p.sum(axes)
    with np.errstate(all="ignore"):
        return {
            "Add the smoothing term to the numerator and the denominator: (2 I + s) / (T + P + s).":
                np.float64(np.mean(1 - 2 * inter / (total + smooth))),
            "Compute the Dice of each sample (sum over all axes but the batch), then average.":
                np.float64(1 - (2 * inter.sum() + smooth) / (total.sum() + smooth)),
            "Dice counts the intersection twice: 2 I in the numerator.":
                np.float64(np.mean(1 - (inter + smooth) / (total + smooth))),
            "Dice is 2 I / (T + P); I / (T + P - I) is the IoU (Jaccard).":
                np.float64(np.mean(1 - (inter + smooth) / (total - inter + smooth))),
            "The denominator is sum(t) + sum(p), not of their squares.":
                np.float64(np.mean(1 - (2 * inter + smooth) / ((t**2).sum(axes) + (p**2).sum(axes) + smooth))),
        }


def check_dice_case(dice_loss, case: DiceCase) -> None:
    truth, pred = case.arrays()
    name = f"dice_loss(y_true, y_pred, smooth={case.smooth})"
    if case.gradient:
        got = _gradient(dice_loss, [truth, pred], wrt=1, smooth=case.smooth)
        expected = _gradient(lambda t, p: reference.dice_loss(t, p, case.smooth), [truth, pred], wrt=1)
        _assert_gradient(got, expected, f"d {name} / d y_pred")
        return
    got = core.as_scalar(core.call_student(dice_loss, truth.copy(), pred.copy(), case.smooth), name)
    if not np.isfinite(got):
        raise core.CheckFailure(f"{name}: got {got}. An empty mask predicted empty has 0 / 0 without "
                                "the smoothing term: add smooth to the numerator and the denominator.")
    expected = core.run_reference(reference.dice_loss, truth, pred, case.smooth)
    core.assert_close_or_hint(got, expected, name, _tol32(), lambda: _dice_variants(truth, pred, case.smooth))


def _dice_groups() -> list[CaseGroup]:
    truth, pred = DiceCase("bad").arrays()
    return [
        CaseGroup("random masks and probabilities, (batch, H, W) and (batch, H, W, C)",
                  [DiceCase("random", shape, seed) for seed, shape in enumerate([(3, 8, 8), (2, 5, 6, 3), (1, 4, 4)])]),
        CaseGroup("a perfect prediction: loss 0 with smooth 0",
                  [DiceCase("perfect", (2, 6, 6), 10, smooth=0.0, perfect=True)]),
        CaseGroup("an empty mask predicted empty: loss 0, not NaN",
                  [DiceCase("empty", (3, 6, 6), 20, empty="both"), DiceCase("empty truth", (2, 5, 5), 21, empty="truth")]),
        CaseGroup("smooth = 0 (Keras' Dice), 1e-5 and 10",
                  [DiceCase("smooth", (2, 6, 6), 30, smooth=s) for s in (0.0, 1e-5, 10.0)]),
        CaseGroup("a large and a small object: per-sample Dice, averaged over the batch",
                  [DiceCase("sizes", (2, 8, 8), 40, mixed_sizes=True)]),
        CaseGroup("gradient with respect to y_pred (a TensorFlow loss)",
                  [DiceCase("gradient", (2, 6, 6), 50, gradient=True)]),
        CaseGroup("bad input raises ValueError",
                  [BadCase("y_true (3, 8, 8), y_pred (3, 8, 7)", lambda: ((truth, pred[..., :7]), {}),
                           "y_true and y_pred must have the same shape")]),
    ]


@core.quiet
def public_dice_loss(dice_loss) -> None:
    truth = np.array([[1.0, 1.0, 0.0, 0.0]], FLOAT32)
    pred = np.array([[1.0, 0.5, 0.5, 0.0]], FLOAT32)
    # I = 1.5, T + P = 2 + 2 = 4: 1 - (3 + 1) / (4 + 1) = 0.2
    got = core.as_scalar(core.call_student(dice_loss, truth, pred, 1.0), "dice_loss")
    core.assert_close_or_hint(got, np.float64(0.2), "dice_loss([[1, 1, 0, 0]], [[1, .5, .5, 0]], smooth=1) "
                              "= 1 - (2 * 1.5 + 1) / (4 + 1)", _tol32(), lambda: _dice_variants(truth, pred, 1.0))
    core.public_case(check_dice_case, dice_loss, DiceCase("empty", (2, 4, 4), 1, empty="both"))
    print("dice_loss: public checks pass (hidden checks: batches, channels, smooth 0 and 10, per-sample "
          "average, gradients, bad input).")


@core.quiet
def hidden_dice_loss(dice_loss, points: float = 1.0) -> float:
    return core.score_function("dice_loss", dice_loss, _dice_groups(), check_dice_case, points)


# ======================================================================= 7. mean_iou
@dataclass(frozen=True)
class MeanIoUCase:
    label: str
    shape: tuple = (2, 8, 8)
    n_classes: int = 4
    seed: int = 0
    fixed: tuple = ()  # (y_true, y_pred)
    correct: float = 0.6  # share of pixels predicted right

    def arrays(self):
        if self.fixed:
            return np.array(self.fixed[0], np.int64), np.array(self.fixed[1], np.int64)
        rng = core.rng(self.seed)
        truth = rng.integers(0, self.n_classes, self.shape)
        noise = rng.integers(0, self.n_classes, self.shape)
        return truth, np.where(rng.random(self.shape) < self.correct, truth, noise)

    def __repr__(self) -> str:
        if self.fixed:
            return f"{self.label}: y_true={self.fixed[0]}, y_pred={self.fixed[1]}, n_classes={self.n_classes}"
        return f"{self.label}: class ids of shape {self.shape}, n_classes={self.n_classes} (seed {self.seed})"


def _per_class(truth, pred, n_classes):
    confusion = np.zeros((n_classes, n_classes))
    np.add.at(confusion, (truth.ravel(), pred.ravel()), 1)
    tp = np.diag(confusion)
    return tp, confusion.sum(0) + confusion.sum(1) - tp, confusion


def _mean_iou_variants(truth, pred, n_classes) -> dict:
    tp, union, confusion = _per_class(truth, pred, n_classes)
    present = union > 0
    with np.errstate(all="ignore"):
        per_image = [np.mean((t := _per_class(a, b, n_classes))[0][t[1] > 0] / t[1][t[1] > 0])
                     for a, b in zip(truth.reshape(len(truth), -1) if truth.ndim > 1 else [truth],
                                     pred.reshape(len(pred), -1) if pred.ndim > 1 else [pred], strict=True)]
        return {
            "Accumulate one confusion matrix over all images, then take the mean: do not average "
            "per-image scores.": np.float64(np.mean(per_image)),
            "A class absent from both truth and prediction has no IoU: leave it out of the mean "
            "(do not count it as 0).": np.float64(np.sum(tp[present] / union[present]) / n_classes),
            "A class absent from both truth and prediction is left out, not counted as 1.":
                np.float64(np.mean(np.where(present, tp / np.where(present, union, 1), 1.0))),
            "Mean IoU is not pixel accuracy: IoU_c = TP / (TP + FP + FN) for each class.":
                np.float64(tp.sum() / confusion.sum()),
            "Keep the background class (id 0) in the mean.":
                np.float64(np.mean(tp[1:][present[1:]] / union[1:][present[1:]])),
        }


def check_mean_iou_case(mean_iou, case: MeanIoUCase) -> None:
    truth, pred = case.arrays()
    name = f"mean_iou(y_true, y_pred, n_classes={case.n_classes})"
    got = core.as_scalar(core.call_student(mean_iou, truth.copy(), pred.copy(), case.n_classes), name)
    expected = core.run_reference(reference.mean_iou, truth, pred, case.n_classes)
    core.assert_close_or_hint(got, expected, name, TIGHT, lambda: _mean_iou_variants(truth, pred, case.n_classes))


def _mean_iou_bad_cases() -> list[BadCase]:
    truth, pred = MeanIoUCase("bad", (2, 4, 4), 3).arrays()
    probabilities = core.rng(0).dirichlet(np.ones(3), size=(2, 4, 4))
    return [
        BadCase("probabilities (2, 4, 4, 3) for y_pred", lambda: ((truth, probabilities, 3), {}),
                "y_pred must hold class ids (take the argmax first)"),
        BadCase("float class ids", lambda: ((truth, pred.astype(np.float64) + 0.5, 3), {}),
                "class ids must be integers"),
        BadCase("a class id 3 with n_classes=3", lambda: ((truth, np.full_like(pred, 3), 3), {}),
                "class ids must be in [0, n_classes - 1]"),
        BadCase("a negative class id", lambda: ((np.full_like(truth, -1), pred, 3), {}),
                "class ids must be in [0, n_classes - 1]"),
        BadCase("shapes (2, 4, 4) and (2, 4, 3)", lambda: ((truth, pred[..., :3], 3), {}),
                "y_true and y_pred must have the same shape"),
    ]


def _mean_iou_groups() -> list[CaseGroup]:
    return [
        CaseGroup("random maps: one image (H, W), a batch, 2 to 6 classes",
                  [MeanIoUCase("random", shape, n, seed)
                   for seed, (shape, n) in enumerate([((8, 8), 3), ((3, 6, 7), 5), ((2, 5, 5), 2), ((40,), 6)])]),
        CaseGroup("a class absent from truth and prediction is left out",
                  [MeanIoUCase("absent", n_classes=3, fixed=((0, 0, 1, 1), (0, 0, 1, 0))),
                   MeanIoUCase("absent", (2, 6, 6), 6, 10)]),
        CaseGroup("a class only in the prediction, a class only in the truth (IoU 0)",
                  [MeanIoUCase("false positives", n_classes=3, fixed=((0, 0, 0, 1), (0, 2, 0, 1))),
                   MeanIoUCase("missed", n_classes=3, fixed=((0, 2, 2, 1), (0, 0, 0, 1)))]),
        CaseGroup("perfect prediction (1.0) and a single class",
                  [MeanIoUCase("perfect", (2, 5, 5), 4, 20, correct=1.0),
                   MeanIoUCase("one class", n_classes=4, fixed=((2, 2, 2), (2, 2, 2)))]),
        CaseGroup("images with very different content: the confusion matrix is accumulated",
                  [MeanIoUCase("batch", n_classes=3, fixed=(((0, 0, 0, 1), (2, 2, 2, 2)), ((0, 0, 1, 1), (2, 2, 0, 2))))]),
        CaseGroup("bad input raises ValueError", _mean_iou_bad_cases()),
    ]


@core.quiet
def public_mean_iou(mean_iou) -> None:
    truth, pred = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 0])
    core.check_numpy_only(mean_iou, truth, pred, 3)
    # class 0: TP 2, union 3; class 1: TP 1, union 2; class 2 absent: (2/3 + 1/2) / 2
    got = core.as_scalar(core.call_student(mean_iou, truth, pred, 3), "mean_iou")
    core.assert_close_or_hint(got, np.float64((2 / 3 + 1 / 2) / 2), "mean_iou([0, 0, 1, 1], [0, 0, 1, 0], 3) = "
                              "(2/3 + 1/2) / 2 (class 2 is absent)", TIGHT,
                              lambda: _mean_iou_variants(truth, pred, 3))
    core.public_case(check_mean_iou_case, mean_iou, MeanIoUCase("random", (2, 6, 6), 4, 1))
    print("mean_iou: public checks pass (hidden checks: absent classes, false positives, batches, bad input).")


@core.quiet
def hidden_mean_iou(mean_iou, points: float = 1.0) -> float:
    core.check_numpy_only(mean_iou, *MeanIoUCase("", (2, 3), 3).arrays(), 3)
    return core.score_function("mean_iou", mean_iou, _mean_iou_groups(), check_mean_iou_case, points)


# ================================================================= 8. conv_transpose
@dataclass(frozen=True)
class ConvTCase:
    label: str
    x_shape: tuple = (4, 4, 1)
    kernel_shape: tuple = (3, 3, 1, 1)
    stride: int = 1
    padding: str = "valid"
    seed: int = 0

    def arrays(self):
        rng = core.rng(self.seed)
        return rng.normal(size=self.x_shape), rng.normal(size=self.kernel_shape)

    def __repr__(self) -> str:
        return (f"{self.label}: x {self.x_shape}, kernel {self.kernel_shape}, stride={self.stride}, "
                f"padding={self.padding!r}")


def _full_transpose(x, kernel, stride):
    height, width, _ = x.shape
    kh, kw, c_out, _ = kernel.shape
    full = np.zeros(((height - 1) * stride + kh, (width - 1) * stride + kw, c_out))
    for i in range(height):
        for j in range(width):
            full[i * stride:i * stride + kh, j * stride:j * stride + kw] += kernel @ x[i, j]
    return full


def _crop(full, out_h, out_w, top, left):
    out = np.zeros((out_h, out_w, full.shape[2]))
    piece = full[top:top + out_h, left:left + out_w]
    out[:piece.shape[0], :piece.shape[1]] = piece
    return out


def _convt_variants(x, kernel, stride, padding) -> dict:
    kh, kw = kernel.shape[:2]
    full = _full_transpose(x, kernel, stride)
    flipped = _full_transpose(x, kernel[::-1, ::-1], stride)
    variants = {"Do not flip the kernel: each input pixel adds x[i, j] times the kernel, as it is, at "
                "(i * stride, j * stride).": flipped}
    if padding == "same":
        out_h, out_w = x.shape[0] * stride, x.shape[1] * stride
        pad_h, pad_w = max(kh - stride, 0), max(kw - stride, 0)
        variants = {
            "With 'same', crop (k - stride) // 2 rows and columns at the start, the rest at the end "
            "(TensorFlow puts the extra one at the end).":
                _crop(full, out_h, out_w, pad_h - pad_h // 2, pad_w - pad_w // 2),
            "With 'same', crop the full result: (k - stride) // 2 at the start, not everything at the end.":
                _crop(full, out_h, out_w, 0, 0),
            "When the kernel is smaller than the stride, the full result is shorter than H * stride: "
            "pad it with zeros at the end.": full[pad_h // 2:pad_h // 2 + out_h, pad_w // 2:pad_w // 2 + out_w],
            **variants,
            "With 'same' the output is H * stride by W * stride.": full,
            "Flip the kernel, and crop as 'same' does.": _crop(flipped, out_h, out_w, pad_h // 2, pad_w // 2),
        }
    return variants


def check_convt_case(conv_transpose, case: ConvTCase) -> None:
    x, kernel = case.arrays()
    name = f"conv_transpose(x, kernel, stride={case.stride}, padding={case.padding!r})"
    got = core.as_array(core.call_student(conv_transpose, x.copy(), kernel.copy(), case.stride, case.padding), name)
    expected = core.run_reference(reference.conv_transpose, x, kernel, case.stride, case.padding)
    height, width = x.shape[:2]
    kh, kw, c_out = kernel.shape[:3]
    sizes = (f"'valid': ((H - 1) * stride + kh, (W - 1) * stride + kw, C_out) = ({height - 1} * {case.stride} + "
             f"{kh}, {width - 1} * {case.stride} + {kw}, {c_out}); 'same': (H * stride, W * stride, C_out).")
    core.assert_shape(got, expected.shape, name, sizes)
    core.assert_close_or_hint(got, expected, name, _tol64(),
                              lambda: _convt_variants(x, kernel, case.stride, case.padding))


@dataclass(frozen=True)
class AdjointCase:
    label: str
    stride: int
    padding: str
    seed: int = 0

    def __repr__(self) -> str:
        return f"{self.label}: stride={self.stride}, padding={self.padding!r}"


def check_adjoint(conv_transpose, case: AdjointCase) -> None:
    rng = core.rng(case.seed)
    x, kernel = rng.normal(size=(5, 6, 2)), rng.normal(size=(3, 4, 3, 2))
    y = core.as_array(core.call_student(conv_transpose, x, kernel, case.stride, case.padding),
                      "conv_transpose(x, kernel)")
    probe = rng.normal(size=y.shape)
    forward = reference.conv2d(probe, kernel, case.stride, case.padding).numpy()
    if forward.shape != x.shape:
        raise core.CheckFailure(f"conv_transpose: output shape {y.shape} is not the input size of the "
                                f"convolution it transposes (which maps it back to {x.shape}).")
    lhs, rhs = float(np.sum(y * probe)), float(np.sum(x * forward))
    core.assert_close(np.float64(lhs), np.float64(rhs),
                      "<conv_transpose(x), y> against <x, conv2d(y)> (the adjoint identity)", _tol64())


def _convt_bad_cases() -> list[BadCase]:
    x, kernel = ConvTCase("bad", (4, 4, 2), (3, 3, 1, 2)).arrays()
    return [
        BadCase("kernel for 3 input channels, x with 2", lambda: ((x, kernel[..., :1].repeat(3, -1), 1, "valid"), {}),
                "kernel's last axis must equal x's channels"),
        BadCase("padding='full'", lambda: ((x, kernel, 1, "full"), {}), "padding must be 'valid' or 'same'"),
        BadCase("stride=0", lambda: ((x, kernel, 0, "valid"), {}), "stride must be >= 1"),
        BadCase("x of shape (4, 4), no channel axis", lambda: ((x[..., 0], kernel, 1, "valid"), {}),
                "x must be (H, W, C_in)"),
    ]


def _convt_groups() -> list[CaseGroup]:
    return [
        CaseGroup("'valid', stride 1", [ConvTCase("valid", (4, 4, 1), (3, 3, 1, 1), 1, "valid", 0),
                                        ConvTCase("valid", (3, 5, 2), (2, 3, 3, 2), 1, "valid", 1)]),
        CaseGroup("'valid', stride 2 and 3", [ConvTCase("valid", (4, 3, 1), (3, 3, 2, 1), 2, "valid", 10),
                                              ConvTCase("valid", (3, 3, 2), (2, 2, 1, 2), 3, "valid", 11)]),
        CaseGroup("'same', stride 1, odd and even kernels",
                  [ConvTCase("same", (5, 5, 1), (3, 3, 1, 1), 1, "same", 20),
                   ConvTCase("same", (4, 6, 2), (4, 2, 2, 2), 1, "same", 21)]),
        CaseGroup("'same', stride 2: even kernel (k - s even) and odd kernel (k - s odd)",
                  [ConvTCase("same", (4, 4, 1), (4, 4, 1, 1), 2, "same", 30),
                   ConvTCase("same", (3, 5, 2), (3, 5, 3, 2), 2, "same", 31)]),
        CaseGroup("a kernel smaller than the stride, both paddings",
                  [ConvTCase("small kernel", (3, 3, 1), (1, 1, 2, 1), 2, "same", 40),
                   ConvTCase("small kernel", (3, 4, 1), (2, 2, 1, 1), 3, "same", 41),
                   ConvTCase("small kernel", (3, 4, 1), (2, 1, 1, 1), 3, "valid", 42)]),
        CaseGroup("a 1x1 input, one channel out of several",
                  [ConvTCase("1x1", (1, 1, 3), (3, 3, 2, 3), 2, "valid", 50),
                   ConvTCase("1x1", (1, 1, 1), (3, 2, 1, 1), 2, "same", 51)]),
        CaseGroup("the adjoint of the convolution: <conv_T(x), y> = <x, conv(y)>",
                  [AdjointCase("adjoint", s, p, 60 + s) for s in (1, 2) for p in ("valid", "same")]),
        CaseGroup("bad input raises ValueError", _convt_bad_cases()),
    ]


def _check_convt(conv_transpose, case) -> None:
    if isinstance(case, AdjointCase):
        check_adjoint(conv_transpose, case)
    else:
        check_convt_case(conv_transpose, case)


@core.quiet
def public_conv_transpose(conv_transpose) -> None:
    x = np.array([[[1.0], [2.0]]])  # one row: 1, 2
    kernel = np.array([[1.0, 10.0, 100.0]]).reshape(1, 3, 1, 1)
    core.check_numpy_only(conv_transpose, x, kernel, 2, "valid")
    # stride 2: 1 * [1, 10, 100] at column 0, 2 * [1, 10, 100] at column 2
    got = core.as_array(core.call_student(conv_transpose, x, kernel, 2, "valid"), "conv_transpose")
    expected = np.array([1.0, 10.0, 102.0, 20.0, 200.0]).reshape(1, 5, 1)
    core.assert_shape(got, expected.shape, "conv_transpose(x of (1, 2, 1), kernel (1, 3, 1, 1), 2, 'valid')",
                      "'valid': (W - 1) * stride + kw = 1 * 2 + 3 = 5 columns.")
    core.assert_close_or_hint(got, expected, "conv_transpose([[1, 2]], [[1, 10, 100]], stride=2, 'valid')",
                              _tol64(), lambda: _convt_variants(x, kernel, 2, "valid"))
    core.public_case(check_convt_case, conv_transpose, ConvTCase("same", (3, 3, 1), (3, 3, 1, 1), 2, "same", 2))
    print("conv_transpose: public checks pass (hidden checks: strides 1 to 3, both paddings, even kernels, "
          "kernels smaller than the stride, channels, the adjoint identity, bad input).")


@core.quiet
def hidden_conv_transpose(conv_transpose, points: float = 1.0) -> float:
    core.check_numpy_only(conv_transpose, *ConvTCase("", (2, 2, 1), (2, 2, 1, 1)).arrays(), 1, "valid")
    return core.score_function("conv_transpose", conv_transpose, _convt_groups(), _check_convt, points)


# ==================================================================== 9. build_unet
@dataclass(frozen=True)
class UNetCase:
    label: str
    input_shape: tuple = (32, 32, 3)
    n_classes: int = 4
    base_filters: int = 8
    what: str = "outputs"  # "outputs", "levels", "skips", "filters"

    def __repr__(self) -> str:
        return (f"{self.label}: build_unet({self.input_shape}, n_classes={self.n_classes}, "
                f"base_filters={self.base_filters})")


def _build(build_unet, case: UNetCase):

    name = repr(case).split(": ", 1)[1]
    model = core.call_student(build_unet, case.input_shape, case.n_classes, case.base_filters)
    if not core.is_instance(model, "keras.Model"):
        raise core.CheckFailure(f"{name}: expected a keras.Model, got {core.type_name(model)}.")
    return model, name


def _spatial(tensor) -> tuple | None:
    shape = tuple(tensor.shape)
    return shape[1:3] if len(shape) == 4 else None


def _check_unet_outputs(model, name: str, case: UNetCase) -> None:
    height, width, channels = case.input_shape
    x = core.rng(0).random((2, height, width, channels)).astype(FLOAT32)
    y = core.as_array(model(x, training=False), f"{name}(x)")
    core.assert_shape(y, (2, height, width, case.n_classes), f"{name} on a batch of 2",
                      "One probability per class at every pixel: (batch, H, W, n_classes), at the input's "
                      "resolution (upsample as many times as you downsample).")
    if y.min() < 0 or not np.allclose(y.sum(-1), 1.0, atol=1e-5):
        raise core.CheckFailure(f"{name}: the outputs at each pixel must be probabilities summing to 1: "
                                "end with a 1x1 convolution and a softmax over the classes.")


def _check_unet_levels(model, name: str, case: UNetCase) -> None:
    height = case.input_shape[0]
    smallest = min((s[0] for layer in model.layers if (s := _spatial(layer.output)) and s[0]), default=height)
    if smallest > height // 4:
        raise core.CheckFailure(f"{name}: the smallest feature map is {smallest} pixels high for a {height}-pixel "
                                "input; a U-Net downsamples at least twice (to H / 4 or less).")


def _check_unet_skips(model, name: str, case: UNetCase) -> None:
    height, width = case.input_shape[:2]
    merges = [layer for layer in model.layers
              if (core.is_instance(layer, "keras.layers.Concatenate")
                  or core.is_instance(layer, "keras.layers.Add"))
              and isinstance(layer.input, (list, tuple)) and len(layer.input) >= 2]
    full = [layer for layer in merges if _spatial(layer.output) == (height, width)]
    if len(merges) < 2 or not full:
        raise core.CheckFailure(
            f"{name}: found {len(merges)} skip connections ({len(full)} at full resolution). A U-Net "
            "concatenates each upsampled map with the encoder's map of the same size: at least two, "
            "one of them at the input's resolution (keras.layers.Concatenate()([up, skip])).")


def _check_unet_filters(build_unet, case: UNetCase) -> None:
    small, name = _build(build_unet, case)
    large, _ = _build(build_unet, UNetCase(case.label, case.input_shape, case.n_classes, 2 * case.base_filters))
    if not large.count_params() > small.count_params():
        raise core.CheckFailure(f"{name}: base_filters={2 * case.base_filters} gives {large.count_params()} "
                                f"parameters, base_filters={case.base_filters} {small.count_params()}: the "
                                "first level must have base_filters filters, doubling at each level down.")
    if small.count_params() > 2_000_000:
        raise core.CheckFailure(f"{name}: {small.count_params()} parameters; keep it under 2 million so that it "
                                "trains in seconds on a CPU.")


def check_unet_case(build_unet, case: UNetCase) -> None:
    if case.what == "filters":
        _check_unet_filters(build_unet, case)
        return
    model, name = _build(build_unet, case)
    {"outputs": _check_unet_outputs, "levels": _check_unet_levels, "skips": _check_unet_skips}[case.what](
        model, name, case)


def _unet_groups() -> list[CaseGroup]:
    return [
        CaseGroup("probabilities at the input's resolution, (32, 32, 3) with 4 classes",
                  [UNetCase("outputs")]),
        CaseGroup("a non-square grey input (48, 64, 1) with 2 classes, 16 filters",
                  [UNetCase("outputs", (48, 64, 1), 2, 16)]),
        CaseGroup("at least two downsamplings", [UNetCase("levels", what="levels"),
                                                 UNetCase("levels", (64, 48, 3), 3, 4, what="levels")]),
        CaseGroup("skip connections, one at full resolution", [UNetCase("skips", what="skips"),
                                                               UNetCase("skips", (48, 64, 1), 2, what="skips")]),
        CaseGroup("base_filters sets the width; under 2 million parameters", [UNetCase("filters", what="filters")]),
    ]


@core.quiet
def public_build_unet(build_unet) -> None:
    core.public_case(check_unet_case, build_unet, UNetCase("outputs"))
    print("build_unet: public checks pass (hidden checks: other shapes and classes, depth, skip connections, "
          "base_filters).")


@core.quiet
def hidden_build_unet(build_unet, points: float = 1.0) -> float:
    return core.score_function("build_unet", build_unet, _unet_groups(), check_unet_case, points)


# ========================================================== 10. train_segmenter
SEGMENTER_SCENES = {"size": 32, "max_objects": 3, "min_size": 6, "max_size": 12}
TRAINING_SEED, HELD_OUT_SEED = 7, 20261202
N_TRAIN, N_HELD_OUT = 600, 200
N_CLASSES = 4  # background + the three shapes
# Measured on 2 CPU cores: the notebook's solution (Adam 5e-3, batch 8, 6 epochs) trains the
# grader's U-Net in 12-16 s to a mean IoU of 0.93 to 0.985 on the held-out scenes (training
# seeds 7 to 10); a network that predicts only the background scores about 0.24, one trained
# for 1 epoch at lr 1e-6 about 0.01.
FLOORS = (0.5, 0.75)
_RUNS: dict = {}


def _scenes(n: int, seed: int):
    from cnnvision.scenes import make_scenes

    return make_scenes(n, seed=seed, **SEGMENTER_SCENES)


def segmenter_mean_iou(model, scenes) -> float:
    """The model's mean IoU (reference) on ``scenes``."""
    size = SEGMENTER_SCENES["size"]
    try:
        probabilities = core.as_array(model.predict(scenes.images, batch_size=50, verbose=0), "model.predict")
    except core.CheckFailure:
        raise
    except Exception as error:  # noqa: BLE001 - a model broken by the student's training
        raise core.CheckFailure(f"train_segmenter: the trained model cannot predict scenes of shape "
                                f"({size}, {size}, 3): {type(error).__name__}: {error}") from None
    core.assert_shape(probabilities, (len(scenes), size, size, N_CLASSES), "model.predict(held-out scenes)")
    return float(core.run_reference(reference.mean_iou, scenes.semantic, probabilities.argmax(-1), N_CLASSES))


def run_training(train_segmenter) -> dict:
    """Train the grader's U-Net with the student's function once (seeded, timed); the public and
    hidden checks share the run."""
    import keras

    if train_segmenter in _RUNS:
        return _RUNS[train_segmenter]
    train = _scenes(N_TRAIN, TRAINING_SEED)
    keras.utils.set_random_seed(TRAINING_SEED)
    model = reference.unet((SEGMENTER_SCENES["size"],) * 2 + (3,), N_CLASSES)
    # trained where the student's function runs (a copy in a graded kernel), then scored here
    core.run_where(train_segmenter, common.seed_training, TRAINING_SEED)
    placed = core.placed_with(train_segmenter, model)
    start = time.perf_counter()
    try:
        core.call_student(train_segmenter, placed, train.images.copy(), train.semantic.copy())
        if placed is not model:
            model.set_weights(placed.get_weights())
    except core.CheckFailure:
        raise
    except Exception as error:  # noqa: BLE001 - report what the student's training raised
        raise core.CheckFailure(f"train_segmenter(model, images, masks) raised {type(error).__name__}: "
                                f"{str(error)[:400]}\nThe masks hold class ids (N, 32, 32) and the model "
                                "outputs probabilities (N, 32, 32, 4): use "
                                "loss='sparse_categorical_crossentropy'.") from None
    run = {"seconds": time.perf_counter() - start,
           "mean_iou": segmenter_mean_iou(model, _scenes(N_HELD_OUT, HELD_OUT_SEED))}
    _RUNS.clear()  # the public and hidden checks of one test cell share a run; no more
    _RUNS[train_segmenter] = run
    return run


@dataclass(frozen=True)
class FloorCase:
    floor: float

    def __repr__(self) -> str:
        return f"mean IoU on {N_HELD_OUT} held-out scenes >= {self.floor}"


def _below(run: dict, floor: float) -> str:
    return (f"mean IoU {run['mean_iou']:.3f} on {N_HELD_OUT} held-out scenes is below {floor}: train "
            "longer, or check the loss (sparse categorical cross-entropy on the class ids: the model "
            "outputs probabilities) and the learning rate.")


@core.quiet
def public_train_segmenter(train_segmenter) -> None:
    run = run_training(train_segmenter)
    print(f"train_segmenter: trained the grader's U-Net in {run['seconds']:.1f} s; mean IoU "
          f"{run['mean_iou']:.3f} on {N_HELD_OUT} held-out scenes (full marks from {FLOORS[-1]}).")
    if run["mean_iou"] < FLOORS[0]:
        raise core.CheckFailure(_below(run, FLOORS[0]))


@core.quiet
def hidden_train_segmenter(train_segmenter, points: float = 1.0) -> float:
    run = run_training(train_segmenter)

    def check(case: FloorCase) -> None:
        if run["mean_iou"] < case.floor:
            raise core.CheckFailure(_below(run, case.floor))

    groups = [CaseGroup(repr(FloorCase(floor)), [FloorCase(floor)]) for floor in FLOORS]
    return core.score_groups("train_segmenter", groups, check, points)
