"""Checks for the chapter "Images from a trained network: textures, style and colour".

Every check runs the student's function and the reference
(:mod:`autograder.reference.texture_style_colour`: TensorFlow ops, scikit-image for Lab)
on seeded random cases, plus a deterministic case for each branch of each rule (ramps
along each axis, colours on each side of the sRGB and Lab thresholds, ties between bins,
a temperature where ``z ** (1 / T)`` underflows, a window cut from the sample), and
invariants that hold whatever the reference says: a Gram matrix is symmetric, positive
semi-definite, blind to the positions' order and scales as s^2; ``style_loss(x, G(x)) == 0``;
soft encodings sum to 1; ``sum_q p_q w_q == 1``.

The style exercises (Gram matrix, style loss, total variation) must work on tensors inside a
``tf.GradientTape``: their gradients are compared with the reference's too.  The colour and
texture exercises are numpy only (TensorFlow, Keras and, for the colour conversion,
scikit-image are refused).  ``style_loss`` is graded with the reference Gram matrix in place of
the student's, so a mistake in ``gram_matrix`` costs points there only.

Tolerances: float32 (the style exercises) ``core.tolerance_for(float32)`` (CPU rtol 1e-4, atol
1e-5; GPU rtol 1e-3, atol 1e-4; atol scaled by max |expected|); float64 numpy against float64
TensorFlow ``core.tolerance_for(float64)`` (1e-9); Lab against scikit-image with the constants
the notebook gives: rtol 1e-6, atol 1e-6 (scaled the same way, so 1e-4 for L near 100).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from autograder import core
from autograder.core import BadCase, CaseGroup
from autograder.reference import texture_style_colour as reference

# graded test cells run these checks in the grading worker, out of the student's reach
CHECKS_RUN_IN = "worker"

FLOAT32 = np.float32
FLOAT64 = np.float64
LAB_TOL = core.Tolerance(1e-6, 1e-6)


def _tol32() -> core.Tolerance:
    return core.tolerance_for(FLOAT32)


def _tol64() -> core.Tolerance:
    return core.tolerance_for(FLOAT64, "CPU")


def _tf():
    import tensorflow as tf

    return tf


def _gradient(function, args, weights: np.ndarray | None = None, wrt=0):
    """d sum(function(*args) * weights) / d args[wrt] with tf.GradientTape, taken where the
    function runs (``wrt`` may be a path into a list argument), or None when nothing flows."""
    return core.gradient_of(function, args, wrt, weights)[1]


def _assert_gradient(got_gradient, expected_gradient, name: str, what: str) -> None:
    if got_gradient is None:
        raise core.CheckFailure(
            f"{name}: no gradient flows through {what}. Use TensorFlow ops (tf.reshape, tf.matmul, "
            "tf.einsum, tf.abs, tf.reduce_sum, ...), not numpy, and return a tensor: the style "
            "transfer loop differentiates it with tf.GradientTape.")
    core.assert_close(got_gradient, expected_gradient, f"{name}: gradient", _tol32())


def _random(seed: int, shape, low: float = None, high: float = None, dtype=FLOAT32) -> np.ndarray:
    rng = core.rng(seed)
    if low is None:
        return rng.standard_normal(shape).astype(dtype)
    return rng.uniform(low, high, shape).astype(dtype)


# ===================================================================== 1. gram_matrix
@dataclass(frozen=True)
class GramCase:
    label: str
    shape: tuple
    seed: int = 0
    relu: bool = False
    scale: float = 1.0

    def features(self) -> np.ndarray:
        x = _random(self.seed, self.shape) * self.scale
        return np.maximum(x, 0) if self.relu else x

    def __repr__(self) -> str:
        return f"{self.label}: features of shape {self.shape} (seed {self.seed})"


def _gram_variants(x: np.ndarray) -> dict:
    n, h, w, c = x.shape
    x64 = x.astype(np.float64)
    plain = np.einsum("nijc,nijd->ncd", x64, x64)
    mixed = x64.reshape(n, c, h * w)
    return {
        "Divide by the number of positions H * W: the sums are not normalised.": plain,
        "Divide by H * W (the positions) only, not by H * W * C.": plain / (h * w * c),
        "Reshaping (N, H, W, C) straight to (N, C, H * W) mixes channels and positions: reshape "
        "to (N, H * W, C) (channels stay last), then multiply its transpose by it.":
            mixed @ mixed.transpose(0, 2, 1) / (h * w),
    }


def check_gram_case(gram_matrix, case: GramCase) -> None:
    x = case.features()
    name = "gram_matrix(features)"
    got = core.as_array(core.call_student(gram_matrix, x.copy()), name)
    expected = core.run_reference(reference.gram_matrix, x)
    core.assert_shape(got, expected.shape, name,
                      "A Gram matrix is channels x channels: (N, C, C), one per image.")
    core.assert_close_or_hint(got, expected, name, _tol32(), lambda: _gram_variants(x))


@dataclass(frozen=True)
class GramInvariantCase:
    label: str
    shape: tuple = (2, 5, 6, 4)
    seed: int = 0

    def __repr__(self) -> str:
        return f"{self.label} (features of shape {self.shape})"


def check_gram_invariant(gram_matrix, case: GramInvariantCase) -> None:
    x = np.maximum(_random(case.seed, case.shape), 0)
    name = "gram_matrix(features)"
    gram = core.as_array(core.call_student(gram_matrix, x), name).astype(np.float64)
    core.assert_shape(gram, (case.shape[0], case.shape[3], case.shape[3]), name)
    tol = _tol32()
    if case.label.startswith("symmetric"):
        core.assert_close(gram, gram.transpose(0, 2, 1), f"{name}: G against its transpose", tol)
        smallest = float(np.linalg.eigvalsh(gram).min())
        if smallest < -1e-4 * max(1.0, float(np.abs(gram).max())):
            raise core.CheckFailure(f"{name}: a Gram matrix is positive semi-definite, but yours "
                                    f"has the eigenvalue {smallest:.4g}.")
    elif case.label.startswith("blind"):
        n, h, w, c = x.shape
        order = core.rng(case.seed + 1).permutation(h * w)
        shuffled = x.reshape(n, h * w, c)[:, order].reshape(n, h, w, c)
        again = core.as_array(core.call_student(gram_matrix, shuffled), name)
        core.assert_close(again, gram, f"{name}: G of the features with their positions shuffled "
                          "(a Gram matrix sums over positions: their order must not matter)", tol)
    else:
        scaled = core.as_array(core.call_student(gram_matrix, (3 * x).astype(FLOAT32)), name)
        core.assert_close(scaled, 9 * gram, f"{name}: G(3 F) against 9 G(F)", tol)


@dataclass(frozen=True)
class GradientCase:
    label: str
    shape: tuple
    seed: int = 0

    def __repr__(self) -> str:
        return f"{self.label}: input of shape {self.shape} (seed {self.seed})"


def check_gram_gradient(gram_matrix, case: GradientCase) -> None:
    x = _random(case.seed, case.shape)
    n, _, _, c = case.shape
    weights = _random(case.seed + 100, (n, c, c))
    got = _gradient(gram_matrix, [x], weights)
    expected = _gradient(reference.gram_matrix, [x], weights)
    _assert_gradient(got, expected, "gram_matrix", "your Gram matrix")


def _gram_bad_cases() -> list[BadCase]:
    return [
        BadCase("one feature map (H, W, C) without the batch axis",
                lambda: ((_random(0, (4, 4, 3)),), {}), "features must be (N, H, W, C)"),
        BadCase("features of shape (2, 12) (flattened)", lambda: ((_random(0, (2, 12)),), {}),
                "features must be (N, H, W, C)"),
        BadCase("features with no position, shape (1, 0, 4, 3)",
                lambda: ((np.zeros((1, 0, 4, 3), FLOAT32),), {}), "H * W must be at least 1"),
    ]


def _gram_groups() -> list[CaseGroup]:
    return [
        CaseGroup("one image, square maps",
                  [GramCase("one image", (1, h, h, c), seed) for seed, (h, c) in
                   enumerate([(4, 3), (5, 8), (3, 2), (6, 5)])]),
        CaseGroup("batches, H != W, several channels",
                  [GramCase("batch", shape, 10 + seed) for seed, shape in
                   enumerate([(3, 4, 6, 5), (2, 7, 3, 2), (4, 2, 5, 6)])]),
        CaseGroup("edge sizes: a 1x1 map, one channel, one row",
                  [GramCase("1x1 map", (2, 1, 1, 4), 20), GramCase("one channel", (1, 5, 5, 1), 21),
                   GramCase("one row", (2, 1, 7, 3), 22)]),
        CaseGroup("ReLU features (>= 0, half zeros), large values",
                  [GramCase("ReLU features x 50", (2, 6, 6, 8), 30 + s, relu=True, scale=50.0)
                   for s in range(3)]),
        CaseGroup("invariants: symmetric and positive semi-definite, blind to positions, G(s F) = s^2 G(F)",
                  [GramInvariantCase("symmetric and positive semi-definite", seed=40),
                   GramInvariantCase("blind to the order of positions", seed=41),
                   GramInvariantCase("scaling: G(3 F) = 9 G(F)", seed=42)]),
        CaseGroup("differentiable: gradient through tf.GradientTape",
                  [GradientCase("gradient", (2, 4, 5, 3), 50), GradientCase("gradient", (1, 3, 3, 6), 51)]),
        CaseGroup("bad input raises ValueError", _gram_bad_cases()),
    ]


def _check_gram(gram_matrix, case) -> None:
    if isinstance(case, GramCase):
        check_gram_case(gram_matrix, case)
    elif isinstance(case, GramInvariantCase):
        check_gram_invariant(gram_matrix, case)
    else:
        check_gram_gradient(gram_matrix, case)


@core.quiet
def public_gram_matrix(gram_matrix) -> None:
    features = np.arange(8, dtype=FLOAT32).reshape(1, 2, 2, 2)  # channel 0: 0 2 4 6, channel 1: 1 3 5 7
    got = core.as_array(core.call_student(gram_matrix, features), "gram_matrix(features)")
    expected = np.array([[[14.0, 17.0], [17.0, 21.0]]], FLOAT32)  # (0*0 + 2*2 + 4*4 + 6*6) / 4 = 14
    core.assert_shape(got, (1, 2, 2), "gram_matrix(features of shape (1, 2, 2, 2))",
                      "A Gram matrix is channels x channels: (N, C, C).")
    core.assert_close_or_hint(got, expected, "gram_matrix(arange(8).reshape(1, 2, 2, 2))", _tol32(),
                              lambda: _gram_variants(features))
    core.public_case(check_gram_case, gram_matrix, GramCase("batch", (2, 3, 4, 5), 3))
    print("gram_matrix: public checks pass (hidden checks: batches, edge sizes, invariants, "
          "gradient, bad input).")


@core.quiet
def hidden_gram_matrix(gram_matrix, points: float = 1.0) -> float:
    return core.score_function("gram_matrix", gram_matrix, _gram_groups(), _check_gram, points)


# ====================================================================== 2. style_loss
@dataclass(frozen=True)
class StyleCase:
    label: str
    shapes: tuple  # one (N, H, W, C) per layer
    weights: tuple
    seed: int = 0
    targets_are_own: bool = False

    def arrays(self):
        features = [np.maximum(_random(self.seed + i, shape), 0) for i, shape in enumerate(self.shapes)]
        if self.targets_are_own:
            targets = [reference.gram_matrix(f).numpy() for f in features]
        else:
            others = [np.maximum(_random(self.seed + 50 + i, s), 0) for i, s in enumerate(self.shapes)]
            targets = [reference.gram_matrix(f).numpy() for f in others]
        return features, targets

    def __repr__(self) -> str:
        shapes = ", ".join(str(s) for s in self.shapes)
        return f"{self.label}: features {shapes}, weights {list(self.weights)}"


def _style_variants(features, targets, weights) -> dict:
    grams = [reference.gram_matrix(f).numpy().astype(np.float64) for f in features]
    squares = [(g - t) ** 2 for g, t in zip(grams, targets, strict=True)]
    return {
        "Average over the entries (n, c, d) of each layer: you summed them.":
            np.float64(sum(w * s.sum() for w, s in zip(weights, squares, strict=True))),
        "Multiply each layer's term by its weight.": np.float64(sum(s.mean() for s in squares)),
        "The layers' terms are summed (weighted), not averaged.":
            np.float64(np.mean([w * s.mean() for w, s in zip(weights, squares, strict=True)])),
        "Square the differences of the Gram matrices (not their absolute values).":
            np.float64(sum(w * np.sqrt(s).mean() for w, s in zip(weights, squares, strict=True))),
    }


def check_style_case(style_loss, case: StyleCase) -> None:
    features, targets = case.arrays()
    name = "style_loss(features_list, target_grams, weights)"
    with core.global_replaced(style_loss, "gram_matrix", reference.gram_matrix):
        got = core.as_scalar(core.call_student(style_loss, [f.copy() for f in features],
                                        [t.copy() for t in targets], list(case.weights)), name)
    expected = float(core.run_reference(reference.style_loss, features, targets, list(case.weights)))
    core.assert_close_or_hint(np.float64(got), np.float64(expected), name, _tol32(),
                              lambda: _style_variants(features, targets, case.weights))


@dataclass(frozen=True)
class StyleGradientCase:
    label: str = "gradient with respect to the features of the first layer"
    seed: int = 60

    def __repr__(self) -> str:
        return self.label


def check_style_gradient(style_loss, case: StyleGradientCase) -> None:
    case_shapes = ((1, 4, 4, 3), (1, 2, 2, 5))
    base = StyleCase("gradient", case_shapes, (0.5, 2.0), case.seed)
    features, targets = base.arrays()

    args = [list(features), targets, [0.5, 2.0]]  # d / d features[0]: the path (0, 0)
    with core.global_replaced(style_loss, "gram_matrix", reference.gram_matrix):
        got = _gradient(style_loss, args, wrt=(0, 0))
    expected = _gradient(reference.style_loss, args, wrt=(0, 0))
    _assert_gradient(got, expected, "style_loss", "your style loss")


def _style_bad_cases() -> list[BadCase]:
    features, targets = StyleCase("bad", ((1, 3, 3, 2), (1, 2, 2, 4)), (1.0, 1.0)).arrays()
    return [
        BadCase("two feature maps but one target Gram matrix",
                lambda: ((features, targets[:1], [1.0, 1.0]), {}), "one target and one weight per layer"),
        BadCase("two feature maps but three weights",
                lambda: ((features, targets, [1.0, 1.0, 1.0]), {}), "one target and one weight per layer"),
        BadCase("targets in the wrong order (4x4 Gram for 2-channel features)",
                lambda: ((features, targets[::-1], [1.0, 1.0]), {}),
                "each target must have the shape of its layer's Gram matrix"),
    ]


def _style_groups() -> list[CaseGroup]:
    return [
        CaseGroup("one layer, weight 1",
                  [StyleCase("one layer", ((1, 4, 4, c),), (1.0,), seed) for seed, c in enumerate((3, 6, 2))]),
        CaseGroup("several layers of different sizes, with weights",
                  [StyleCase("three layers", ((1, 8, 8, 3), (1, 4, 4, 6), (1, 2, 2, 8)), (1.0, 0.5, 2.0), 10),
                   StyleCase("two layers", ((1, 5, 7, 4), (1, 3, 4, 2)), (0.1, 3.0), 11)]),
        CaseGroup("a batch of 2 images, a layer of weight 0",
                  [StyleCase("batch of 2", ((2, 4, 4, 3), (2, 2, 2, 5)), (0.0, 1.5), 20),
                   StyleCase("batch of 3", ((3, 3, 5, 2),), (0.7,), 21)]),
        CaseGroup("style_loss(F, G(F)) == 0",
                  [StyleCase("targets are the features' own Gram matrices", ((2, 4, 4, 3), (2, 2, 2, 5)),
                             (1.0, 2.0), 30, targets_are_own=True)]),
        CaseGroup("differentiable: gradient through tf.GradientTape", [StyleGradientCase()]),
        CaseGroup("bad input raises ValueError", _style_bad_cases()),
    ]


def _check_style(style_loss, case) -> None:
    if isinstance(case, StyleCase):
        check_style_case(style_loss, case)
    else:
        check_style_gradient(style_loss, case)


@core.quiet
def public_style_loss(style_loss) -> None:
    core.public_case(check_style_case, style_loss, StyleCase("two layers", ((1, 4, 4, 3), (1, 2, 2, 4)), (1.0, 0.5), 3))
    core.public_case(check_style_case, style_loss, StyleCase("targets are the features' own Gram matrices",
                                           ((1, 3, 3, 2),), (1.0,), 4, targets_are_own=True))
    print("style_loss: public checks pass (hidden checks: more layers and weights, batches, "
          "the gradient, bad input).")


@core.quiet
def hidden_style_loss(style_loss, points: float = 1.0) -> float:
    return core.score_function("style_loss", style_loss, _style_groups(), _check_style, points)


# ================================================================ 3. total_variation
@dataclass(frozen=True)
class TVCase:
    label: str
    shape: tuple
    seed: int = 0
    pattern: str = "random"  # random, rows (varies along axis H), columns (along W), constant

    def images(self) -> np.ndarray:
        if self.pattern == "random":
            return _random(self.seed, self.shape, 0.0, 1.0)
        grid = np.zeros(self.shape, FLOAT32)
        h_axis, w_axis = len(self.shape) - 3, len(self.shape) - 2
        if self.pattern == "rows":
            ramp = 0.1 * np.arange(self.shape[h_axis], dtype=FLOAT32)
            grid += np.expand_dims(ramp, tuple(a for a in range(len(self.shape)) if a != h_axis))
        elif self.pattern == "columns":
            ramp = 0.25 * np.arange(self.shape[w_axis], dtype=FLOAT32)
            grid += np.expand_dims(ramp, tuple(a for a in range(len(self.shape)) if a != w_axis))
        else:
            grid += 0.5
        return grid

    def __repr__(self) -> str:
        what = "random values" if self.pattern == "random" else {
            "rows": "a ramp along the rows (axis H) only", "columns": "a ramp along the columns "
            "(axis W) only", "constant": "a constant image"}[self.pattern]
        return f"{self.label}: images of shape {self.shape}, {what}"


def _tv_variants(x: np.ndarray) -> dict:
    x = x.astype(np.float64)
    dh = np.diff(x, axis=-3)
    dw = np.diff(x, axis=-2)
    axes = (-3, -2, -1)
    return {
        "Total variation here is the L1 form: absolute differences, not squared ones.":
            (dh**2).sum(axis=axes) + (dw**2).sum(axis=axes),
        "Differences along axis H (rows) are missing: add |x[i+1, j] - x[i, j]|.": np.abs(dw).sum(axis=axes),
        "Differences along axis W (columns) are missing: add |x[i, j+1] - x[i, j]|.": np.abs(dh).sum(axis=axes),
        "Sum the absolute differences (tf.image.total_variation sums; it does not average).":
            np.abs(dh).mean(axis=axes) + np.abs(dw).mean(axis=axes),
        "This is the isotropic form sqrt(dx^2 + dy^2); the exercise asks for |dx| + |dy|.":
            np.sqrt(dh[..., :, :-1, :] ** 2 + dw[..., :-1, :, :] ** 2).sum(axis=axes),
    }


def check_tv_case(total_variation, case: TVCase) -> None:
    x = case.images()
    name = "total_variation(images)"
    got = core.as_array(core.call_student(total_variation, x.copy()), name)
    expected = core.run_reference(reference.total_variation, x)
    hint = "One total variation per image: shape (N,) for a batch, a scalar () for one image."
    core.assert_shape(got, expected.shape, name, hint)
    core.assert_close_or_hint(got, expected, name, _tol32(), lambda: _tv_variants(x))


def check_tv_gradient(total_variation, case: GradientCase) -> None:
    x = _random(case.seed, case.shape, 0.0, 1.0)
    got = _gradient(total_variation, [x])
    expected = _gradient(reference.total_variation, [x])
    _assert_gradient(got, expected, "total_variation", "your total variation")


def _tv_groups() -> list[CaseGroup]:
    return [
        CaseGroup("a batch (N, H, W, C) -> (N,)",
                  [TVCase("batch", shape, seed) for seed, shape in
                   enumerate([(2, 5, 6, 3), (3, 4, 4, 1), (1, 7, 3, 2)])]),
        CaseGroup("one image (H, W, C) -> a scalar",
                  [TVCase("one image", (6, 5, 3), 10), TVCase("one image", (4, 9, 1), 11)]),
        CaseGroup("each axis: ramps along H only and along W only",
                  [TVCase("ramp", (2, 5, 4, 3), pattern="rows"), TVCase("ramp", (2, 5, 4, 3), pattern="columns"),
                   TVCase("ramp", (6, 3, 2), pattern="rows"), TVCase("ramp", (6, 3, 2), pattern="columns")]),
        CaseGroup("edge sizes: a 1x1 image, one row, one column, a constant image",
                  [TVCase("1x1", (2, 1, 1, 3), 20), TVCase("one row", (1, 1, 8, 3), 21),
                   TVCase("one column", (1, 8, 1, 3), 22), TVCase("constant", (2, 4, 4, 3), pattern="constant")]),
        CaseGroup("differentiable: gradient through tf.GradientTape",
                  [GradientCase("gradient", (2, 5, 4, 3), 30), GradientCase("gradient", (6, 6, 1), 31)]),
        CaseGroup("bad input raises ValueError", [
            BadCase("a greyscale image (H, W) without a channel axis",
                    lambda: ((_random(0, (5, 5), 0.0, 1.0),), {}), "images must be (H, W, C) or (N, H, W, C)"),
            BadCase("a 5-D array", lambda: ((_random(0, (1, 2, 3, 3, 1), 0.0, 1.0),), {}),
                    "images must be (H, W, C) or (N, H, W, C)")]),
    ]


def _check_tv(total_variation, case) -> None:
    if isinstance(case, TVCase):
        check_tv_case(total_variation, case)
    else:
        check_tv_gradient(total_variation, case)


@core.quiet
def public_total_variation(total_variation) -> None:
    image = np.array([[0.0, 1.0], [0.5, 0.25]], FLOAT32)[:, :, None]  # |0.5| + |-0.75| + |1| + |-0.25|
    got = core.as_scalar(core.call_student(total_variation, image), "total_variation of [[0, 1], [0.5, 0.25]]")
    if abs(got - 2.5) > 1e-5:
        raise core.CheckFailure(
            f"total_variation of the 2x2 image [[0, 1], [0.5, 0.25]]: expected 2.5 "
            f"(rows |0.5 - 0| + |0.25 - 1| = 1.25, columns |1 - 0| + |0.25 - 0.5| = 1.25), got {got:.6g}.")
    core.public_case(check_tv_case, total_variation, TVCase("batch", (2, 4, 5, 3), 1))
    print("total_variation: public checks pass (hidden checks: each axis, edge sizes, one image, "
          "the gradient, bad input).")


@core.quiet
def hidden_total_variation(total_variation, points: float = 1.0) -> float:
    return core.score_function("total_variation", total_variation, _tv_groups(), _check_tv, points)


# =================================================================== 4. gradient_step
def _loss_function(kind: str, shape, seed: int):
    """The loss a step case minimises, a function of a float32 image tensor of ``shape``:
    ``reference.step_loss`` with its target (and, for "style", the weights of a tiny conv
    network) drawn from ``seed``."""
    target = _random(seed + 7, shape, 0.0, 1.0)
    rng = core.rng(seed)
    kernel = (rng.standard_normal((3, 3, 3, 4)).astype(FLOAT32) / 3.0)
    bias = (rng.standard_normal(4).astype(FLOAT32) * 0.1)
    return functools.partial(reference.step_loss, kind, target, kernel, bias)


@dataclass(frozen=True)
class StepCase:
    label: str
    kind: str
    shape: tuple
    learning_rate: float
    seed: int = 0

    def __repr__(self) -> str:
        return f"{self.label}: image {self.shape}, learning_rate={self.learning_rate}"


def _step_variants(x, loss_fn, learning_rate) -> dict:
    tf = _tf()
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        loss = loss_fn(tensor)
    gradient = tape.gradient(loss, tensor).numpy()
    return {
        "Go down the gradient: x - learning_rate * gradient (you went up).":
            np.clip(x + learning_rate * gradient, 0, 1),
        "Clip the new image to [0, 1] (np.clip or tf.clip_by_value).": x - learning_rate * gradient,
    }


def check_step_case(gradient_step, case: StepCase) -> None:
    x = _random(case.seed, case.shape, 0.0, 1.0)
    original = x.copy()
    loss_fn = _loss_function(case.kind, case.shape, case.seed)
    name = "gradient_step"
    result = core.call_student(gradient_step, x, loss_fn, case.learning_rate)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise core.CheckFailure(f"{name}: expected a tuple (new_image, loss), got {type(result).__name__}.")
    expected_image, expected_loss = reference.gradient_step(original, loss_fn, case.learning_rate)
    if not np.array_equal(x, original):
        raise core.CheckFailure(f"{name}: the image passed in was modified; work on a copy "
                                "(the caller keeps the original).")
    got_image = core.as_array(result[0], f"{name}: new image")
    core.assert_shape(got_image, case.shape, f"{name}: new image", "The new image has the input's shape.")
    core.assert_close_or_hint(got_image, expected_image, f"{name}: new image", _tol32(),
                              lambda: _step_variants(original, loss_fn, case.learning_rate))
    got_loss = core.as_scalar(result[1], f"{name}: loss")
    after = float(loss_fn(_tf().constant(expected_image)))
    hint = ("Return the loss of the image you were given (before the step)."
            if abs(got_loss - after) <= 1e-4 * max(1.0, abs(after)) else "")
    core.assert_close(np.float64(got_loss), np.float64(expected_loss), f"{name}: loss", _tol32(), hint)


@dataclass(frozen=True)
class DescentCase:
    label: str = "twenty small steps lower the style loss every time"

    def __repr__(self) -> str:
        return self.label


def check_descent(gradient_step, case: DescentCase) -> None:
    shape = (8, 8, 3)
    loss_fn = _loss_function("style", shape, 70)
    x = _random(71, shape, 0.0, 1.0)
    losses = []
    for _ in range(20):
        x, loss = core.call_student(gradient_step, x, loss_fn, 0.05)
        x = core.as_array(x, "new image").astype(FLOAT32)
        losses.append(core.as_scalar(loss, "loss"))
    final = float(loss_fn(_tf().constant(x)))
    if not final < losses[0] or any(b > a * (1 + 1e-6) for a, b in zip(losses, losses[1:], strict=False)):
        raise core.CheckFailure(f"the losses were {np.round(losses[:5], 5)} ... final "
                                f"{final:.5g}: each small step must lower the loss.")


def _step_groups() -> list[CaseGroup]:
    return [
        CaseGroup("quadratic loss (gradient 2 (x - t) / n)",
                  [StepCase("mean((x - t)^2)", "quadratic", shape, lr, seed) for seed, (shape, lr) in
                   enumerate([((6, 5, 3), 0.5), ((1, 4, 4, 3), 2.0), ((3, 7, 1), 10.0)])]),
        CaseGroup("style loss of a small conv network",
                  [StepCase("Gram loss of conv features", "style", shape, lr, 10 + seed) for seed, (shape, lr)
                   in enumerate([((8, 8, 3), 0.1), ((1, 6, 5, 3), 1.0)])]),
        CaseGroup("total variation",
                  [StepCase("total variation", "tv", (6, 6, 3), 0.01, 20),
                   StepCase("total variation", "tv", (2, 5, 4, 3), 0.002, 21)]),
        CaseGroup("clipping to [0, 1]",
                  [StepCase("a loss that pushes pixels out of [0, 1]", "push", (5, 5, 3), 0.4, 30),
                   StepCase("a large step on the quadratic loss", "quadratic", (4, 4, 3), 500.0, 31)]),
        CaseGroup("repeated small steps lower the loss", [DescentCase()]),
        CaseGroup("bad input raises ValueError", [
            BadCase("learning_rate=0", lambda: ((_random(0, (4, 4, 3), 0.0, 1.0),
                                                 _loss_function("quadratic", (4, 4, 3), 0), 0.0), {}),
                    "learning_rate must be > 0"),
            BadCase("learning_rate=-0.1", lambda: ((_random(0, (4, 4, 3), 0.0, 1.0),
                                                    _loss_function("quadratic", (4, 4, 3), 0), -0.1), {}),
                    "learning_rate must be > 0"),
            BadCase("an image in [0, 255]", lambda: ((_random(0, (4, 4, 3), 0.0, 255.0),
                                                      _loss_function("quadratic", (4, 4, 3), 0), 0.1), {}),
                    "image values must be in [0, 1]")]),
    ]


def _check_step(gradient_step, case) -> None:
    if isinstance(case, StepCase):
        check_step_case(gradient_step, case)
    else:
        check_descent(gradient_step, case)


@core.quiet
def public_gradient_step(gradient_step) -> None:
    core.public_case(check_step_case, gradient_step, StepCase("mean((x - t)^2)", "quadratic", (4, 4, 3), 0.5, 1))
    core.public_case(check_step_case, gradient_step, StepCase("a loss that pushes pixels out of [0, 1]", "push", (3, 3, 3), 0.4, 2))
    print("gradient_step: public checks pass (hidden checks: a style loss through a conv network, "
          "total variation, clipping, repeated steps, bad input).")


@core.quiet
def hidden_gradient_step(gradient_step, points: float = 1.0) -> float:
    return core.score_function("gradient_step", gradient_step, _step_groups(), _check_step, points)


# ======================================================================== 5. rgb_to_lab
@dataclass(frozen=True)
class LabCase:
    label: str
    shape: tuple
    seed: int = 0
    low: float = 0.0
    high: float = 1.0
    dtype: type = FLOAT64
    colours: tuple = ()

    def rgb(self) -> np.ndarray:
        if self.colours:
            return np.array(self.colours, dtype=self.dtype)
        return _random(self.seed, self.shape, self.low, self.high, self.dtype)

    def __repr__(self) -> str:
        if self.colours:
            return f"{self.label}: rgb = {list(self.colours)}"
        return f"{self.label}: rgb of shape {self.shape} in [{self.low}, {self.high}], {np.dtype(self.dtype).name}"


def _lab_from_linear(linear: np.ndarray, cube_root_everywhere: bool = False, white=None):
    from skimage.color import colorconv

    xyz = linear @ colorconv.xyz_from_rgb.T
    xyz = xyz / (np.array([0.95047, 1.0, 1.08883]) if white is None else white)
    f = np.cbrt(xyz) if cube_root_everywhere else np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def _lab_variants(rgb: np.ndarray) -> dict:
    rgb = rgb.astype(np.float64)
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    return {
        "Linearise sRGB first: ((c + 0.055) / 1.055) ** 2.4 above 0.04045, c / 12.92 below.":
            _lab_from_linear(rgb),
        "f(t) is linear for small t: 7.787 t + 16 / 116 when t <= 0.008856 (the cube root only above).":
            _lab_from_linear(linear, cube_root_everywhere=True),
        "Divide X, Y, Z by the D65 white point (0.95047, 1.0, 1.08883) before f.":
            _lab_from_linear(linear, white=np.ones(3)),
        "The sRGB linear part is c / 12.92 below 0.04045: check that branch.":
            _lab_from_linear(np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb)),
    }


def check_lab_case(rgb_to_lab, case: LabCase) -> None:
    rgb = case.rgb()
    name = "rgb_to_lab(rgb)"
    got = core.as_array(core.call_student(rgb_to_lab, rgb.copy()), name)
    expected = reference.rgb_to_lab(rgb)
    core.assert_shape(got, expected.shape, name, "Lab has the shape of the input: (..., 3).")
    if got.dtype != np.float64:
        raise core.CheckFailure(f"{name}: expected float64 values, got {got.dtype}: convert the input "
                                "with astype(np.float64) first (float32 loses the 1e-6 precision asked).")
    core.assert_close_or_hint(got, expected, name, LAB_TOL, lambda: _lab_variants(rgb))


def _lab_bad_cases() -> list[BadCase]:
    return [
        BadCase("uint8 pixels in [0, 255]", lambda: ((np.full((2, 2, 3), 200, np.uint8),), {}),
                "rgb must be floats in [0, 1]: divide uint8 images by 255"),
        BadCase("float pixels in [0, 255] (not divided by 255)",
                lambda: ((_random(0, (2, 2, 3), 0.0, 255.0, FLOAT64),), {}), "rgb values must be in [0, 1]"),
        BadCase("negative values", lambda: ((np.full((2, 2, 3), -0.1),), {}), "rgb values must be in [0, 1]"),
        BadCase("channels first: shape (3, 4, 5)", lambda: ((_random(0, (3, 4, 5), 0.0, 1.0, FLOAT64),), {}),
                "the 3 channels must be on the last axis"),
    ]


def _lab_groups() -> list[CaseGroup]:
    return [
        CaseGroup("random colours, one image (H, W, 3)",
                  [LabCase("image", shape, seed) for seed, shape in enumerate([(4, 5, 3), (8, 8, 3), (1, 7, 3)])]),
        CaseGroup("a batch (N, H, W, 3), one colour (3,), float32 input",
                  [LabCase("batch", (2, 3, 4, 3), 10), LabCase("one colour", (3,), 11),
                   LabCase("float32 input", (3, 3, 3), 12, dtype=FLOAT32)]),
        CaseGroup("dark colours: sRGB values <= 0.04045 (the linear part of the sRGB curve)",
                  [LabCase("dark", (5, 5, 3), 20, 0.0, 0.04045), LabCase("dark", (3, 6, 3), 21, 0.0, 0.03)]),
        CaseGroup("colours with t <= 0.008856 in f(t) but sRGB above 0.04045",
                  [LabCase("very dark", (5, 5, 3), 30, 0.045, 0.09), LabCase("very dark", (4, 4, 3), 31, 0.05, 0.08)]),
        CaseGroup("black, white, primaries and greys",
                  [LabCase("fixed colours", (7, 3), colours=((0, 0, 0), (1, 1, 1), (1, 0, 0), (0, 1, 0),
                                                           (0, 0, 1), (0.5, 0.5, 0.5), (0.2, 0.2, 0.2)))]),
        CaseGroup("bad input raises ValueError", _lab_bad_cases()),
    ]


@core.quiet
def public_rgb_to_lab(rgb_to_lab) -> None:
    core.check_numpy_only(rgb_to_lab, np.full((1, 1, 3), 0.5), also_forbidden=("skimage",))
    core.public_case(check_lab_case, rgb_to_lab, LabCase("fixed colours", (3, 3), colours=((0, 0, 0), (1, 1, 1), (1, 0, 0))))
    core.public_case(check_lab_case, rgb_to_lab, LabCase("image", (4, 4, 3), 1))
    print("rgb_to_lab: public checks pass (hidden checks: batches, float32, both branches of the sRGB "
          "curve and of f, bad input).")


@core.quiet
def hidden_rgb_to_lab(rgb_to_lab, points: float = 1.0) -> float:
    core.check_numpy_only(rgb_to_lab, np.full((2, 2, 3), 0.3), also_forbidden=("skimage",))
    return core.score_function("rgb_to_lab", rgb_to_lab, _lab_groups(), check_lab_case, points)


# ======================================================================= 6. soft_encode
def ab_grid(step: float = 10.0, extent: float = 110.0) -> np.ndarray:
    """Bin centres of a square grid over the ab plane, (Q, 2), row by row."""
    values = np.arange(-extent, extent + step / 2, step)
    a, b = np.meshgrid(values, values, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1)


@dataclass(frozen=True)
class SoftCase:
    label: str
    shape: tuple = (4, 5, 2)
    seed: int = 0
    sigma: float = 5.0
    neighbours: int = 5
    bins: str = "grid"  # grid, or random
    points: tuple = ()

    def arrays(self):
        rng = core.rng(self.seed)
        bins = ab_grid() if self.bins == "grid" else rng.uniform(-80, 80, (40, 2))
        ab = np.array(self.points, dtype=np.float64) if self.points else rng.uniform(-90, 90, self.shape)
        return ab, bins

    def __repr__(self) -> str:
        where = f"ab = {list(self.points)}" if self.points else f"ab of shape {self.shape}"
        return (f"{self.label}: {where}, {self.bins} bins, sigma={self.sigma}, "
                f"neighbours={self.neighbours}")


def _soft_variants(ab, bins, sigma, neighbours) -> dict:
    squared = ((ab[..., None, :] - bins) ** 2).sum(-1)
    order = np.argsort(squared, axis=-1, kind="stable")[..., :neighbours]
    d2 = np.take_along_axis(squared, order, -1)

    def scatter(values):
        out = np.zeros(squared.shape)
        np.put_along_axis(out, order, values, -1)
        return out

    raw = np.exp(-d2 / (2 * sigma**2))
    linear = np.exp(-np.sqrt(d2) / (2 * sigma**2))
    return {
        "Normalise the weights of each pixel so that they sum to 1.": scatter(raw),
        "The Gaussian uses the squared distance: exp(-d^2 / (2 sigma^2)).":
            scatter(linear / linear.sum(-1, keepdims=True)),
        "Spread the weight over the `neighbours` nearest bins, not only the nearest one.":
            scatter(np.eye(neighbours)[0] * np.ones_like(d2)),
    }


def check_soft_case(soft_encode, case: SoftCase) -> None:
    ab, bins = case.arrays()
    name = "soft_encode(ab, bins)"
    got = core.as_array(core.call_student(soft_encode, ab.copy(), bins.copy(), sigma=case.sigma,
                                   neighbours=case.neighbours), name)
    expected = core.run_reference(reference.soft_encode, ab, bins, case.sigma, case.neighbours)
    core.assert_shape(got, expected.shape, name, "One weight per bin for each pixel: (..., Q).")
    core.assert_close_or_hint(got, expected, name, _tol64(),
                              lambda: _soft_variants(ab, bins, case.sigma, case.neighbours))


def _soft_bad_cases() -> list[BadCase]:
    bins = ab_grid()
    ab = np.zeros((2, 2, 2))
    return [
        BadCase("ab with 3 values on the last axis (an L channel left in)",
                lambda: ((np.zeros((2, 2, 3)), bins), {}), "ab must be (..., 2)"),
        BadCase("bins of shape (Q, 3)", lambda: ((ab, np.zeros((10, 3))), {}), "bins must be (Q, 2)"),
        BadCase("neighbours=0", lambda: ((ab, bins), {"neighbours": 0}), "neighbours must be in 1..Q"),
        BadCase("neighbours larger than the number of bins",
                lambda: ((ab, bins[:4]), {"neighbours": 5}), "neighbours must be in 1..Q"),
        BadCase("sigma=0", lambda: ((ab, bins), {"sigma": 0.0}), "sigma must be > 0"),
    ]


def _soft_groups() -> list[CaseGroup]:
    return [
        CaseGroup("random colours, bins on a grid of 10",
                  [SoftCase("random", shape, seed) for seed, shape in enumerate([(4, 5, 2), (2, 3, 3, 2), (7, 2)])]),
        CaseGroup("at a bin centre, and halfway between bins (ties: lower bin index first)",
                  [SoftCase("at bin centres", points=((10.0, 20.0), (-30.0, 0.0))),
                   SoftCase("between bins, several at the same distance", points=((5.0, 5.0), (15.0, -25.0)))]),
        CaseGroup("neighbours=1 (one-hot) and neighbours=Q (every bin)",
                  [SoftCase("one neighbour", (3, 4, 2), 20, neighbours=1),
                   SoftCase("every bin", (3, 2), 21, sigma=30.0, neighbours=40, bins="random")]),
        CaseGroup("other sigmas: 2 and 20",
                  [SoftCase("sigma 2", (3, 3, 2), 30, sigma=2.0), SoftCase("sigma 20", (3, 3, 2), 31, sigma=20.0)]),
        CaseGroup("irregular bins (random points), 3 neighbours",
                  [SoftCase("random bins", (4, 4, 2), 40 + s, neighbours=3, bins="random") for s in range(2)]),
        CaseGroup("bad input raises ValueError", _soft_bad_cases()),
    ]


@core.quiet
def public_soft_encode(soft_encode) -> None:
    core.check_numpy_only(soft_encode, np.zeros((1, 2)), ab_grid())
    core.public_case(check_soft_case, soft_encode, SoftCase("at bin centres", points=((10.0, 20.0),)))
    core.public_case(check_soft_case, soft_encode, SoftCase("random", (3, 4, 2), 1))
    print("soft_encode: public checks pass (hidden checks: ties, 1 and Q neighbours, other sigmas, "
          "irregular bins, bad input).")


@core.quiet
def hidden_soft_encode(soft_encode, points: float = 1.0) -> float:
    core.check_numpy_only(soft_encode, np.zeros((1, 2)), ab_grid())
    return core.score_function("soft_encode", soft_encode, _soft_groups(), check_soft_case, points)


# =============================================================== 7. rebalancing_weights
@dataclass(frozen=True)
class PriorCase:
    label: str
    size: int = 30
    seed: int = 0
    mix: float = 0.5
    empty: int = 0  # bins with probability 0
    concentration: float = 0.3
    values: tuple = field(default=())

    def prior(self) -> np.ndarray:
        if self.values:
            return np.array(self.values, dtype=np.float64)
        rng = core.rng(self.seed)
        prior = rng.dirichlet(np.full(self.size, self.concentration))
        prior[:self.empty] = 0.0
        return prior / prior.sum()

    def __repr__(self) -> str:
        what = f"prior {list(self.values)}" if self.values else f"a random prior over {self.size} bins"
        if self.empty:
            what += f" with {self.empty} empty bins"
        return f"{self.label}: {what}, mix={self.mix}"


def _rebalancing_variants(prior, mix) -> dict:
    raw = 1 / ((1 - mix) * prior + mix / prior.size)
    swapped = 1 / (mix * prior + (1 - mix) / prior.size)
    no_inverse = (1 - mix) * prior + mix / prior.size
    return {
        "Normalise: scale the weights so that sum_q p_q w_q = 1 (the expected weight is 1).": raw,
        "Normalise so that sum_q p_q w_q = 1 (the weights of the pixels average 1), not sum_q w_q = 1.":
            raw / raw.sum(),
        "mix weighs the uniform distribution: (1 - mix) * p + mix / Q.": swapped / (prior * swapped).sum(),
        "The weight is the inverse of the smoothed prior: rare colours weigh more.":
            no_inverse / (prior * no_inverse).sum(),
    }


def check_prior_case(rebalancing_weights, case: PriorCase) -> None:
    prior = case.prior()
    name = "rebalancing_weights(prior)"
    got = core.as_array(core.call_student(rebalancing_weights, prior.copy(), mix=case.mix), name)
    expected = core.run_reference(reference.rebalancing_weights, prior, case.mix)
    core.assert_shape(got, expected.shape, name, "One weight per bin: shape (Q,).")
    core.assert_close_or_hint(got, expected, name, _tol64(),
                              lambda: _rebalancing_variants(prior, case.mix))


def _prior_bad_cases() -> list[BadCase]:
    good = PriorCase("good").prior()
    return [
        BadCase("a prior summing to 2", lambda: ((good * 2,), {}), "prior must sum to 1"),
        BadCase("negative probabilities", lambda: ((np.array([0.6, 0.6, -0.2]),), {}), "prior must be >= 0"),
        BadCase("a 2-D prior", lambda: ((good.reshape(5, 6),), {}), "prior must be 1-D"),
        BadCase("mix=0", lambda: ((good,), {"mix": 0.0}), "mix must be in (0, 1]"),
        BadCase("mix=1.5", lambda: ((good,), {"mix": 1.5}), "mix must be in (0, 1]"),
    ]


def _prior_groups() -> list[CaseGroup]:
    return [
        CaseGroup("random priors, mix 0.5",
                  [PriorCase("random", size, seed) for seed, size in enumerate((30, 5, 262))]),
        CaseGroup("other mixes: 0.1, 0.9 and 1 (uniform weights)",
                  [PriorCase("mix", 20, 10, mix) for mix in (0.1, 0.9, 1.0)]),
        CaseGroup("empty bins (p = 0)", [PriorCase("empty bins", 25, 20, empty=6), PriorCase("empty", 8, 21, 0.3, 2)]),
        CaseGroup("a uniform prior (all weights 1) and a two-bin prior",
                  [PriorCase("uniform", values=(0.25, 0.25, 0.25, 0.25)),
                   PriorCase("two bins", values=(0.9, 0.1), mix=0.5)]),
        CaseGroup("bad input raises ValueError", _prior_bad_cases()),
    ]


@core.quiet
def public_rebalancing_weights(rebalancing_weights) -> None:
    core.check_numpy_only(rebalancing_weights, np.full(4, 0.25))
    core.public_case(check_prior_case, rebalancing_weights, PriorCase("two bins", values=(0.9, 0.1)))
    core.public_case(check_prior_case, rebalancing_weights, PriorCase("random", 10, 1))
    print("rebalancing_weights: public checks pass (hidden checks: other mixes, empty bins, a uniform "
          "prior, bad input).")


@core.quiet
def hidden_rebalancing_weights(rebalancing_weights, points: float = 1.0) -> float:
    core.check_numpy_only(rebalancing_weights, np.full(4, 0.25))
    return core.score_function("rebalancing_weights", rebalancing_weights, _prior_groups(),
                               check_prior_case, points)


# ===================================================================== 8. annealed_mean
@dataclass(frozen=True)
class AnnealCase:
    label: str
    temperature: float
    shape: tuple = (3, 4)
    seed: int = 0
    zeros: bool = False
    peaked: bool = False

    def arrays(self):
        rng = core.rng(self.seed)
        bins = rng.uniform(-80, 80, (12, 2))
        z = rng.dirichlet(np.full(12, 0.7), size=self.shape)
        if self.zeros:
            z[..., ::3] = 0.0
        if self.peaked:  # a clear mode, and probabilities small enough that z ** (1 / T) underflows
            z = z * 0.5
            z[..., 5] += 0.5
        return z / z.sum(-1, keepdims=True), bins

    def __repr__(self) -> str:
        extra = ", a third of the probabilities 0" if self.zeros else ""
        return f"{self.label}: probabilities of shape {(*self.shape, 12)}{extra}, temperature={self.temperature}"


def _anneal_variants(z, bins, temperature) -> dict:
    def mean(weights):
        return (weights / weights.sum(-1, keepdims=True)) @ bins

    mode = bins[np.argmax(z, axis=-1)]
    return {
        "Divide log z by the temperature (z ** (1 / T)), do not multiply.": mean(z**temperature),
        "Renormalise the annealed distribution: softmax(log z / T) sums to 1.":
            (z ** (1 / temperature)) @ bins,
        "The annealed mean interpolates: at T = 1 it is the mean, only as T -> 0 the mode.": mode,
    }


def check_anneal_case(annealed_mean, case: AnnealCase) -> None:
    z, bins = case.arrays()
    name = "annealed_mean(probabilities, bins, temperature)"
    got = core.as_array(core.call_student(annealed_mean, z.copy(), bins.copy(), case.temperature), name)
    expected = core.run_reference(reference.annealed_mean, z, bins, case.temperature)
    core.assert_shape(got, expected.shape, name, "One (a, b) per pixel: (..., 2).")
    if not np.isfinite(got).all():
        raise core.CheckFailure(f"{name}: your result has NaN or inf values. At small temperatures "
                                "z ** (1 / T) underflows to 0 (and 0 / 0 = NaN): compute softmax(log z / T) "
                                "after subtracting the largest log z / T of each pixel.")
    core.assert_close_or_hint(got, expected, name, _tol64(), lambda: _anneal_variants(z, bins, case.temperature))


def _anneal_bad_cases() -> list[BadCase]:
    z, bins = AnnealCase("bad", 1.0).arrays()
    return [
        BadCase("temperature=0", lambda: ((z, bins, 0.0), {}), "temperature must be > 0"),
        BadCase("temperature=-1", lambda: ((z, bins, -1.0), {}), "temperature must be > 0"),
        BadCase("probabilities for 11 bins, 12 bins", lambda: ((z[..., :11], bins, 1.0), {}),
                "probabilities must be (..., Q)"),
        BadCase("negative probabilities", lambda: ((z - 0.5, bins, 1.0), {}), "probabilities must be >= 0"),
    ]


def _anneal_groups() -> list[CaseGroup]:
    return [
        CaseGroup("T = 1: the mean", [AnnealCase("T = 1", 1.0, shape, seed) for seed, shape in
                                      enumerate([(3, 4), (5,), (2, 2, 3)])]),
        CaseGroup("T = 0.38 (the paper's) and T = 2",
                  [AnnealCase("T = 0.38", 0.38, (4, 4), 10), AnnealCase("T = 2", 2.0, (3, 3), 11)]),
        CaseGroup("T -> 0: the mode (T = 1e-3 and 1e-6, where z ** (1 / T) underflows)",
                  [AnnealCase("T = 1e-3", 1e-3, (3, 3), 20, peaked=True),
                   AnnealCase("T = 1e-6", 1e-6, (2, 5), 21, peaked=True)]),
        CaseGroup("probabilities that are exactly 0",
                  [AnnealCase("zeros", 0.38, (3, 4), 30, zeros=True), AnnealCase("zeros", 1.0, (6,), 31, zeros=True)]),
        CaseGroup("bad input raises ValueError", _anneal_bad_cases()),
    ]


@core.quiet
def public_annealed_mean(annealed_mean) -> None:
    z, bins = AnnealCase("T = 1", 1.0).arrays()
    core.check_numpy_only(annealed_mean, z, bins, 1.0)
    core.public_case(check_anneal_case, annealed_mean, AnnealCase("T = 1", 1.0, (2, 3), 1))
    core.public_case(check_anneal_case, annealed_mean, AnnealCase("T = 0.38", 0.38, (2, 3), 2))
    print("annealed_mean: public checks pass (hidden checks: T -> 0, T = 2, zero probabilities, "
          "bad input).")


@core.quiet
def hidden_annealed_mean(annealed_mean, points: float = 1.0) -> float:
    z, bins = AnnealCase("T = 1", 1.0).arrays()
    core.check_numpy_only(annealed_mean, z, bins, 1.0)
    return core.score_function("annealed_mean", annealed_mean, _anneal_groups(), check_anneal_case, points)


# ================================================================== 9. window_distances
@dataclass(frozen=True)
class WindowCase:
    label: str
    sample_shape: tuple
    size: int
    sigma: float = 1.5
    seed: int = 0
    known: float = 0.6  # fraction of known pixels in the mask
    cut_at: tuple = ()  # the window is cut from the sample at this (row, column)
    one_known: bool = False

    def arrays(self):
        rng = core.rng(self.seed)
        sample = rng.random(self.sample_shape)
        channels = self.sample_shape[2]
        if self.cut_at:
            y, x = self.cut_at
            window = sample[y:y + self.size, x:x + self.size].copy()
        else:
            window = rng.random((self.size, self.size, channels))
        if self.one_known:
            mask = np.zeros((self.size, self.size), bool)
            mask[0, -1] = True
        else:
            mask = rng.random((self.size, self.size)) < self.known
            mask[self.size // 2, 0] = True  # at least one known pixel
        return sample, window, mask

    def __repr__(self) -> str:
        text = (f"{self.label}: sample {self.sample_shape}, window {self.size}x{self.size}, "
                f"sigma={self.sigma}")
        return text + (f", window cut from the sample at {self.cut_at}" if self.cut_at else "")


def _window_variants(sample, window, mask, sigma) -> dict:
    size = window.shape[0]
    gauss = reference.gaussian_window(size, sigma)
    weighted = gauss * mask
    patches = np.lib.stride_tricks.sliding_window_view(sample, (size, size), axis=(0, 1))
    squared = (patches - window.transpose(2, 0, 1)) ** 2

    def ssd(weights):
        return np.einsum("yxcij,ij->yx", squared, weights)

    return {
        "Divide by the sum of the weights of the known pixels (sum of G * mask).": ssd(weighted),
        "Normalise by the weights of the *known* pixels only: sum of G * mask, not of G.":
            ssd(weighted) / gauss.sum(),
        "Unknown pixels of the window (mask False) must not count.": ssd(gauss) / gauss.sum(),
        "Weight the squared differences with the Gaussian G (centre pixels matter most).":
            ssd(mask.astype(float)) / mask.sum(),
    }


def check_window_case(window_distances, case: WindowCase) -> None:
    sample, window, mask = case.arrays()
    name = "window_distances(sample, window, mask, sigma)"
    got = core.as_array(core.call_student(window_distances, sample.copy(), window.copy(), mask.copy(),
                                   case.sigma), name)
    expected = core.run_reference(reference.window_distances, sample, window, mask, case.sigma)
    hint = (f"One distance per position of the window in the sample: ({sample.shape[0]} - {case.size} + 1, "
            f"{sample.shape[1]} - {case.size} + 1).")
    core.assert_shape(got, expected.shape, name, hint)
    core.assert_close_or_hint(got, expected, name, _tol64(),
                              lambda: _window_variants(sample, window, mask, case.sigma))
    if case.cut_at and tuple(np.unravel_index(np.argmin(got), got.shape)) != case.cut_at:
        raise core.CheckFailure(f"{name}: the smallest distance must be where the window was cut.")


@dataclass(frozen=True)
class VectorisedCase:
    label: str = "vectorised: the lines of your code run do not grow with the sample"

    def __repr__(self) -> str:
        return self.label


def check_vectorised(window_distances, case: VectorisedCase) -> None:
    counts = []
    for side in (12, 24):
        sample, window, mask = WindowCase("size", (side, side, 1), 5, seed=side).arrays()
        _, lines = core.count_lines_run(window_distances, sample, window, mask, 1.5)
        counts.append(lines)
    if counts[1] - counts[0] >= 24 - 12:
        raise core.CheckFailure(
            f"window_distances ran {counts[0]} lines of your code for a 12x12 sample and {counts[1]} for "
            "24x24: it loops over the positions in Python. Vectorise over the positions "
            "(np.lib.stride_tricks.sliding_window_view + einsum, or a loop over the k x k window "
            "offsets, which does not grow with the sample).")


def _window_bad_cases() -> list[BadCase]:
    sample, window, mask = WindowCase("bad", (10, 10, 3), 5).arrays()
    return [
        BadCase("an even window (4x4)", lambda: ((sample, window[:4, :4], mask[:4, :4], 1.5), {}),
                "the window must be square with an odd side"),
        BadCase("a window larger than the sample", lambda: ((sample[:4, :4], window, mask, 1.5), {}),
                "the window must fit in the sample"),
        BadCase("a grey window for a colour sample", lambda: ((sample, window[..., :1], mask, 1.5), {}),
                "window and sample must have the same channels"),
        BadCase("no known pixel in the mask", lambda: ((sample, window, np.zeros((5, 5), bool), 1.5), {}),
                "the mask needs at least one known pixel"),
        BadCase("a mask of the wrong shape", lambda: ((sample, window, np.ones((3, 3), bool), 1.5), {}),
                "mask must be (k, k)"),
        BadCase("a sample without a channel axis (H, W)", lambda: ((sample[..., 0], window, mask, 1.5), {}),
                "sample must be (H, W, C)"),
    ]


def _window_groups() -> list[CaseGroup]:
    return [
        CaseGroup("grey samples (C = 1)",
                  [WindowCase("grey", shape, size, seed=seed) for seed, (shape, size) in
                   enumerate([((12, 12, 1), 5), ((15, 10, 1), 3), ((9, 9, 1), 7)])]),
        CaseGroup("colour samples (C = 3), random masks",
                  [WindowCase("colour", (14, 11, 3), 5, seed=10, known=0.4),
                   WindowCase("colour", (10, 16, 3), 7, seed=11, known=0.8, sigma=2.0)]),
        CaseGroup("a window cut from the sample: distance 0 there",
                  [WindowCase("cut", (12, 12, 3), 5, seed=20, known=1.0, cut_at=(3, 6)),
                   WindowCase("cut, half known", (13, 9, 1), 5, seed=21, known=0.5, cut_at=(7, 1))]),
        CaseGroup("one known pixel; a window as large as the sample; non-square sample",
                  [WindowCase("one known pixel", (10, 10, 3), 5, seed=30, one_known=True),
                   WindowCase("one position", (7, 7, 3), 7, seed=31),
                   WindowCase("wide sample", (5, 20, 1), 5, seed=32)]),
        CaseGroup("sigma 0.5 and 100 (nearly uniform)",
                  [WindowCase("sigma 0.5", (10, 10, 3), 5, sigma=0.5, seed=40),
                   WindowCase("sigma 100", (10, 10, 3), 5, sigma=100.0, seed=41)]),
        CaseGroup("vectorised over positions", [VectorisedCase()]),
        CaseGroup("bad input raises ValueError", _window_bad_cases()),
    ]


def _check_window(window_distances, case) -> None:
    if isinstance(case, WindowCase):
        check_window_case(window_distances, case)
    else:
        check_vectorised(window_distances, case)


@core.quiet
def public_window_distances(window_distances) -> None:
    sample, window, mask = WindowCase("small", (6, 6, 1), 3).arrays()
    core.check_numpy_only(window_distances, sample, window, mask, 1.0)
    core.public_case(check_window_case, window_distances, WindowCase("cut", (9, 8, 3), 3, seed=1, known=1.0, cut_at=(2, 4)))
    core.public_case(check_window_case, window_distances, WindowCase("grey", (10, 10, 1), 5, seed=2))
    print("window_distances: public checks pass (hidden checks: colour, random masks, one known pixel, "
          "edge sizes, sigmas, vectorisation, bad input).")


@core.quiet
def hidden_window_distances(window_distances, points: float = 1.0) -> float:
    sample, window, mask = WindowCase("small", (6, 6, 1), 3).arrays()
    core.check_numpy_only(window_distances, sample, window, mask, 1.0)
    return core.score_function("window_distances", window_distances, _window_groups(), _check_window, points)
