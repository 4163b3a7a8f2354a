"""Checks for the chapter "What a CNN sees" (introspection).

Every check runs the student's function and the reference
(:mod:`autograder.reference.introspection`, ``tf.GradientTape`` on the same
model) on models built here with seeded random weights, and on the course's
EfficientNet-Lite0 with its ImageNet weights.  Exact identities that need no
reference at all are graded too: a linear model's saliency is |its weights|, its
occlusion map has a closed form, CAM's mean plus the bias is the logit, Grad-CAM
on the last map of a GAP head is the normalised ReLU of CAM, integrated
gradients of a linear model are (x - x0) * w and they are complete on a smooth
model.

Tolerances: float32 outputs, ``core.tolerance_for(float32)`` (CPU rtol 1e-4,
atol 1e-5 scaled by max |expected|; GPU rtol 1e-3, atol 1e-4).  The LIME
regression is float64 solved by different algorithms (normal equations,
``lstsq``, scikit-learn): rtol 1e-6, atol 1e-8 (scaled the same way).
Completeness of integrated gradients is a property of the method, not of the
code: relative error below 1e-3 on a smooth model at 256 steps.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from autograder import core
from autograder.reference import common
from autograder.reference import introspection as reference

# graded test cells run these checks in the grading worker, out of the student's reach: the
# grader's models cross to the kernel as architecture and weights; the fooling image's model
# calls are counted there (``common.call_counting_model_calls``)
CHECKS_RUN_IN = "worker"

FLOAT32 = np.float32
LIME_TOL = core.Tolerance(1e-6, 1e-8)
COMPLETENESS_RTOL = 1e-3
LITE0_SIZE = 96  # pixels: Lite0's weights work at any size; 96 keeps each check fast


# ============================================================== models for the checks
def _keras():
    import keras

    return keras


def _randomise(model, seed: int, scale: float = 1.0):
    """Seeded random weights scaled by 1/sqrt(fan_in) (biases too): the checks never use
    Keras' global random state, so they do not change the student's."""
    rng = core.rng(seed)
    values = []
    for weight in model.weights:
        shape = tuple(weight.shape)
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
        values.append((rng.standard_normal(shape) * scale / np.sqrt(fan_in)).astype(FLOAT32))
    model.set_weights(values)
    return model


def linear_model(shape, n_classes: int, seed: int):
    """logits = flatten(x) @ W + b."""
    keras = _keras()
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(n_classes)])
    return _randomise(model, seed)


def linear_weights(model, shape) -> tuple[np.ndarray, np.ndarray]:
    """The kernel of :func:`linear_model` as (H, W, C, classes), and its bias."""
    kernel, bias = (np.asarray(w) for w in model.layers[-1].get_weights())
    return kernel.reshape(*shape, -1), bias


def conv_model(shape, n_classes: int, seed: int, activation: str = "relu", dropout: bool = False,
               scale: float = 1.0):
    """conv 3x3 (4) -> conv 3x3 (6) named "last_conv" -> GAP -> [Dropout] -> Dense."""
    keras = _keras()
    layers = keras.layers
    stack = [
        keras.Input(shape),
        layers.Conv2D(4, 3, padding="same", activation=activation, name="first_conv"),
        layers.Conv2D(6, 3, padding="same", activation=activation, name="last_conv"),
        layers.GlobalAveragePooling2D(),
    ]
    if dropout:
        stack.append(layers.Dropout(0.5))
    stack.append(layers.Dense(n_classes))
    return _randomise(keras.Sequential(stack), seed, scale)


def flat_conv_model(shape, n_classes: int, seed: int):
    """conv 3x3 (4), ReLU -> Flatten -> Dense: every pixel reaches the logits directly."""
    keras = _keras()
    model = keras.Sequential([keras.Input(shape),
                              keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(n_classes)])
    return _randomise(model, seed)


def nested_model(shape, n_classes: int, seed: int):
    """A backbone model (conv "inner_conv" inside) used as one layer, then GAP -> Dense."""
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input(shape)
    x = layers.Conv2D(5, 3, padding="same", activation="relu", name="inner_conv")(inputs)
    x = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="inner_top")(x)
    backbone = keras.Model(inputs, x, name="backbone")
    model = keras.Sequential([keras.Input(shape), backbone, layers.GlobalAveragePooling2D(),
                              layers.Dense(n_classes)], name="nested")
    return _randomise(model, seed)


def negative_head_model(shape, n_classes: int, seed: int):
    """ReLU features (>= 0) and a head whose weights for class 0 are all negative:
    every weighted activation for class 0 is <= 0, so Grad-CAM's ReLU leaves zeros."""
    model = conv_model(shape, n_classes, seed)
    kernel, bias = model.layers[-1].get_weights()
    kernel[:, 0] = -np.abs(kernel[:, 0]) - 0.1
    model.layers[-1].set_weights([kernel, bias])
    return model


@functools.cache
def _lite0_full():
    from cnnvision import imagenet

    return imagenet.efficientnet_lite0(input_shape=(LITE0_SIZE, LITE0_SIZE, 3))


def lite0_model(nested: bool = False):
    """The course's EfficientNet-Lite0 (ImageNet weights) at 96 px; ``nested``: its backbone
    used as one layer of a Sequential model, then GAP and the same Dense logits."""
    full = _lite0_full()
    if not nested:
        return full
    return _lite0_nested()


@functools.cache
def _lite0_nested():
    keras = _keras()
    full = _lite0_full()
    backbone = keras.Model(full.inputs, full.get_layer("top_activation").output, name="backbone")
    dense = keras.layers.Dense(full.get_layer("logits").units, name="logits")
    model = keras.Sequential([keras.Input((LITE0_SIZE, LITE0_SIZE, 3)), backbone,
                              keras.layers.GlobalAveragePooling2D(), dense])
    dense.set_weights(full.get_layer("logits").get_weights())
    return model


@functools.cache
def lite0_image() -> np.ndarray:
    """The cat photo, 96 px, preprocessed for Lite0 (values in about [-1, 1])."""
    from cnnvision import data, imagenet

    return imagenet.preprocess_input(imagenet.load_and_prepare(data.sample_image("chelsea"), LITE0_SIZE))


def _images(rng, batch, shape, low=0.0, high=1.0) -> np.ndarray:
    return rng.uniform(low, high, (batch, *shape)).astype(FLOAT32)


# ================================================================ shared helpers
def _tolerance():
    return core.tolerance_for(FLOAT32)


def _as_array(got, name: str) -> np.ndarray:
    if hasattr(got, "numpy"):
        got = got.numpy()
    if not isinstance(got, np.ndarray):
        raise core.CheckFailure(f"{name} should return a numpy array, got {type(got).__name__}.")
    if not np.issubdtype(got.dtype, np.number):
        raise core.CheckFailure(f"{name} should return numbers, got an array of dtype {got.dtype}.")
    if not np.all(np.isfinite(got)):
        raise core.CheckFailure(f"{name} returned NaN or infinite values (a division by zero?).")
    return got


def _compare(got, expected, name: str, variants=None, tol=None) -> None:
    """Compare with the reference; on failure, name the classic mistake the output matches
    (``variants``: see :func:`core.assert_close_or_hint`)."""
    core.assert_close_or_hint(_as_array(got, name), expected, name, tol or _tolerance(), variants)


BadCase = core.BadCase
_check_bad = core.check_bad_case


# ===================================================================== saliency
@dataclass(frozen=True)
class SaliencyCase:
    kind: str  # "linear", "conv" or "saturated"
    shape: tuple
    batch: int
    n_classes: int
    class_index: int
    seed: int

    def __repr__(self) -> str:
        return (f"saliency_map({self.kind} model, images of shape {(self.batch, *self.shape)}, "
                f"class_index={self.class_index})")

    def model(self):
        if self.kind == "linear":
            return linear_model(self.shape, self.n_classes, self.seed)
        scale = 8.0 if self.kind == "saturated" else 1.0
        return conv_model(self.shape, self.n_classes, self.seed, scale=scale)

    def images(self):
        return _images(core.rng(self.seed + 1), self.batch, self.shape)


def _saliency_variants(model, images, class_index) -> dict:
    tf = reference._tf()
    x = tf.convert_to_tensor(images)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        logits = model(x, training=False)
        probability = tf.reduce_sum(tf.nn.softmax(logits)[:, class_index])
        loss = -tf.reduce_sum(tf.nn.log_softmax(logits)[:, class_index])
    logit_gradient = reference.input_gradients(model, images, class_index)
    return {
        "You took the gradient of the softmax probability: use the logit (the model's output), "
        "the probability saturates.": np.abs(tape.gradient(probability, x).numpy()).max(axis=-1),
        "You took the gradient of the loss: use the class logit.":
            np.abs(tape.gradient(loss, x).numpy()).max(axis=-1),
        "Take the absolute value of the gradient before the max over channels.":
            logit_gradient.max(axis=-1),
        "Reduce over the channels with the max of |gradient|, not the sum.":
            np.abs(logit_gradient).sum(axis=-1),
        "Reduce over the channels with the max of |gradient|, not the mean.":
            np.abs(logit_gradient).mean(axis=-1),
    }


def check_saliency_case(saliency_map, case: SaliencyCase) -> None:
    model, images = case.model(), case.images()
    expected = reference.saliency_map(model, images, case.class_index)
    if case.kind == "linear":  # exact identity: the gradient of a linear logit is its weights
        kernel, _ = linear_weights(model, case.shape)
        identity = np.abs(kernel[..., case.class_index]).max(axis=-1)
        expected = np.broadcast_to(identity, (case.batch, *identity.shape)).astype(FLOAT32)
    got = core.call_student(saliency_map, model, images.copy(), case.class_index)
    _compare(got, expected, "saliency_map", lambda: _saliency_variants(model, images, case.class_index))


def _saliency_bad_cases() -> list[BadCase]:
    def args(shape, class_index, batch=True):
        model = conv_model((6, 6, 3), 4, 90)
        images = _images(core.rng(0), 2, (6, 6, 3))
        return (model, images if batch else images[0], class_index), {}

    return [
        BadCase("class_index=4 with 4 classes", lambda: args((6, 6, 3), 4), "class_index must be in 0..3"),
        BadCase("class_index=-1", lambda: args((6, 6, 3), -1), "class_index must be in 0..3"),
        BadCase("one image (H, W, C) without its batch axis", lambda: args((6, 6, 3), 0, batch=False),
                "images must be a batch (N, H, W, C)"),
    ]


PUBLIC_SALIENCY = [
    SaliencyCase("linear", (4, 5, 3), 1, 3, 1, seed=1),
    SaliencyCase("conv", (6, 6, 3), 2, 4, 2, seed=2),
]


def public_saliency_map(saliency_map) -> None:
    for case in PUBLIC_SALIENCY:
        try:
            check_saliency_case(saliency_map, case)
        except core.CheckFailure as failure:
            raise core.CheckFailure(f"{case!r}: {failure}") from None
    for case in _saliency_bad_cases()[:1]:
        _check_bad(saliency_map, case)
    print(f"saliency_map: {len(PUBLIC_SALIENCY) + 1} public checks pass.")


def hidden_saliency_map(saliency_map, points: float = 1.0) -> float:
    seeds = iter(range(200, 400))
    groups = [
        core.CaseGroup("linear model: saliency = max over channels of |weights|", [
            SaliencyCase("linear", (5, 4, 3), 1, 3, 0, next(seeds)),
            SaliencyCase("linear", (6, 6, 1), 2, 4, 3, next(seeds)),
            SaliencyCase("linear", (3, 7, 2), 3, 2, 1, next(seeds))]),
        core.CaseGroup("conv models, one image, vs tf.GradientTape", [
            SaliencyCase("conv", (8, 8, 3), 1, 5, c, next(seeds)) for c in (0, 2, 4)]),
        core.CaseGroup("batches: one map per image", [
            SaliencyCase("conv", (7, 9, 3), 4, 3, 1, next(seeds)),
            SaliencyCase("conv", (6, 5, 1), 3, 2, 0, next(seeds))]),
        core.CaseGroup("confident model (saturated softmax): the logit's gradient", [
            SaliencyCase("saturated", (8, 8, 3), 2, 4, c, next(seeds)) for c in (0, 3)]),
        core.CaseGroup("bad arguments raise ValueError", _saliency_bad_cases()),
    ]
    return core.score_function("saliency_map", saliency_map, groups, check_saliency_case, points)


# ==================================================================== occlusion
@dataclass(frozen=True)
class OcclusionCase:
    kind: str  # "linear" or "conv"
    shape: tuple
    patch: int
    stride: int
    class_index: int
    seed: int
    fill: object = 0.0

    def __repr__(self) -> str:
        return (f"occlusion_map({self.kind} model, image of shape {self.shape}, class_index="
                f"{self.class_index}, patch={self.patch}, stride={self.stride}, fill={self.fill!r})")

    def model(self):
        if self.kind == "linear":
            return linear_model(self.shape, 3, self.seed)
        return conv_model(self.shape, 3, self.seed)

    def image(self):
        return _images(core.rng(self.seed + 1), 1, self.shape)[0]


def _occlusion_hint(case: OcclusionCase) -> str:
    height, width = case.shape[:2]
    rows = (height - case.patch) // case.stride + 1
    cols = (width - case.patch) // case.stride + 1
    return (f"Patch corners are 0, stride, 2*stride, ... while the patch fits: "
            f"({height} - {case.patch}) // {case.stride} + 1 = {rows} rows and "
            f"({width} - {case.patch}) // {case.stride} + 1 = {cols} columns.")


def check_occlusion_case(occlusion_map, case: OcclusionCase) -> None:
    model, image = case.model(), case.image()
    fill = np.asarray(case.fill, FLOAT32) if isinstance(case.fill, tuple) else case.fill
    expected = reference.occlusion_map(model, image, case.class_index, case.patch, case.stride, fill)
    if case.kind == "linear":  # closed form, float64
        kernel, _ = linear_weights(model, case.shape)
        closed = reference.linear_occlusion_map(kernel[..., case.class_index], image, case.patch,
                                                case.stride, fill)
        core.assert_close(expected, closed, "reference vs closed form", core.Tolerance(1e-4, 1e-5))
        expected = closed.astype(FLOAT32)
    got = core.call_student(occlusion_map, model, image.copy(), case.class_index, case.patch,
                            case.stride, fill=fill)
    got_array = _as_array(got, "occlusion_map")
    if got_array.shape != expected.shape:
        core.assert_shape(got_array, expected.shape, "occlusion_map", _occlusion_hint(case))
    variants = {
        "Your map is transposed: rows follow the patch's top edge (image rows), columns its left "
        "edge.": expected.T if expected.shape[0] == expected.shape[1] else np.zeros((0,)),
        "Wrong sign: the map is logit(original) - logit(occluded), positive where hiding the patch "
        "lowers the score.": -expected,
    }
    _compare(got_array, expected, "occlusion_map", variants)


def _occlusion_bad_cases() -> list[BadCase]:
    def args(shape=(6, 8, 3), class_index=0, patch=2, stride=2, batch=False):
        model = conv_model((6, 8, 3), 3, 91)
        image = _images(core.rng(0), 1, shape)
        return (model, image if batch else image[0], class_index, patch, stride), {}

    return [
        BadCase("patch=7 on a 6x8 image", lambda: args(patch=7), "the patch must fit in the image"),
        BadCase("patch=0", lambda: args(patch=0), "patch must be >= 1"),
        BadCase("stride=0", lambda: args(stride=0), "stride must be >= 1"),
        BadCase("class_index=3 with 3 classes", lambda: args(class_index=3), "class_index must be in 0..2"),
        BadCase("a batch (1, H, W, C) instead of one image", lambda: args(batch=True),
                "image must be one image (H, W, C)"),
    ]


PUBLIC_OCCLUSION = [
    OcclusionCase("linear", (6, 6, 1), 2, 2, 0, seed=1),
    OcclusionCase("conv", (7, 9, 3), 3, 2, 1, seed=2),
]


def public_occlusion_map(occlusion_map) -> None:
    for case in PUBLIC_OCCLUSION:
        try:
            check_occlusion_case(occlusion_map, case)
        except core.CheckFailure as failure:
            raise core.CheckFailure(f"{case!r}: {failure}") from None
    _check_bad(occlusion_map, _occlusion_bad_cases()[0])
    print(f"occlusion_map: {len(PUBLIC_OCCLUSION) + 1} public checks pass.")


def hidden_occlusion_map(occlusion_map, points: float = 1.0) -> float:
    seeds = iter(range(400, 600))
    groups = [
        core.CaseGroup("linear model: closed form", [
            OcclusionCase("linear", (6, 6, 2), 2, 2, 1, next(seeds)),
            OcclusionCase("linear", (7, 5, 1), 3, 2, 2, next(seeds)),
            OcclusionCase("linear", (8, 8, 3), 4, 1, 0, next(seeds), fill=0.5)]),
        core.CaseGroup("stride = patch (no overlap)", [
            OcclusionCase("conv", (8, 8, 3), 2, 2, 0, next(seeds)),
            OcclusionCase("conv", (9, 9, 1), 3, 3, 2, next(seeds))]),
        core.CaseGroup("stride < patch (overlapping patches)", [
            OcclusionCase("conv", (8, 8, 3), 3, 1, 1, next(seeds)),
            OcclusionCase("conv", (10, 10, 2), 4, 2, 0, next(seeds))]),
        core.CaseGroup("stride that does not divide the image (last patches dropped)", [
            OcclusionCase("conv", (10, 10, 3), 3, 4, 2, next(seeds)),
            OcclusionCase("conv", (9, 11, 1), 2, 3, 1, next(seeds)),
            OcclusionCase("conv", (7, 7, 3), 5, 3, 0, next(seeds))]),
        core.CaseGroup("non-square images (rows vs columns)", [
            OcclusionCase("conv", (6, 10, 3), 2, 2, 1, next(seeds)),
            OcclusionCase("conv", (11, 5, 2), 3, 2, 0, next(seeds))]),
        core.CaseGroup("patch as large as the image (a 1x1 map) and 1-pixel patches", [
            OcclusionCase("conv", (5, 5, 3), 5, 1, 2, next(seeds)),
            OcclusionCase("conv", (4, 6, 1), 1, 1, 0, next(seeds))]),
        core.CaseGroup("fill: a scalar grey and one value per channel", [
            OcclusionCase("conv", (8, 8, 3), 3, 2, 0, next(seeds), fill=0.5),
            OcclusionCase("conv", (8, 7, 3), 2, 3, 1, next(seeds), fill=(0.2, 0.5, 0.9))]),
        core.CaseGroup("bad arguments raise ValueError", _occlusion_bad_cases()),
    ]
    return core.score_function("occlusion_map", occlusion_map, groups, check_occlusion_case, points)


# ========================================================================== CAM
@dataclass(frozen=True)
class CamCase:
    kind: str  # "conv", "dropout" or "lite0"
    shape: tuple
    class_index: int
    seed: int

    def __repr__(self) -> str:
        what = {"conv": "GAP -> Dense model", "dropout": "GAP -> Dropout -> Dense model",
                "lite0": "EfficientNet-Lite0"}[self.kind]
        return f"class_activation_map({what}, image of shape {self.shape}, class_index={self.class_index})"

    def model(self):
        if self.kind == "lite0":
            return lite0_model()
        return conv_model(self.shape, 5, self.seed, dropout=self.kind == "dropout")

    def image(self):
        if self.kind == "lite0":
            return lite0_image()
        return _images(core.rng(self.seed + 1), 1, self.shape)[0]


def check_cam_case(class_activation_map, case: CamCase) -> None:
    model, image = case.model(), case.image()
    expected = reference.class_activation_map(model, image, case.class_index)
    pool, dense = reference.gap_head(model)
    logit = reference.logits_of(model, image[None])[0, case.class_index]
    bias = float(np.asarray(dense.bias)[case.class_index])
    core.assert_close(np.float32(expected.mean() + bias), np.float32(logit),
                      "reference: mean(CAM) + bias = logit", _tolerance())
    got = core.call_student(class_activation_map, model, image.copy(), case.class_index)

    def variants():
        maps = np.asarray(_keras().Model(model.inputs, pool.input)(image[None], training=False))[0]
        return {
            "Apply no ReLU: CAM is the plain weighted sum (negative values included).":
                np.maximum(expected, 0),
            "Add no bias: CAM is sum_k w[k, c] A_k (its mean plus the bias is the logit).": expected + bias,
            "Weight each feature map A_k by the Dense kernel's entry w[k, c] before summing over k.":
                maps.mean(axis=-1),
        }

    _compare(got, expected, "class_activation_map", variants)


def _cam_bad_cases() -> list[BadCase]:
    def no_gap():
        keras = _keras()
        model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3),
                                  keras.layers.Flatten(), keras.layers.Dense(3)])
        return (_randomise(model, 3), _images(core.rng(0), 1, (6, 6, 3))[0], 0), {}

    def out_of_range():
        return (conv_model((6, 6, 3), 5, 92), _images(core.rng(0), 1, (6, 6, 3))[0], 5), {}

    return [
        BadCase("a model with Flatten instead of GlobalAveragePooling2D", no_gap,
                "CAM needs a GlobalAveragePooling2D -> Dense head"),
        BadCase("class_index=5 with 5 classes", out_of_range, "class_index must be in 0..4"),
    ]


PUBLIC_CAM = [CamCase("conv", (6, 6, 3), 1, seed=1)]


def public_class_activation_map(class_activation_map) -> None:
    for case in PUBLIC_CAM:
        try:
            check_cam_case(class_activation_map, case)
        except core.CheckFailure as failure:
            raise core.CheckFailure(f"{case!r}: {failure}") from None
    print(f"class_activation_map: {len(PUBLIC_CAM)} public check passes.")


def hidden_class_activation_map(class_activation_map, points: float = 1.0) -> float:
    seeds = iter(range(600, 700))
    groups = [
        core.CaseGroup("GAP -> Dense heads (mean(CAM) + bias = logit)", [
            CamCase("conv", (8, 8, 3), c, next(seeds)) for c in (0, 4)]),
        core.CaseGroup("non-square maps", [CamCase("conv", (6, 10, 1), 2, next(seeds)),
                                           CamCase("conv", (9, 5, 3), 3, next(seeds))]),
        core.CaseGroup("Dropout between the pooling and the Dense layer", [
            CamCase("dropout", (7, 7, 3), 1, next(seeds))]),
        core.CaseGroup("EfficientNet-Lite0 (ImageNet weights)", [
            CamCase("lite0", (LITE0_SIZE, LITE0_SIZE, 3), c, 0) for c in (281, 967)]),
        core.CaseGroup("bad arguments raise ValueError", _cam_bad_cases()),
    ]
    return core.score_function("class_activation_map", class_activation_map, groups, check_cam_case, points)


# ===================================================================== Grad-CAM
@dataclass(frozen=True)
class GradCamCase:
    kind: str  # "conv", "nested", "negative", "lite0", "lite0-nested"
    shape: tuple
    layer_name: str
    class_index: int
    seed: int

    def __repr__(self) -> str:
        return (f"grad_cam({self.kind} model, image of shape {self.shape}, "
                f"layer_name={self.layer_name!r}, class_index={self.class_index})")

    def model(self):
        if self.kind.startswith("lite0"):
            return lite0_model(nested=self.kind == "lite0-nested")
        builder = {"conv": conv_model, "nested": nested_model, "negative": negative_head_model}
        return builder[self.kind](self.shape, 4, self.seed)

    def image(self):
        if self.kind.startswith("lite0"):
            return lite0_image()
        return _images(core.rng(self.seed + 1), 1, self.shape)[0]


def _grad_cam_variants(model, image, case) -> dict:
    tf = reference._tf()
    forward = reference.split_at_layer(model, case.layer_name)
    x = tf.convert_to_tensor(image[None])
    with tf.GradientTape() as tape:
        maps, logits = forward(x)
        score = logits[0, case.class_index]
    gradients = tape.gradient(score, maps)[0].numpy()
    maps = maps[0].numpy()

    def normalised(heat):
        heat = np.maximum(heat, 0)
        return heat / heat.max() if heat.max() > 0 else np.zeros_like(heat)

    weighted = (maps * gradients.mean(axis=(0, 1))).sum(axis=-1)
    return {
        "Average the gradients over the positions (mean), not the max.":
            normalised((maps * gradients.max(axis=(0, 1))).sum(axis=-1)),
        "Apply the ReLU after the weighted sum over channels, not to each weighted map.":
            normalised(np.maximum(maps * gradients.mean(axis=(0, 1)), 0).sum(axis=-1)),
        "Apply a ReLU to the weighted sum (keep only what raises the class score).":
            weighted / np.abs(weighted).max() if np.abs(weighted).max() > 0 else weighted,
        "Divide by the maximum to bring the map into [0, 1].": np.maximum(weighted, 0),
    }


def check_grad_cam_case(grad_cam, case: GradCamCase) -> None:
    model, image = case.model(), case.image()
    expected = reference.grad_cam(model, image, case.layer_name, case.class_index)
    if case.kind == "conv" and case.layer_name == "last_conv":  # identity with CAM
        cam = reference.class_activation_map(model, image, case.class_index)
        positions = cam.shape[0] * cam.shape[1]
        before_relu = reference.grad_cam_weighted_sum(model, image, case.layer_name, case.class_index)
        core.assert_close(before_relu, cam / positions, "reference: Grad-CAM = CAM / (H*W)", _tolerance())
    got = core.call_student(grad_cam, model, image.copy(), case.layer_name, case.class_index)
    got_array = _as_array(got, "grad_cam")
    if case.kind == "negative" and not got_array.any() and got_array.shape == expected.shape:
        return  # all zeros, as expected
    _compare(got_array, expected, "grad_cam", lambda: _grad_cam_variants(model, image, case))


def _grad_cam_bad_cases() -> list[BadCase]:
    def args(layer_name="last_conv", class_index=0):
        model = conv_model((6, 6, 3), 4, 93)
        return (model, _images(core.rng(0), 1, (6, 6, 3))[0], layer_name, class_index), {}

    return [
        BadCase("layer_name='no_such_layer'", lambda: args("no_such_layer"),
                "the layer is not in the model"),
        BadCase("class_index=4 with 4 classes", lambda: args(class_index=4), "class_index must be in 0..3"),
    ]


PUBLIC_GRAD_CAM = [GradCamCase("conv", (6, 6, 3), "last_conv", 1, seed=1),
                   GradCamCase("conv", (8, 6, 3), "first_conv", 2, seed=2)]


def public_grad_cam(grad_cam) -> None:
    for case in PUBLIC_GRAD_CAM:
        try:
            check_grad_cam_case(grad_cam, case)
        except core.CheckFailure as failure:
            raise core.CheckFailure(f"{case!r}: {failure}") from None
    _check_bad(grad_cam, _grad_cam_bad_cases()[0])
    print(f"grad_cam: {len(PUBLIC_GRAD_CAM) + 1} public checks pass.")


def hidden_grad_cam(grad_cam, points: float = 1.0) -> float:
    seeds = iter(range(700, 800))
    groups = [
        core.CaseGroup("last map of a GAP head (= normalised ReLU of CAM)", [
            GradCamCase("conv", (8, 8, 3), "last_conv", c, next(seeds)) for c in (0, 3)]),
        core.CaseGroup("an earlier layer, non-square images", [
            GradCamCase("conv", (9, 6, 3), "first_conv", 1, next(seeds)),
            GradCamCase("conv", (6, 10, 2), "first_conv", 2, next(seeds))]),
        core.CaseGroup("a backbone model used as a layer (nested)", [
            GradCamCase("nested", (8, 8, 3), "inner_conv", 0, next(seeds)),
            GradCamCase("nested", (10, 7, 3), "inner_top", 3, next(seeds))]),
        core.CaseGroup("every weighted activation negative: zeros, not NaN", [
            GradCamCase("negative", (6, 6, 3), "last_conv", 0, next(seeds))]),
        core.CaseGroup("EfficientNet-Lite0: top_activation and block6a_activation, nested backbone", [
            GradCamCase("lite0", (LITE0_SIZE, LITE0_SIZE, 3), "top_activation", 281, 0),
            GradCamCase("lite0", (LITE0_SIZE, LITE0_SIZE, 3), "block6a_activation", 281, 0),
            GradCamCase("lite0-nested", (LITE0_SIZE, LITE0_SIZE, 3), "top_activation", 285, 0)]),
        core.CaseGroup("bad arguments raise ValueError", _grad_cam_bad_cases()),
    ]
    return core.score_function("grad_cam", grad_cam, groups, check_grad_cam_case, points)


# ========================================================= integrated gradients
@dataclass(frozen=True)
class IgCase:
    kind: str  # "linear", "smooth" or "conv"
    shape: tuple
    class_index: int
    steps: int
    seed: int
    baseline: str = "zeros"  # "zeros", "constant" or "image"
    complete: bool = False  # also check sum(IG) = f(x) - f(x0)

    def __repr__(self) -> str:
        return (f"integrated_gradients({self.kind} model, image of shape {self.shape}, class_index="
                f"{self.class_index}, baseline={self.baseline}, steps={self.steps})")

    def model(self):
        if self.kind == "linear":
            return linear_model(self.shape, 3, self.seed)
        activation = "tanh" if self.kind == "smooth" else "relu"
        return conv_model(self.shape, 3, self.seed, activation=activation)

    def arguments(self):
        rng = core.rng(self.seed + 1)
        image = _images(rng, 1, self.shape)[0]
        baseline = {"zeros": 0.0, "constant": 0.5,
                    "image": _images(rng, 1, self.shape, 0.0, 0.3)[0]}[self.baseline]
        return image, baseline


def check_ig_case(integrated_gradients, case: IgCase) -> None:
    model, (image, baseline) = case.model(), case.arguments()
    expected = reference.integrated_gradients(model, image, case.class_index, baseline, case.steps)
    if case.kind == "linear":  # exact: the gradient is the weights everywhere
        kernel, _ = linear_weights(model, case.shape)
        expected = ((image - baseline) * kernel[..., case.class_index]).astype(FLOAT32)
    got = core.call_student(integrated_gradients, model, image.copy(), case.class_index,
                            baseline=baseline, steps=case.steps)
    start = np.broadcast_to(np.asarray(baseline, FLOAT32), image.shape)

    def variants():
        alphas = (np.arange(case.steps) / case.steps)[:, None, None, None].astype(FLOAT32)
        left = reference.input_gradients(model, start[None] + alphas * (image - start)[None], case.class_index)
        return {
            "Multiply the averaged gradients by (x - baseline).":
                expected / np.where(image - start == 0, 1, image - start),
            "Use the midpoint rule: alpha_k = (k + 1/2) / steps, not k / steps.":
                ((image - start) * left.mean(axis=0)).astype(FLOAT32),
            "Average the gradients over the steps (divide by steps), do not sum them.":
                expected * case.steps,
        }

    _compare(got, expected, "integrated_gradients", variants)
    if case.complete:
        got = np.asarray(got, np.float64)
        logits = reference.logits_of(model, np.stack([image, start]))[:, case.class_index]
        change = float(logits[0] - logits[1])
        error = abs(float(got.sum()) - change)
        if error > COMPLETENESS_RTOL * max(abs(change), 1e-3):
            raise core.CheckFailure(
                f"integrated_gradients: not complete: the attributions sum to {got.sum():.6g} but "
                f"f(x) - f(baseline) = {change:.6g} (relative error {error / max(abs(change), 1e-3):.2g},"
                f" allowed {COMPLETENESS_RTOL:g} on this smooth model at {case.steps} steps).")


def _ig_bad_cases() -> list[BadCase]:
    def args(steps=8, baseline=0.0, class_index=0):
        model = conv_model((6, 6, 3), 3, 94)
        return (model, _images(core.rng(0), 1, (6, 6, 3))[0], class_index), {
            "baseline": baseline, "steps": steps}

    return [
        BadCase("steps=0", lambda: args(steps=0), "steps must be >= 1"),
        BadCase("a baseline of shape (5, 5, 3) for a (6, 6, 3) image",
                lambda: args(baseline=np.zeros((5, 5, 3), FLOAT32)), "the baseline must match the image"),
        BadCase("class_index=3 with 3 classes", lambda: args(class_index=3), "class_index must be in 0..2"),
    ]


PUBLIC_IG = [IgCase("linear", (4, 4, 3), 1, 8, seed=1), IgCase("conv", (6, 6, 3), 0, 8, seed=2)]


def public_integrated_gradients(integrated_gradients) -> None:
    for case in PUBLIC_IG:
        try:
            check_ig_case(integrated_gradients, case)
        except core.CheckFailure as failure:
            raise core.CheckFailure(f"{case!r}: {failure}") from None
    _check_bad(integrated_gradients, _ig_bad_cases()[0])
    print(f"integrated_gradients: {len(PUBLIC_IG) + 1} public checks pass.")


def hidden_integrated_gradients(integrated_gradients, points: float = 1.0) -> float:
    seeds = iter(range(800, 900))
    groups = [
        core.CaseGroup("linear model: (x - x0) * w exactly", [
            IgCase("linear", (5, 4, 3), 2, 4, next(seeds)),
            IgCase("linear", (6, 6, 1), 0, 16, next(seeds), baseline="image")]),
        core.CaseGroup("ReLU conv models, midpoint rule with few steps (1, 3, 8)", [
            IgCase("conv", (7, 7, 3), 1, s, next(seeds)) for s in (1, 3, 8)]),
        core.CaseGroup("baselines: constant grey and another image", [
            IgCase("conv", (8, 6, 3), 2, 16, next(seeds), baseline="constant"),
            IgCase("conv", (6, 8, 2), 0, 16, next(seeds), baseline="image")]),
        core.CaseGroup("smooth model: complete at 256 steps (sum = f(x) - f(x0))", [
            IgCase("smooth", (6, 6, 3), 1, 256, next(seeds), complete=True),
            IgCase("smooth", (5, 7, 3), 2, 256, next(seeds), baseline="image", complete=True)]),
        core.CaseGroup("bad arguments raise ValueError", _ig_bad_cases()),
    ]
    return core.score_function("integrated_gradients", integrated_gradients, groups, check_ig_case, points)


# ========================================================================= LIME
@dataclass(frozen=True)
class LimeCase:
    samples: int
    segments: int
    seed: int
    kernel_width: float = 0.25
    ridge: float = 1.0
    exact: bool = False  # scores exactly linear in the masks
    extremes: bool = False  # first rows all on and all off

    def __repr__(self) -> str:
        extra = ", rows all-on and all-off" if self.extremes else ""
        return (f"lime_weights(masks {self.samples}x{self.segments}{extra}, scores, kernel_width="
                f"{self.kernel_width}, ridge={self.ridge})")

    def arguments(self):
        rng = core.rng(self.seed)
        masks = rng.integers(0, 2, (self.samples, self.segments)).astype(np.int64)
        if self.extremes:
            masks[0], masks[1] = 1, 0
        true_weights = rng.normal(size=self.segments)
        scores = masks @ true_weights + 0.7
        if not self.exact:
            scores = scores + rng.normal(scale=0.5, size=self.samples)
        return masks, scores, true_weights


def check_lime_case(lime_weights, case: LimeCase) -> None:
    masks, scores, true_weights = case.arguments()
    coefficients, intercept = reference.lime_weights(masks, scores, case.kernel_width, case.ridge)
    if case.exact and case.ridge == 0:
        core.assert_close(coefficients, true_weights, "reference on exact data", LIME_TOL)
    got = core.call_student(lime_weights, masks.copy(), scores.copy(), kernel_width=case.kernel_width,
                            ridge=case.ridge)
    if not isinstance(got, tuple) or len(got) != 2:
        raise core.CheckFailure("lime_weights should return a tuple (coefficients, intercept), got "
                                f"{type(got).__name__}.")
    got_coefficients = _as_array(got[0], "lime_weights coefficients").astype(np.float64)

    def variants():
        plain = reference.lime_weights(masks, scores, kernel_width=1e9, ridge=case.ridge)[0]
        return {"Weight each sample by exp(-d^2 / width^2) (the kernel), d the cosine distance.": plain}

    _compare(got_coefficients, coefficients, "lime_weights coefficients", variants, LIME_TOL)
    try:
        got_intercept = float(got[1])
    except (TypeError, ValueError):
        raise core.CheckFailure(f"lime_weights: the intercept should be a number, got {got[1]!r}.") from None
    core.assert_close(np.array([got_intercept]), np.array([intercept]), "lime_weights intercept", LIME_TOL,
                      "Fit the intercept (it is not penalised by the ridge term).")


def _lime_bad_cases() -> list[BadCase]:
    def args(masks=None, scores=None, **kwargs):
        rng = core.rng(0)
        masks = rng.integers(0, 2, (20, 4)) if masks is None else masks
        scores = rng.normal(size=len(masks)) if scores is None else scores
        return (masks, scores), kwargs

    return [
        BadCase("masks of shape (20,)", lambda: args(masks=np.ones(20), scores=np.zeros(20)),
                "masks must be 2-D (samples, segments)"),
        BadCase("a mask value of 2", lambda: args(masks=np.full((20, 4), 2)), "masks hold 0 or 1"),
        BadCase("19 scores for 20 masks", lambda: args(scores=np.zeros(19)), "one score per mask"),
        BadCase("kernel_width=0", lambda: args(kernel_width=0.0), "kernel_width must be > 0"),
        BadCase("ridge=-1", lambda: args(ridge=-1.0), "ridge must be >= 0"),
    ]


PUBLIC_LIME = [LimeCase(40, 5, seed=1, ridge=0.0, exact=True), LimeCase(60, 6, seed=2)]


def public_lime_weights(lime_weights) -> None:
    for case in PUBLIC_LIME:
        try:
            check_lime_case(lime_weights, case)
        except core.CheckFailure as failure:
            raise core.CheckFailure(f"{case!r}: {failure}") from None
    _check_bad(lime_weights, _lime_bad_cases()[0])
    print(f"lime_weights: {len(PUBLIC_LIME) + 1} public checks pass.")


def hidden_lime_weights(lime_weights, points: float = 1.0) -> float:
    seeds = iter(range(900, 1000))
    groups = [
        core.CaseGroup("exact linear scores, no ridge: the true weights", [
            LimeCase(50, 6, next(seeds), ridge=0.0, exact=True),
            LimeCase(80, 10, next(seeds), ridge=0.0, exact=True)]),
        core.CaseGroup("noisy scores, ridge 1, vs scikit-learn's weighted Ridge", [
            LimeCase(100, 8, next(seeds)), LimeCase(200, 15, next(seeds))]),
        core.CaseGroup("other kernel widths and ridge strengths", [
            LimeCase(100, 8, next(seeds), kernel_width=0.5, ridge=0.1),
            LimeCase(150, 12, next(seeds), kernel_width=0.1, ridge=5.0)]),
        core.CaseGroup("the all-on mask (distance 0) and the all-off mask (distance 1)", [
            LimeCase(60, 7, next(seeds), extremes=True),
            LimeCase(30, 3, next(seeds), extremes=True, ridge=0.0)]),
        core.CaseGroup("bad arguments raise ValueError", _lime_bad_cases()),
    ]
    return core.score_function("lime_weights", lime_weights, groups, check_lime_case, points)


# ================================================================ fooling image
@dataclass(frozen=True)
class FoolCase:
    kind: str  # "linear" or "conv"
    shape: tuple
    epsilon: float
    max_steps: int
    seed: int
    target: str = "runner-up"  # "runner-up", "last" or "already"

    def __repr__(self) -> str:
        return (f"fooling_image({self.kind} model, image of shape {self.shape}, target={self.target}, "
                f"epsilon={self.epsilon}, max_steps={self.max_steps})")

    def arguments(self):
        builder = linear_model if self.kind == "linear" else flat_conv_model
        model = builder(self.shape, 5, self.seed)
        image = _images(core.rng(self.seed + 1), 1, self.shape, 0.1, 0.9)[0]
        order = np.argsort(reference.logits_of(model, image[None])[0])[::-1]
        target = {"runner-up": order[1], "last": order[-1], "already": order[0]}[self.target]
        return model, image, int(target)


def call_budget(max_steps: int) -> int:
    """Model calls allowed: two per step (one with the gradient, one to check) plus two."""
    return 2 * max_steps + 2


def check_fool_case(fooling_image, case: FoolCase) -> None:
    model, image, target = case.arguments()
    # the model's calls are counted where the student's function runs (common.counting_model)
    try:
        got, calls, changed = core.run_where(
            fooling_image, common.call_counting_model_calls, fooling_image, model, (image, target),
            {"epsilon": case.epsilon, "max_steps": case.max_steps})
    except NotImplementedError as error:
        raise core.not_implemented(fooling_image) from error
    if changed:
        raise core.CheckFailure("fooling_image changed the image it was given: work on a copy.")
    got = _as_array(got, "fooling_image")
    core.assert_shape(got, image.shape, "fooling_image")
    size = float(np.abs(got.astype(np.float64) - image).max())
    if size > case.epsilon + 1e-6:
        raise core.CheckFailure(
            f"fooling_image: the perturbation is too large: max |x_adv - x| = {size:.4g} > epsilon = "
            f"{case.epsilon}. Clip x_adv to [x - epsilon, x + epsilon] after every step.")
    if got.min() < -1e-6 or got.max() > 1 + 1e-6:
        raise core.CheckFailure(
            f"fooling_image: pixels must stay in [0, 1], got values in [{got.min():.4g}, {got.max():.4g}].")
    if calls > call_budget(case.max_steps):
        raise core.CheckFailure(
            f"fooling_image: {calls} calls of the model for max_steps={case.max_steps}; at most "
            f"{call_budget(case.max_steps)} are allowed (stop after max_steps steps, or earlier once the "
            "target is predicted).")
    predicted = int(np.argmax(reference.logits_of(model, got[None])[0]))
    if predicted != target:
        raise core.CheckFailure(
            f"fooling_image: the model predicts class {predicted} for your image, not the target "
            f"{target}. Step in the direction that raises the target's logit (gradient ascent).")


def _fool_bad_cases() -> list[BadCase]:
    def args(image_scale=1.0, target=1, **kwargs):
        model = conv_model((6, 6, 3), 5, 95)
        image = _images(core.rng(0), 1, (6, 6, 3))[0] * image_scale
        return (model, image, target), kwargs

    return [
        BadCase("epsilon=0", lambda: args(epsilon=0.0), "epsilon must be > 0"),
        BadCase("max_steps=0", lambda: args(max_steps=0), "max_steps must be >= 1"),
        BadCase("target_class=5 with 5 classes", lambda: args(target=5), "target_class must be in 0..4"),
        BadCase("an image with values up to 255", lambda: args(image_scale=255.0),
                "the image must have values in [0, 1]"),
    ]


PUBLIC_FOOL = [FoolCase("linear", (6, 6, 3), 0.1, 10, seed=1001)]


def public_fooling_image(fooling_image) -> None:
    for case in PUBLIC_FOOL:
        try:
            check_fool_case(fooling_image, case)
        except core.CheckFailure as failure:
            raise core.CheckFailure(f"{case!r}: {failure}") from None
    _check_bad(fooling_image, _fool_bad_cases()[0])
    print(f"fooling_image: {len(PUBLIC_FOOL) + 1} public checks pass.")


# (kind, shape, epsilon, max_steps, target, seed): on each case the reference's method (sign
# steps of epsilon / 4) reaches the target with half the epsilon (tests/test_introspection.py).
FOOL_GROUPS = {
    "linear models: runner-up and least likely class": [
        ("linear", (8, 8, 3), 0.2, 10, "runner-up", 1002), ("linear", (6, 9, 1), 0.4, 10, "last", 1000)],
    "conv models, runner-up class": [
        ("conv", (8, 8, 3), 0.2, 10, "runner-up", 1003), ("conv", (10, 7, 3), 0.3, 10, "runner-up", 1000)],
    "conv models, least likely class": [("conv", (8, 8, 3), 0.4, 20, "last", 1000)],
    "tight step budget": [("conv", (7, 7, 3), 0.3, 4, "runner-up", 1000),
                          ("linear", (6, 6, 3), 0.2, 3, "last", 1002)],
    "target already predicted": [("conv", (7, 7, 3), 0.05, 5, "already", 1001)],
}


def fool_cases() -> list[tuple[str, list[FoolCase]]]:
    return [(name, [FoolCase(*spec[:4], seed=spec[5], target=spec[4]) for spec in specs])
            for name, specs in FOOL_GROUPS.items()]


def hidden_fooling_image(fooling_image, points: float = 1.0) -> float:
    groups = [core.CaseGroup(name, cases) for name, cases in fool_cases()]
    groups.append(core.CaseGroup("bad arguments raise ValueError", _fool_bad_cases()))
    return core.score_function("fooling_image", fooling_image, groups, check_fool_case, points)
