"""Checks for the chapter "Transfer learning".

Every check runs the student's function and the reference
(:mod:`autograder.reference.transfer_learning`) on small Keras "bases" built here with
seeded weights (a numpy Generator: Keras' global random state is never touched):
convolutions without bias, BatchNormalization with non-trivial moving statistics, ReLU,
a last 1x1 convolution. They behave like a pretrained backbone in every way the
exercises care about, and answer in milliseconds.

Training is graded by behaviour, never by reading flags alone: the checks snapshot every
weight, run one training step on a fixed batch, and compare. Frozen weights (and the
BatchNormalization moving statistics) must be bit-identical; every weight the strategy
trains must move, and by about the learning rate: Adam's first step moves each weight by
``lr * |g| / (|g| + 1e-7)``, at most ``lr`` (checked up to 5% and two float32 ulps), and the
largest move is at least half of ``lr``.

Tolerances: float32 outputs, ``core.tolerance_for(float32)`` (CPU rtol 1e-4, atol 1e-5
scaled by max |expected|; GPU rtol 1e-3, atol 1e-4). The loss of a step is compared with
TensorFlow's cross-entropy at rtol 1e-4 (CPU) / 1e-3 (GPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autograder import core
from autograder.reference import common
from autograder.reference import transfer_learning as reference

# graded test cells run these checks in the grading worker, out of the student's reach: the
# checks' models go to the kernel as architecture and weights, the classifier sharing its base's
# layers is rebuilt there (``reference.model_on``), and what the student's code did to them comes
# back as plain data (``reference.weights_report``, ``reference.training_step_report``)
CHECKS_RUN_IN = "worker"

FLOAT32 = np.float32
BadCase = core.BadCase
STEP_SLACK = 1.05  # Adam's first step is at most lr; 5% for float32 rounding of the update
BASE_SHAPE = (12, 12, 3)


def _keras():
    import keras

    return keras


def _tolerance() -> core.Tolerance:
    return core.tolerance_for(FLOAT32)


# ================================================================ bases for the checks
def _randomise(model, seed: int):
    """Seeded weights: kernels ~ N(0, 1/fan_in), BatchNorm gamma ~ 1, beta ~ 0.1, moving
    mean ~ 0.2 and moving variance in [0.5, 2] (so inference differs from training mode)."""
    rng = core.rng(seed)
    values = []
    for weight in model.weights:
        shape, name = tuple(weight.shape), weight.path.rsplit("/", 1)[-1]
        if name == "gamma":
            value = 1.0 + 0.2 * rng.standard_normal(shape)
        elif name in ("beta", "moving_mean", "bias"):
            value = (0.1 if name != "moving_mean" else 0.2) * rng.standard_normal(shape)
        elif name == "moving_variance":
            value = rng.uniform(0.5, 2.0, shape)
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
            value = rng.standard_normal(shape) / np.sqrt(fan_in)
        values.append(value.astype(FLOAT32))
    model.set_weights(values)
    return model


def toy_base(seed: int = 0, shape=BASE_SHAPE, dropout: bool = False, batch_limit: int | None = None,
             pooled: bool = False, small: bool = False):
    """input -> conv 3x3 (6) -> BN -> ReLU -> conv 3x3 stride 2 (8) -> BN -> ReLU
    [-> Dropout 0.5] -> conv 1x1 (10): a (H/2, W/2, 10) map, like a backbone without its top.
    ``pooled`` ends it with a global average pooling instead (not a map: refused); ``small``
    keeps only the first conv-BN-ReLU before the 1x1 conv (faster to train: ``fit`` traces it)."""
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input(shape, name="image")
    x = layers.Conv2D(6, 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    if not small:
        x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv2")(x)
        x = layers.BatchNormalization(name="bn2")(x)
        x = layers.ReLU(name="relu2")(x)
    if dropout:
        x = layers.Dropout(0.5, name="dropout")(x)
    x = layers.Conv2D(10, 1, name="conv3")(x)
    if pooled:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    base = _randomise(keras.Model(inputs, x, name="toy_base"), seed)
    return reference.batch_limited(base, batch_limit) if batch_limit else base


def toy_model(seed: int, n_classes: int = 4, nested: bool = False, small: bool = False):
    """(model, base): the reference classifier on a toy base, flat or with the base as one layer."""
    base = toy_base(seed, small=small)
    return _randomise(reference.classifier_model(base, n_classes, nested), seed + 1), base


def placed_model(function, model, base, nested: bool = False, trained_before=None, images=None,
                 labels=None):
    """``(model, base)`` where ``function`` runs: the classifier rebuilt there on a copy of
    ``base``, with ``model``'s weights (``reference.model_on``). ``model`` stays the template:
    its weights are listed in the same order as the copy's."""
    n_classes = int(model.outputs[0].shape[-1])
    return core.run_where(function, reference.model_on, base, n_classes, nested,
                          model.get_weights(), trained_before, images, labels)


def report(function, model, base=None) -> dict:
    """``reference.weights_report`` of a model where ``function`` runs."""
    return core.run_where(function, reference.weights_report, model, base)


def _returned_model(function, got, model, case) -> None:
    """Fail unless ``got`` is ``model`` itself (asked where they live)."""
    if not core.run_where(function, common.same_object, got, model):
        raise core.CheckFailure(f"{case!r}: return the model you were given (got "
                                f"{'None' if got is None else 'a ' + core.type_name(got)}).")


def batch(seed: int, n: int = 8, shape=BASE_SHAPE, n_classes: int = 4):
    rng = core.rng(seed)
    images = rng.standard_normal((n, *shape)).astype(FLOAT32)
    return images, (np.arange(n) % n_classes).astype(np.int64)


def uint8_images(seed: int, shape) -> np.ndarray:
    return core.rng(seed).integers(0, 256, shape).astype(np.uint8)


def _positions(model, variables) -> set[int]:
    """Positions in ``model.weights`` of ``variables`` (of the grader's template ``model``: the
    copy where the student's code runs lists its weights in the same order)."""
    ids = {id(v) for v in variables}
    return {index for index, v in enumerate(model.weights) if id(v) in ids}


def _size(values, positions=None) -> int:
    return int(sum(np.prod(np.shape(v)) for index, v in enumerate(values)
                   if positions is None or index in positions))


def _require_model(got, name: str):
    if not core.is_instance(got, "keras.Model"):
        raise core.CheckFailure(f"{name} must return a keras.Model, got {core.type_name(got)}.")
    return got


# ====================================================================== prepare_images
@dataclass(frozen=True)
class PrepareCase:
    shape: tuple  # the uint8 images' shape
    size: int
    seed: int

    def __repr__(self) -> str:
        return f"prepare_images(uint8 images of shape {self.shape}, size={self.size})"


def _prepare_variants(images, size) -> dict:
    import tensorflow as tf

    x = np.asarray(images, np.float32)
    x = x[..., None] if x.ndim == 3 else x
    nearest = tf.image.resize(x, (size, size), method="nearest").numpy()
    bilinear = tf.image.resize(x, (size, size), method="bilinear").numpy()
    if bilinear.shape[-1] == 1:
        nearest, bilinear = np.repeat(nearest, 3, -1), np.repeat(bilinear, 3, -1)
    return {f"Your result matches the images {mistake}.": value for mistake, value in {
        "divided by 255 (Lite0 expects (x - 127) / 128, from about -1 to 1)": bilinear / 255.0,
        "scaled to [-1, 1] with 127.5 (Lite0 expects (x - 127) / 128)": bilinear / 127.5 - 1.0,
        "not normalised at all (Lite0 expects (x - 127) / 128)": bilinear,
        "resized with nearest neighbours instead of bilinearly": (nearest - 127.0) / 128.0,
        "normalised as if the images were in [0, 1] ((x / 255 - 127) / 128)":
            (bilinear / 255.0 - 127.0) / 128.0,
    }.items()}


def _compare(got, expected, name: str, variants=None) -> None:
    core.assert_close_or_hint(got, expected, name, _tolerance(), variants)


@core.quiet
def check_prepare_case(prepare_images, case: PrepareCase) -> None:
    images = uint8_images(case.seed, case.shape)
    expected = reference.prepare_images(images, case.size)
    got = core.call_student(prepare_images, images.copy(), case.size)
    got = np.asarray(got)
    if got.dtype != np.float32:
        raise core.CheckFailure(f"{case!r}: expected float32 images, got dtype {got.dtype}.")
    core.assert_shape(got, expected.shape, repr(case),
                      "The output is (N, size, size, 3): greyscale images repeated on 3 channels.")
    _compare(got, expected, repr(case), lambda: _prepare_variants(images, case.size))


def _prepare_bad_cases() -> list[BadCase]:
    grey = uint8_images(0, (2, 8, 8))
    return [
        BadCase("float images in [0, 1]", lambda: ((grey / 255.0, 16), {}),
                "images must be uint8 in [0, 255]: float images were probably already scaled"),
        BadCase("images of 2 channels", lambda: ((uint8_images(1, (2, 8, 8, 2)), 16), {}),
                "images must have 1 or 3 channels"),
        BadCase("one greyscale image of shape (8, 8), without the batch axis",
                lambda: ((uint8_images(2, (8, 8)), 16), {}), "images must be (N, H, W[, C])"),
        BadCase("size=0", lambda: ((grey, 0), {}), "size must be a positive int"),
    ]


PUBLIC_PREPARE = [PrepareCase((2, 28, 28), 64, 0), PrepareCase((1, 10, 12, 3), 16, 1)]


def public_prepare_images(prepare_images) -> None:
    for case in PUBLIC_PREPARE:
        check_prepare_case(prepare_images, case)
    core.check_bad_case(prepare_images, _prepare_bad_cases()[0])
    print(f"prepare_images: {len(PUBLIC_PREPARE) + 1} public checks pass.")


def hidden_prepare_images(prepare_images, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("greyscale (N, H, W) enlarged, repeated on 3 channels",
                       [PrepareCase((3, 28, 28), 64, s) for s in (10, 11)]),
        core.CaseGroup("greyscale with a channel axis (N, H, W, 1)",
                       [PrepareCase((2, 20, 20, 1), 32, 12)]),
        core.CaseGroup("RGB, non-square, shrunk and enlarged",
                       [PrepareCase((2, 30, 18, 3), 16, 13), PrepareCase((1, 9, 15, 3), 24, 14)]),
        core.CaseGroup("already the right size (only the normalisation)",
                       [PrepareCase((2, 16, 16, 3), 16, 15), PrepareCase((1, 7, 7), 7, 16)]),
        core.CaseGroup("one image and no image at all",
                       [PrepareCase((1, 12, 12), 20, 17), PrepareCase((0, 12, 12, 3), 20, 18)]),
        core.CaseGroup("bad arguments raise ValueError", _prepare_bad_cases()),
    ]
    return core.score_function("prepare_images", prepare_images, groups, check_prepare_case, points)


# ====================================================================== add_classifier
@dataclass(frozen=True)
class ClassifierCase:
    n_classes: int
    seed: int
    shape: tuple = BASE_SHAPE

    def __repr__(self) -> str:
        return f"add_classifier(base with input {self.shape}, n_classes={self.n_classes})"


@core.quiet
def check_classifier_case(add_classifier, case: ClassifierCase) -> None:
    base = toy_base(case.seed, case.shape)
    channels = int(base.output.shape[-1])
    placed = core.placed_with(add_classifier, base)
    model = _require_model(core.call_student(add_classifier, placed, case.n_classes), "add_classifier")
    weights = report(add_classifier, model, placed)
    missing = [v.path for index, v in enumerate(base.weights) if index not in weights["in_base"]]
    if missing:
        raise core.CheckFailure(
            f"{case!r}: the model does not use the base it was given (its weights {missing[:2]} "
            "are not in the model). Build on `base` itself: no copy, no new backbone.")
    new = [index for index, position in enumerate(weights["in_base"]) if position < 0]
    shapes = {index: tuple(np.shape(weights["values"][index])) for index in new}
    expected = [(channels, case.n_classes), (case.n_classes,)]
    got = sorted(shapes.values(), key=len, reverse=True)
    if got != expected:
        hint = ""
        if any(len(s) == 2 and s[0] > channels for s in got):
            hint = ("\nThe Dense layer sees more inputs than the map has channels: pool the map "
                    "(GlobalAveragePooling2D) instead of flattening it.")
        raise core.CheckFailure(
            f"{case!r}: the new classifier should add exactly a kernel {expected[0]} and a bias "
            f"{expected[1]} ({channels * case.n_classes + case.n_classes} parameters) to the base; "
            f"it adds weights of shapes {got}.{hint}")
    rng = core.rng(case.seed + 7)
    kernel_at = next(index for index in new if len(shapes[index]) == 2)
    bias_at = next(index for index in new if len(shapes[index]) == 1)
    kernel = rng.standard_normal(shapes[kernel_at]).astype(FLOAT32)
    bias = rng.standard_normal(shapes[bias_at]).astype(FLOAT32)
    core.run_where(add_classifier, reference.assign_weights, model, {kernel_at: kernel, bias_at: bias})
    images, _ = batch(case.seed + 3, 3, case.shape)
    maps = np.asarray(base(images, training=False))
    expected_logits = maps.mean(axis=(1, 2)) @ kernel + bias
    got_logits = np.asarray(model(images, training=False))
    core.assert_shape(got_logits, expected_logits.shape, f"{case!r}: the model's output",
                      "One row of n_classes logits per image: pool the map before the Dense layer.")
    softmax = np.exp(expected_logits - expected_logits.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    _compare(got_logits, expected_logits, f"{case!r}: logits of 3 images",
             lambda: {"Your outputs are softmax probabilities: the classifier must output logits "
                      "(no activation).": softmax,
                      "Your logits use the maximum instead of the average over positions.":
                          maps.max(axis=(1, 2)) @ kernel + bias})


def _classifier_bad_cases() -> list[BadCase]:
    return [
        BadCase("n_classes=1", lambda: ((toy_base(0), 1), {}), "n_classes must be an int >= 2"),
        BadCase("n_classes=0", lambda: ((toy_base(0), 0), {}), "n_classes must be an int >= 2"),
        BadCase("n_classes=2.5", lambda: ((toy_base(0), 2.5), {}), "n_classes must be an int >= 2"),
        BadCase("a base that ends with a pooling (no feature map)",
                lambda: ((toy_base(0, pooled=True), 3), {}),
                "the base must output a feature map (N, H, W, C)"),
    ]


def public_add_classifier(add_classifier) -> None:
    check_classifier_case(add_classifier, ClassifierCase(3, 0))
    core.check_bad_case(add_classifier, _classifier_bad_cases()[0])
    print("add_classifier: 2 public checks pass.")


def hidden_add_classifier(add_classifier, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("two classes", [ClassifierCase(2, 20)]),
        core.CaseGroup("ten classes, another input size", [ClassifierCase(10, 21, (16, 10, 3))]),
        core.CaseGroup("more classes than channels", [ClassifierCase(17, 22)]),
        core.CaseGroup("bad arguments raise ValueError", _classifier_bad_cases()),
    ]
    return core.score_function("add_classifier", add_classifier, groups, check_classifier_case,
                               points)


# ======================================================================== set_strategy
@dataclass(frozen=True)
class StrategyCase:
    strategy: str
    n_frozen: int = 0
    learning_rate: float = 1e-3
    seed: int = 0
    nested: bool = False
    step: bool = True  # also run one training step and compare the weights
    trained_before: str | None = None  # compiled and trained with this strategy first

    def __repr__(self) -> str:
        model = "nested model" if self.nested else "model"
        before = (f" (the model was compiled and trained with strategy {self.trained_before!r} "
                  "before)" if self.trained_before else "")
        frozen = f", n_frozen={self.n_frozen}" if self.strategy == "first_k" else ""
        return (f"set_strategy({model}, base, {self.strategy!r}, learning_rate="
                f"{self.learning_rate:g}{frozen}){before}")


def _expected_trainable(template, base, case) -> set[int]:
    """Positions of the weights the strategy trains, in the template's ``weights``."""
    ids = reference.trainable_variable_ids(template, base, case.strategy, case.n_frozen)
    return {index for index, v in enumerate(template.weights) if id(v) in ids}


def _check_counts(template, base, weights: dict, case) -> set[int]:
    """The trainable weights the student's code left (``weights``: the model's report) against
    the strategy's; returns the positions that must train."""
    values, paths = weights["values"], weights["paths"]
    if [tuple(np.shape(v)) for v in values] != [tuple(v.shape) for v in template.weights]:
        raise core.CheckFailure(f"{case!r}: the model's weights are not the ones it was given: "
                                "change which layers train, not the layers themselves.")
    trainable = _expected_trainable(template, base, case)
    got = {index for index, flag in enumerate(weights["trainable"]) if flag}
    if got != trainable:
        should_freeze = [paths[index] for index in sorted(got - trainable)]
        should_train = [paths[index] for index in sorted(trainable - got)]
        hint = ""
        if any("/moving_" in n or "bn" in n.split("/")[0] for n in should_freeze):
            hint = "\nThe base's BatchNormalization layers stay frozen in every strategy."
        n_trainable, total = _size(values, trainable), _size(values)
        raise core.CheckFailure(
            f"{case!r}: {_size(values, got):,} trainable parameters, expected "
            f"{n_trainable:,} (and {total - n_trainable:,} non-trainable). "
            f"Should be frozen: {should_freeze[:4]}; should train: {should_train[:4]}.{hint}")
    return trainable


def _check_compiled_loss(step: dict, labels, case) -> None:
    expected = reference.sparse_cross_entropy(labels, step["logits"])
    got = float(step["loss"])
    rtol = 10 * _tolerance().rtol
    if not abs(got - expected) <= rtol * max(1.0, abs(expected)):
        raise core.CheckFailure(
            f"{case!r}: the loss of one training step is {got:.6g}, expected the sparse "
            f"categorical cross-entropy on logits {expected:.6g} (rtol {rtol:g}). Compile with "
            "keras.losses.SparseCategoricalCrossentropy(from_logits=True).")


def check_step(step: dict, paths: list[str], trainable: set[int], learning_rate: float, labels,
               case) -> None:
    """One step of the student's compiled model (``step``: ``reference.training_step_report``):
    frozen weights bit-identical, trained ones moved by about the learning rate."""
    moved, frozen_moved, largest = [], [], 0.0
    for index, (before, after) in enumerate(zip(step["before"], step["after"], strict=True)):
        before = np.asarray(before)
        change = np.abs(np.asarray(after).astype(np.float64) - before)
        biggest = float(change.max()) if change.size else 0.0
        if index in trainable:
            if biggest == 0.0:
                moved.append(paths[index])
            bound = STEP_SLACK * learning_rate + 2 * np.spacing(np.abs(before)).max()
            if biggest > bound:
                raise core.CheckFailure(
                    f"{case!r}: after one step {paths[index]} moved by {biggest:.3g}, more than "
                    f"the learning rate {learning_rate:g} allows (Adam's first step moves a weight "
                    "by at most the learning rate). Compile with "
                    "keras.optimizers.Adam(learning_rate).")
            largest = max(largest, biggest)
        elif biggest != 0.0:
            frozen_moved.append(paths[index])
    if frozen_moved:
        hint = ""
        if any("moving_" in name for name in frozen_moved):
            hint = (" BatchNormalization moving statistics changed: a BatchNormalization layer "
                    "that is frozen (trainable=False) runs in inference mode.")
        raise core.CheckFailure(
            f"{case!r}: weights that should be frozen changed after one training step: "
            f"{frozen_moved[:4]}.{hint} Did you compile again after setting `trainable`? "
            "A model keeps the training function it built until it is compiled again.")
    if moved:
        raise core.CheckFailure(
            f"{case!r}: weights that should train did not move after one training step: "
            f"{moved[:4]}. Did you compile again after setting `trainable`?")
    if largest < 0.5 * learning_rate:
        raise core.CheckFailure(
            f"{case!r}: the largest change of a weight after one Adam step is {largest:.3g}, "
            f"expected about the learning rate {learning_rate:g}. Compile with "
            "keras.optimizers.Adam(learning_rate).")
    _check_compiled_loss(step, labels, case)


@core.quiet
def check_strategy_case(set_strategy, case: StrategyCase) -> None:
    template, base = toy_model(case.seed, nested=case.nested)
    images, labels = batch(case.seed + 5)
    model, placed_base = placed_model(set_strategy, template, base, case.nested,
                                      case.trained_before, images, labels)
    got = core.call_student(set_strategy, model, placed_base, case.strategy, case.learning_rate,
                            case.n_frozen)
    _returned_model(set_strategy, got, model, case)
    weights = report(set_strategy, model, placed_base)
    trainable = _check_counts(template, base, weights, case)
    if case.step:
        step = core.run_where(set_strategy, reference.training_step_report, model, images, labels)
        check_step(step, weights["paths"], trainable, case.learning_rate, labels, case)


def _strategy_bad_cases() -> list[BadCase]:
    def args(*rest):
        model, base = toy_model(0)
        return (model, base, *rest), {}

    return [
        BadCase("strategy='everything'", lambda: args("everything", 1e-3, 0),
                "strategy must be 'all', 'head' or 'first_k'"),
        BadCase("first_k with n_frozen=-1", lambda: args("first_k", 1e-3, -1),
                "n_frozen must be between 0 and len(base.layers)"),
        BadCase("first_k with n_frozen = len(base.layers) + 1", lambda: args("first_k", 1e-3, 9),
                "n_frozen must be between 0 and len(base.layers)"),
        BadCase("learning_rate=0", lambda: args("head", 0.0, 0), "the learning rate must be > 0"),
    ]


def public_set_strategy(set_strategy) -> None:
    check_strategy_case(set_strategy, StrategyCase("head", learning_rate=1e-3, seed=0))
    core.check_bad_case(set_strategy, _strategy_bad_cases()[0])
    print("set_strategy: 2 public checks pass.")


def hidden_set_strategy(set_strategy, points: float = 1.0) -> float:
    n_layers = len(toy_base(0).layers)
    groups = [
        core.CaseGroup("'all': everything trains but the base's BatchNormalization",
                       [StrategyCase("all", learning_rate=2e-3, seed=30)]),
        core.CaseGroup("'head': only the new classifier trains",
                       [StrategyCase("head", learning_rate=5e-3, seed=31)]),
        core.CaseGroup("'first_k': counts for n_frozen = 0, 1, 2, 5 and all layers",
                       [StrategyCase("first_k", k, seed=32, step=False)
                        for k in (0, 1, 2, 5, n_layers)]),
        core.CaseGroup("'first_k': one training step with the first 5 layers frozen",
                       [StrategyCase("first_k", 5, learning_rate=1e-3, seed=33)]),
        core.CaseGroup("a nested model (the base is one layer of the model)",
                       [StrategyCase("first_k", 2, 1e-3, 34, nested=True),
                        StrategyCase("head", 0, 1e-3, 35, nested=True)]),
        core.CaseGroup("compiled again after a model was trained with another strategy",
                       [StrategyCase("head", learning_rate=1e-3, seed=36, trained_before="all"),
                        StrategyCase("all", learning_rate=1e-3, seed=37, trained_before="head")]),
        core.CaseGroup("the learning rate is the one asked for (small and large)",
                       [StrategyCase("all", learning_rate=1e-4, seed=38),
                        StrategyCase("head", learning_rate=3e-2, seed=39)]),
        core.CaseGroup("bad arguments raise ValueError", _strategy_bad_cases()),
    ]
    return core.score_function("set_strategy", set_strategy, groups, check_strategy_case, points)


# ===================================================================== extract_features
@dataclass(frozen=True)
class FeatureCase:
    n_images: int
    batch_size: int
    seed: int
    layer_name: str | None = None
    dropout: bool = False
    probe: bool = False  # the base refuses batches larger than batch_size

    def __repr__(self) -> str:
        layer = f", layer_name={self.layer_name!r}" if self.layer_name else ""
        extra = " with Dropout" if self.dropout else ""
        return (f"extract_features(base{extra}, {self.n_images} images, "
                f"batch_size={self.batch_size}{layer})")


@core.quiet
def check_feature_case(extract_features, case: FeatureCase) -> None:
    base = toy_base(case.seed, dropout=case.dropout)
    images, _ = batch(case.seed + 1, case.n_images)
    before = base.get_weights()
    kwargs = {"layer_name": case.layer_name} if case.layer_name else {}
    expected = reference.extract_features(base, images, case.batch_size, case.layer_name)
    placed = (core.run_where(extract_features, reference.batch_limited, base, case.batch_size)
              if case.probe else core.placed_with(extract_features, base))
    got = core.call_student(extract_features, placed, images.copy(), case.batch_size, **kwargs)
    got = np.asarray(got)
    core.assert_shape(got, expected.shape, repr(case),
                      "One row per image, one column per channel: average the map over "
                      "its height and width (global average pooling).")
    after = report(extract_features, placed)["values"]
    if any(not np.array_equal(a, b) for a, b in zip(after, before, strict=True)):
        raise core.CheckFailure(f"{case!r}: the base's weights changed: extracting features "
                                "must not train (call the base in inference mode).")

    def variants():
        maps = reference.feature_model(base, case.layer_name)(images, training=True)
        return {"Your features were computed in training mode: call the base with "
                "training=False (or predict).":
                np.asarray(maps).mean(axis=(1, 2))}

    _compare(got, expected, repr(case), variants if case.n_images else None)


def _feature_bad_cases() -> list[BadCase]:
    images, _ = batch(0, 2)
    return [
        BadCase("images of 10 x 10 for a base that takes 12 x 12",
                lambda: ((toy_base(0), batch(0, 2, (10, 10, 3))[0], 2), {}),
                "the images must have the base's input size"),
        BadCase("greyscale images (1 channel) for a base that takes 3",
                lambda: ((toy_base(0), batch(0, 2, (12, 12, 1))[0], 2), {}),
                "the images must have the base's number of channels"),
        BadCase("batch_size=0", lambda: ((toy_base(0), images, 0), {}),
                "batch_size must be a positive int"),
        BadCase("layer_name='conv9' (no such layer)",
                lambda: ((toy_base(0), images, 2), {"layer_name": "conv9"}),
                "unknown layer name"),
    ]


def public_extract_features(extract_features) -> None:
    check_feature_case(extract_features, FeatureCase(5, 2, 0))
    core.check_bad_case(extract_features, _feature_bad_cases()[0])
    print("extract_features: 2 public checks pass.")


def hidden_extract_features(extract_features, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("batches that do not divide the images",
                       [FeatureCase(7, 3, 40), FeatureCase(9, 4, 41)]),
        core.CaseGroup("inference mode: BatchNormalization statistics and Dropout",
                       [FeatureCase(6, 6, 42, dropout=True)]),
        core.CaseGroup("never more than batch_size images through the base at once",
                       [FeatureCase(10, 4, 43, probe=True), FeatureCase(3, 1, 44, probe=True)]),
        core.CaseGroup("batch_size larger than the number of images, one image, no image",
                       [FeatureCase(3, 16, 45), FeatureCase(1, 4, 46), FeatureCase(0, 4, 47)]),
        core.CaseGroup("features of an earlier layer",
                       [FeatureCase(4, 3, 48, layer_name="relu1"),
                        FeatureCase(5, 2, 49, layer_name="conv2")]),
        core.CaseGroup("bad arguments raise ValueError", _feature_bad_cases()),
    ]
    return core.score_function("extract_features", extract_features, groups, check_feature_case,
                               points)


# ===================================================================== first_per_class
@dataclass(frozen=True)
class SubsetCase:
    label: str
    labels: tuple = ()
    n_per_class: int = 1

    def __repr__(self) -> str:
        return f"first_per_class({self.label}, n_per_class={self.n_per_class})"


def _random_labels(seed: int, n: int, classes) -> tuple:
    return tuple(int(c) for c in core.rng(seed).choice(classes, n))


@core.quiet
def check_subset_case(first_per_class, case: SubsetCase) -> None:
    labels = np.asarray(case.labels, np.int64)
    expected = reference.first_per_class(labels, case.n_per_class)
    got = core.call_student(first_per_class, labels.copy(), case.n_per_class)
    got = np.asarray(got)
    if got.ndim != 1 or not np.issubdtype(got.dtype, np.integer):
        raise core.CheckFailure(f"{case!r}: expected a 1-D array of integer indices, got "
                                f"dtype {got.dtype} and shape {got.shape}.")
    if got.shape == expected.shape and np.array_equal(got, expected):
        return
    hint = ""
    if got.shape == expected.shape and np.array_equal(np.sort(got), expected):
        hint = " The indices are right but not in ascending order."
    elif len(got) == len(expected) and np.array_equal(got, np.arange(len(expected))):
        hint = (" These are the first n_per_class x n_classes images: some classes get more "
                "than n_per_class, others fewer.")
    counts = {int(c): int((labels[got] == c).sum()) for c in np.unique(labels)} \
        if got.size and got.max() < len(labels) and got.min() >= 0 else {}
    raise core.CheckFailure(
        f"{case!r}: expected the indices {expected[:12].tolist()}{'...' if len(expected) > 12 else ''}"
        f" ({len(expected)} images), got {got[:12].tolist()}{'...' if len(got) > 12 else ''} "
        f"({len(got)} images; per class: {counts}).{hint}")


def _subset_bad_cases() -> list[BadCase]:
    labels = np.array([0, 1, 1, 2, 0, 2, 1])
    return [
        BadCase("n_per_class=0", lambda: ((labels, 0), {}), "n_per_class must be >= 1"),
        BadCase("n_per_class=3 when class 0 has 2 images", lambda: ((labels, 3), {}),
                "a class has fewer images than n_per_class"),
        BadCase("labels of shape (7, 1)", lambda: ((labels[:, None], 1), {}),
                "labels must be a 1-D array"),
    ]


def public_first_per_class(first_per_class) -> None:
    check_subset_case(first_per_class, SubsetCase("labels [2, 0, 1, 0, 2, 1, 1, 0]",
                                                  (2, 0, 1, 0, 2, 1, 1, 0), 2))
    core.check_bad_case(first_per_class, _subset_bad_cases()[0])
    print("first_per_class: 2 public checks pass.")


def hidden_first_per_class(first_per_class, points: float = 1.0) -> float:
    sorted_labels = tuple(np.repeat(np.arange(4), 5).tolist())
    groups = [
        core.CaseGroup("one image per class", [SubsetCase("labels 3 1 0 1 2 0 3 2", (3, 1, 0, 1, 2, 0, 3, 2), 1)]),
        core.CaseGroup("labels in random order, 10 classes",
                       [SubsetCase("1,000 random labels of 10 classes", _random_labels(50, 1000, 10), n)
                        for n in (3, 20)]),
        core.CaseGroup("labels sorted by class", [SubsetCase("labels 0 0 0 0 0 1 1 ... 3", sorted_labels, 2)]),
        core.CaseGroup("classes that are not 0..k-1",
                       [SubsetCase("labels from {2, 5, 9}", _random_labels(51, 40, [2, 5, 9]), 4)]),
        core.CaseGroup("n_per_class equal to the smallest class",
                       [SubsetCase("labels 0 1 1 1 0 1", (0, 1, 1, 1, 0, 1), 2)]),
        core.CaseGroup("bad arguments raise ValueError", _subset_bad_cases()),
    ]
    return core.score_function("first_per_class", first_per_class, groups, check_subset_case, points)


# ========================================================================== fine_tune
@dataclass(frozen=True)
class FineTuneCase:
    head_epochs: int
    fine_epochs: int
    seed: int
    head_lr: float = 1e-2
    fine_lr: float = 1e-4
    trained_before: bool = False  # compiled with everything trainable and trained once

    def __repr__(self) -> str:
        before = (" (the model was compiled with everything trainable and trained once before)"
                  if self.trained_before else "")
        return (f"fine_tune(model, base, 8 images, 8 labels, head_lr={self.head_lr:g}, "
                f"fine_lr={self.fine_lr:g}, head_epochs={self.head_epochs}, "
                f"fine_epochs={self.fine_epochs}, batch_size=8){before}")


def _largest_change(positions, before, after) -> float:
    return max((float(np.abs(np.asarray(after[i]).astype(np.float64) - before[i]).max())
                for i in positions), default=0.0)


def _within(change: float, steps_lr: float, positions, before) -> bool:
    ulps = max(2 * float(np.spacing(np.abs(before[i])).max()) for i in positions)
    return 0.5 * steps_lr <= change <= STEP_SLACK * steps_lr + ulps


@core.quiet
def check_fine_tune_case(fine_tune, case: FineTuneCase) -> None:
    template, base = toy_model(case.seed, small=True)
    images, labels = batch(case.seed + 5)
    model, placed_base = placed_model(fine_tune, template, base,
                                      trained_before="all" if case.trained_before else None,
                                      images=images, labels=labels)
    before = [np.asarray(v) for v in report(fine_tune, model, placed_base)["values"]]
    got = core.call_student(fine_tune, model, placed_base, images, labels, case.head_lr,
                            case.fine_lr, case.head_epochs, case.fine_epochs, 8)
    _returned_model(fine_tune, got, model, case)
    weights = report(fine_tune, model, placed_base)
    after, paths = weights["values"], weights["paths"]
    keras = _keras()
    batch_norm = _positions(template, [v for layer in base.layers
                                       if isinstance(layer, keras.layers.BatchNormalization)
                                       for v in layer.weights])
    in_base = _positions(template, base.weights)
    changed_bn = [paths[i] for i in sorted(batch_norm) if not np.array_equal(after[i], before[i])]
    if changed_bn:
        raise core.CheckFailure(
            f"{case!r}: the base's BatchNormalization weights changed ({changed_bn[:3]}): keep "
            "those layers frozen (trainable=False, so they run in inference mode) in both phases.")
    body = in_base - batch_norm
    head = set(range(len(template.weights))) - in_base
    base_change = _largest_change(body, before, after)
    head_change = _largest_change(head, before, after)
    steps = case.head_epochs + case.fine_epochs  # one batch per epoch: one step each
    if case.fine_epochs == 0 and base_change != 0.0:
        raise core.CheckFailure(
            f"{case!r}: the base changed during phase 1 (largest change {base_change:.3g}): "
            "freeze the base, then compile, before training the head.")
    if case.fine_epochs and not _within(base_change, case.fine_lr * case.fine_epochs, body, before):
        hint = ("the base did not move: after unfreezing it, compile again (a model keeps the "
                "training function it built until it is compiled again)" if base_change == 0.0
                else f"fine-tune with Adam(fine_lr) (a change near {case.head_lr:g} means "
                "the head's learning rate)")
        raise core.CheckFailure(
            f"{case!r}: after {case.fine_epochs} fine-tuning step(s) the base's largest change is "
            f"{base_change:.3g}, expected about {case.fine_lr * case.fine_epochs:g}: {hint}.")
    head_lr_total = case.head_lr * case.head_epochs + case.fine_lr * case.fine_epochs
    if steps and not (0.5 * case.head_lr * min(1, case.head_epochs) + 0.5 * case.fine_lr
                      * min(1, case.fine_epochs) <= head_change
                      <= STEP_SLACK * head_lr_total + 1e-6):
        raise core.CheckFailure(
            f"{case!r}: the classifier's largest change is {head_change:.3g}, expected about "
            f"{head_lr_total:g} ({case.head_epochs} step(s) at head_lr, {case.fine_epochs} at "
            "fine_lr, one batch per epoch).")


def _fine_tune_bad_cases() -> list[BadCase]:
    def args(head_lr, fine_lr, head_epochs, fine_epochs):
        model, base = toy_model(0, small=True)
        images, labels = batch(0)
        return (model, base, images, labels, head_lr, fine_lr, head_epochs, fine_epochs, 8), {}

    return [
        BadCase("fine_lr=0", lambda: args(1e-2, 0.0, 1, 1), "learning rates must be > 0"),
        BadCase("head_epochs=-1", lambda: args(1e-2, 1e-4, -1, 1), "epochs must be >= 0"),
        BadCase("fine_lr larger than head_lr", lambda: args(1e-4, 1e-2, 1, 1),
                "fine-tuning uses a lower learning rate than the head"),
    ]


def public_fine_tune(fine_tune) -> None:
    check_fine_tune_case(fine_tune, FineTuneCase(0, 1, 0))
    core.check_bad_case(fine_tune, _fine_tune_bad_cases()[0])
    print("fine_tune: 2 public checks pass.")


def hidden_fine_tune(fine_tune, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("phase 1 only: the base does not move, even after training everything",
                       [FineTuneCase(1, 0, 61, trained_before=True)]),
        core.CaseGroup("phase 2 only: the base moves at fine_lr, BatchNorm stays",
                       [FineTuneCase(0, 1, 63, fine_lr=3e-4)]),
        core.CaseGroup("both phases: compiled again after unfreezing",
                       [FineTuneCase(1, 1, 64, head_lr=3e-3)]),
        core.CaseGroup("bad arguments raise ValueError", _fine_tune_bad_cases()),
    ]
    return core.score_function("fine_tune", fine_tune, groups, check_fine_tune_case, points)
