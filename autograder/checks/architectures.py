"""Checks for the chapter on CNN architectures.

Every Keras exercise is checked by behaviour, with public ``keras.*`` APIs
only: the student's model or block is built next to the reference
(:mod:`autograder.reference.architectures`), the same random weights are
copied into both, and outputs are compared on random inputs.  Layer class
names are never looked at, so a fused ``activation="relu"`` and a separate
``ReLU`` layer both pass.

Weights are matched by shape, in the model's order (kernels first to last).
Blocks with BatchNormalization are compared in training mode
(``model(x, training=True)``): BN then normalises with the batch statistics,
so a missing or misplaced BN changes the output.

Tolerance: float32 outputs, ``core.tolerance_for(float32)`` (CPU rtol 1e-4,
atol 1e-5 scaled by max |expected|; GPU rtol 1e-3, atol 1e-4).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from autograder import core
from autograder.reference import architectures as reference
from autograder.reference import common

# graded test cells run these checks in the grading worker, out of the student's reach: a
# student's model or block stays in the kernel (the checks call it there; a block is wrapped in a
# model there); the grader's models cross as architecture and weights
CHECKS_RUN_IN = "worker"

FLOAT32 = np.float32


# ================================================================ shared helpers
def _keras():
    import keras

    return keras


def _random_weights(shapes, rng) -> list[np.ndarray]:
    """Random weights scaled by 1/sqrt(fan_in), so activations stay in tanh's useful range."""
    values = []
    for shape in shapes:
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        scale = 1.0 / math.sqrt(max(fan_in, 1))
        values.append((rng.standard_normal(shape) * scale).astype(FLOAT32))
    return values


def _shapes(weights) -> list[tuple]:
    return [tuple(int(d) for d in w.shape) for w in weights]


def _require_model(model, name: str):
    if not core.is_instance(model, "keras.Model"):
        raise core.CheckFailure(
            f"{name} should return a keras.Model (e.g. keras.Sequential([...])), "
            f"got {core.type_name(model)}."
        )
    return model


def _block_model(block, input_shape, args: tuple, name: str):
    """Wrap ``block(inputs, *args)`` in a functional model, built where the block runs."""
    try:
        return core.run_where(block, common.block_model, block, input_shape, *args)
    except NotImplementedError:
        raise core.not_implemented(block) from None
    except TypeError as error:
        raise core.CheckFailure(f"{name} {error}") from None
    except ValueError as error:
        raise core.CheckFailure(f"{name}: {error}") from None


def _count(model) -> int:
    return int(sum(int(np.prod(w.shape)) for w in model.weights if w.trainable))


def _check_param_count(student, ref, name: str, hint: str = "") -> None:
    got, expected = _count(student), _count(ref)
    if got != expected:
        message = f"{name}: expected {expected:,} trainable parameters, your model has {got:,}."
        if hint:
            message += f"\n{hint}"
        raise core.CheckFailure(message)


def _output_shape(model, input_shape) -> tuple:
    keras = _keras()
    outputs = model(np.zeros((2, *input_shape), FLOAT32), training=False)
    return tuple(int(d) for d in keras.ops.shape(outputs)[1:])


def _check_output_shape(student, ref, input_shape, name: str) -> None:
    expected = _output_shape(ref, input_shape)
    try:
        got = _output_shape(student, input_shape)
    except Exception as error:  # noqa: BLE001 - student code may raise anything
        raise core.CheckFailure(
            f"{name}: your model fails on a batch of shape (2, {', '.join(map(str, input_shape))})"
            f": {type(error).__name__}: {str(error)[:300]}"
        ) from None
    if got != expected:
        raise core.CheckFailure(
            f"{name}: expected an output of shape (batch, {', '.join(map(str, expected))}), "
            f"got (batch, {', '.join(map(str, got))})."
        )


def _copy_all_weights(student, ref, rng, name: str) -> None:
    """Give both models the same random weights (every weight: kernels and biases)."""
    expected, got = _shapes(ref.weights), _shapes(student.weights)
    if expected != got:
        raise core.CheckFailure(
            f"{name}: the weights do not have the expected shapes, layer by layer.\n"
            f"expected {expected}\ngot      {got}\n"
            "Each convolution has a kernel (kh, kw, in_channels, filters) and a bias; each "
            "Dense layer a kernel (inputs, units) and a bias."
        )
    values = _random_weights(expected, rng)
    ref.set_weights(values)
    student.set_weights(values)


def _copy_kernels(student, ref, rng, name: str) -> None:
    """Give every kernel (rank >= 2) the same random values, matched by shape in order.

    Vectors (BatchNormalization's gamma, beta and statistics) keep their initial values.
    """
    ref_kernels = [w for w in ref.weights if len(w.shape) >= 2]
    free = [w for w in student.weights if len(w.shape) >= 2]
    expected = _shapes(ref_kernels)
    for variable, value in zip(ref_kernels, _random_weights(expected, rng), strict=True):
        variable.assign(value)
        match = next((w for w in free if tuple(w.shape) == tuple(variable.shape)), None)
        if match is None:
            raise core.CheckFailure(
                f"{name}: no kernel of shape {tuple(variable.shape)} in your block.\n"
                f"expected kernels {expected}\ngot kernels      {_shapes(free)}"
            )
        match.assign(value)
        free.remove(match)
    if free:
        raise core.CheckFailure(
            f"{name}: unexpected extra kernels {_shapes(free)} (expected only {expected})."
        )


def _compare_outputs(student, ref, x, name: str, training: bool, hint: str = "") -> None:
    keras = _keras()
    tol = core.tolerance_for(FLOAT32)
    expected = keras.ops.convert_to_numpy(ref(x, training=training))
    got = keras.ops.convert_to_numpy(student(x, training=training))
    core.assert_close(got, expected, f"{name}: output under identical weights", tol, hint)


def _inputs(rng, batch, shape) -> np.ndarray:
    return rng.standard_normal((batch, *shape)).astype(FLOAT32)


# ==================================================================== LeNet-5
@dataclass(frozen=True)
class LeNetCase:
    input_shape: tuple
    n_classes: int
    seed: int = 0

    def __repr__(self) -> str:
        return f"build_lenet5({self.input_shape}, {self.n_classes})"


def _stage_shapes(model) -> list[tuple] | None:
    """Output shapes of the model's layers, consecutive repeats merged (None if unknown)."""
    shapes = []
    for layer in getattr(model, "layers", []):
        try:
            shape = tuple(layer.output.shape[1:])
        except (AttributeError, ValueError):
            return None
        if not shapes or shapes[-1] != shape:
            shapes.append(shape)
    return shapes


def _check_stages(model, case: LeNetCase) -> None:
    expected = reference.lenet5_stage_shapes(case.input_shape, case.n_classes)
    shapes = _stage_shapes(model)
    if shapes is None:
        return  # a subclassed model: its behaviour is checked below
    position = 0
    names = ["conv 6@5x5 'same'", "average pool 2x2", "conv 16@5x5 'valid'", "average pool 2x2",
             "flatten", "dense 120", "dense 84", f"dense {case.n_classes} (logits)"]
    for stage, shape in enumerate(expected):
        while position < len(shapes) and shapes[position] != shape:
            position += 1
        if position == len(shapes):
            raise core.CheckFailure(
                f"{case!r}: after stage {stage + 1} ({names[stage]}) the output should have "
                f"shape {shape}; your layers produce {shapes}."
            )


def check_lenet5_case(build_lenet5, case: LeNetCase) -> None:
    rng = core.rng(case.seed)
    student = _require_model(
        core.call_student(build_lenet5, case.input_shape, case.n_classes), "build_lenet5"
    )
    ref = reference.reference_lenet5(case.input_shape, case.n_classes)
    _check_output_shape(student, ref, case.input_shape, repr(case))
    _check_stages(student, case)
    _check_param_count(
        student, ref, repr(case),
        "Count them: a conv has kh*kw*in_channels*filters + filters, a Dense "
        "inputs*units + units. A wrong padding in the first conv changes the flatten size.",
    )
    _copy_all_weights(student, ref, rng, repr(case))
    _compare_outputs(
        student, ref, _inputs(rng, 3, case.input_shape), repr(case), training=False,
        hint="Same weights, different outputs: check the activations (tanh), the pooling "
        "(average, not max) and that the last layer returns logits (no softmax).",
    )


def public_build_lenet5(build_lenet5) -> None:
    check_lenet5_case(build_lenet5, LeNetCase((28, 28, 1), 10))
    print("build_lenet5: (28, 28, 1) -> 10 logits: shapes, 61,706 parameters and outputs match.")


def hidden_build_lenet5(build_lenet5, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("Fashion-MNIST input (28, 28, 1), 10 classes",
                       [LeNetCase((28, 28, 1), 10, seed) for seed in (1, 2)]),
        core.CaseGroup("original LeNet input (32, 32, 1)", [LeNetCase((32, 32, 1), 10, 3)]),
        core.CaseGroup("colour input, other class counts",
                       [LeNetCase((32, 32, 3), 5, 4), LeNetCase((28, 28, 3), 2, 5)]),
        core.CaseGroup("non-square input", [LeNetCase((36, 28, 2), 7, 6)]),
    ]
    return core.score_groups(
        "build_lenet5", groups, lambda c: check_lenet5_case(build_lenet5, c), points
    )


# ================================================================== VGG block
@dataclass(frozen=True)
class BlockCase:
    input_shape: tuple
    args: tuple
    seed: int = 0
    function: str = "block"

    def __repr__(self) -> str:
        arguments = ", ".join(map(repr, self.args))
        return f"{self.function}(keras.Input({self.input_shape}), {arguments})"


def check_vgg_case(vgg_block, case: BlockCase) -> None:
    rng = core.rng(case.seed)
    keras = _keras()
    student = _block_model(vgg_block, case.input_shape, case.args, "vgg_block")
    inputs = keras.Input(case.input_shape)
    ref = keras.Model(inputs, reference.reference_vgg_block(inputs, *case.args))
    _check_output_shape(student, ref, case.input_shape, repr(case))
    _check_param_count(
        student, ref, repr(case),
        "Each 3x3 conv has 3*3*in_channels*filters + filters parameters; the first sees the "
        "block's input channels, the others `filters` channels.",
    )
    _copy_all_weights(student, ref, rng, repr(case))
    _compare_outputs(
        student, ref, _inputs(rng, 2, case.input_shape), repr(case), training=False,
        hint="Check: ReLU after every conv, 'same' padding, then 2x2 max pooling (stride 2).",
    )


def _vgg(shape, filters, n_convs, seed):
    return BlockCase(shape, (filters, n_convs), seed, "vgg_block")


def public_vgg_block(vgg_block) -> None:
    check_vgg_case(vgg_block, _vgg((8, 8, 3), 4, 2, 0))
    print("vgg_block: (8, 8, 3) -> (4, 4, 4) with 2 convs: shapes, parameters and outputs match.")


def hidden_vgg_block(vgg_block, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("two convs", [_vgg((8, 8, 3), 4, 2, 1), _vgg((12, 10, 2), 6, 2, 2)]),
        core.CaseGroup("one conv, three convs", [_vgg((6, 6, 1), 3, 1, 3), _vgg((8, 8, 2), 2, 3, 4)]),
        core.CaseGroup("odd sizes (pooling drops the last row)", [_vgg((7, 9, 3), 4, 2, 5)]),
    ]
    return core.score_groups("vgg_block", groups, lambda c: check_vgg_case(vgg_block, c), points)


# ============================================================== residual block
def _bn_block_check(block, case: BlockCase, reference_block, hint: str) -> None:
    rng = core.rng(case.seed)
    keras = _keras()
    student = _block_model(block, case.input_shape, case.args, case.function)
    inputs = keras.Input(case.input_shape)
    ref = keras.Model(inputs, reference_block(inputs, *case.args))
    _check_output_shape(student, ref, case.input_shape, repr(case))
    _check_param_count(student, ref, repr(case), hint)
    _copy_kernels(student, ref, rng, repr(case))
    _compare_outputs(student, ref, _inputs(rng, 4, case.input_shape), repr(case), True, hint)


RESIDUAL_HINT = (
    "The block: conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut "
    "(identity, or conv1x1(stride) -> BN when the stride is not 1 or the channels change), "
    "then ReLU after the addition. Convolutions use use_bias=False."
)


def check_residual_case(residual_block, case: BlockCase) -> None:
    _bn_block_check(residual_block, case, reference.reference_residual_block, RESIDUAL_HINT)


def _res(shape, filters, stride, seed):
    return BlockCase(shape, (filters, stride), seed, "residual_block")


def public_residual_block(residual_block) -> None:
    check_residual_case(residual_block, _res((6, 6, 4), 4, 1, 0))
    check_residual_case(residual_block, _res((6, 6, 4), 8, 2, 1))
    print("residual_block: identity shortcut and projection shortcut (stride 2) match.")


def hidden_residual_block(residual_block, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("identity shortcut", [_res((6, 6, 4), 4, 1, 2), _res((5, 7, 3), 3, 1, 3)]),
        core.CaseGroup("projection: channels change", [_res((6, 6, 2), 5, 1, 4)]),
        core.CaseGroup("projection: stride 2", [_res((8, 8, 4), 8, 2, 5), _res((6, 6, 3), 3, 2, 6)]),
        core.CaseGroup("stride 2 on odd sizes", [_res((7, 5, 2), 4, 2, 7)]),
    ]
    return core.score_groups(
        "residual_block", groups, lambda c: check_residual_case(residual_block, c), points
    )


# ============================================================= separable block
SEPARABLE_HINT = (
    "The block: depthwise 3x3 conv (stride, 'same') -> BN -> ReLU -> pointwise 1x1 conv "
    "-> BN -> ReLU. Convolutions use use_bias=False."
)


def check_separable_case(separable_block, case: BlockCase) -> None:
    _bn_block_check(separable_block, case, reference.reference_separable_block, SEPARABLE_HINT)


def _sep(shape, filters, stride, seed):
    return BlockCase(shape, (filters, stride), seed, "separable_block")


def public_separable_block(separable_block) -> None:
    check_separable_case(separable_block, _sep((6, 6, 4), 8, 1, 0))
    print("separable_block: (6, 6, 4) -> (6, 6, 8): parameters and outputs match.")


def hidden_separable_block(separable_block, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("stride 1", [_sep((6, 6, 4), 8, 1, 1), _sep((5, 7, 3), 2, 1, 2)]),
        core.CaseGroup("stride 2", [_sep((8, 8, 4), 6, 2, 3), _sep((7, 7, 2), 4, 2, 4)]),
        core.CaseGroup("one input channel", [_sep((6, 6, 1), 3, 1, 5)]),
    ]
    return core.score_groups(
        "separable_block", groups, lambda c: check_separable_case(separable_block, c), points
    )


# ======================================================= separable_param_saving
@dataclass(frozen=True)
class SavingCase:
    kernel_size: object
    in_channels: object
    out_channels: object
    bad: bool = False  # True: the function must raise ValueError

    def __repr__(self) -> str:
        return (f"separable_param_saving({self.kernel_size!r}, {self.in_channels!r}, "
                f"{self.out_channels!r})")

    @property
    def args(self) -> tuple:
        return (self.kernel_size, self.in_channels, self.out_channels)


def check_saving_case(function, case: SavingCase) -> None:
    if case.bad:
        core.expect_value_error(function, case.args, "sizes must be positive integers")
        return
    k, c_in, c_out = case.args
    standard, separable = core.run_reference(
        lambda: np.array(reference.reference_separable_param_counts(k, c_in, c_out))
    )
    got = core.call_without_tensorflow(function, k, c_in, c_out)
    if not isinstance(got, tuple) or len(got) != 3:
        raise core.CheckFailure(
            f"{case!r}: expected a tuple (standard, separable, ratio), got {got!r}."
        )
    core.assert_equal(
        int(got[0]), int(standard), f"{case!r}: standard conv weights",
        f"A standard conv has k*k*in*out = {k}*{k}*{c_in}*{c_out} weights (no bias).",
    )
    core.assert_equal(
        int(got[1]), int(separable), f"{case!r}: separable weights",
        f"Depthwise k*k*in = {k * k * c_in}, plus pointwise in*out = {c_in * c_out} (no bias).",
    )
    ratio = separable / standard
    core.assert_close(
        np.float64(got[2]), np.float64(ratio), f"{case!r}: ratio separable/standard",
        core.tolerance_for(np.float64, "CPU"), f"1/out + 1/k^2 = 1/{c_out} + 1/{k * k}.",
    )


def public_separable_param_saving(function) -> None:
    check_saving_case(function, SavingCase(3, 32, 64))
    print("separable_param_saving(3, 32, 64) = (18432, 2336, 0.1267...): correct.")


def hidden_separable_param_saving(function, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("MobileNet sizes", [SavingCase(3, 32, 64), SavingCase(3, 512, 512)]),
        core.CaseGroup("other kernels", [SavingCase(5, 16, 24), SavingCase(7, 3, 8),
                                         SavingCase(1, 8, 8)]),
        core.CaseGroup("one channel in or out", [SavingCase(3, 1, 1), SavingCase(3, 1, 16)]),
        core.CaseGroup(
            "rejects sizes that are not positive integers",
            [SavingCase(0, 3, 3, True), SavingCase(3, -1, 4, True), SavingCase(3, 4, 2.5, True)],
        ),
    ]
    return core.score_groups(
        "separable_param_saving", groups, lambda c: check_saving_case(function, c), points
    )


# ================================================== compile_for_integer_labels
def _identity_model(n_classes: int):
    keras = _keras()
    return keras.Sequential([keras.Input((n_classes,)), keras.layers.Identity()])


def _logits_and_labels(rng, batch, n_classes):
    logits = (rng.standard_normal((batch, n_classes)) * 3).astype(FLOAT32)
    labels = rng.integers(0, n_classes, size=batch).astype(np.int64)
    labels[: batch // 2] = np.argmax(logits[: batch // 2], axis=1)  # about half right
    return logits, labels


@dataclass(frozen=True)
class CompileCase:
    n_classes: int
    batch: int
    seed: int

    def __repr__(self) -> str:
        return f"compile_for_integer_labels(model with {self.n_classes} logits), batch {self.batch}"


def check_compile_case(function, case: CompileCase) -> None:
    rng = core.rng(case.seed)
    model = _identity_model(case.n_classes)
    compiled = core.call_student(function, model)
    _require_model(compiled, "compile_for_integer_labels")
    if getattr(compiled, "optimizer", None) is None:
        raise core.CheckFailure(f"{case!r}: the model is not compiled: call model.compile(...).")
    if not core.is_instance(compiled.optimizer, "keras.optimizers.Optimizer"):
        raise core.CheckFailure(f"{case!r}: expected a keras optimizer, got {compiled.optimizer!r}.")
    logits, labels = _logits_and_labels(rng, case.batch, case.n_classes)
    expected = float(core.run_reference(reference.reference_integer_label_loss, labels, logits))
    tol = core.tolerance_for(FLOAT32)
    try:  # eager calls: no tf.function, so no retracing warning on stderr
        loss = float(compiled.compute_loss(x=logits, y=labels, y_pred=logits, training=False))
        for metric in compiled.metrics:
            metric.reset_state()
        results = {
            name: float(value)
            for name, value in compiled.compute_metrics(logits, labels, logits).items()
        }
    except Exception as error:  # noqa: BLE001 - explain the usual cause
        raise core.CheckFailure(
            f"{case!r}: computing the loss of logits against integer labels failed: "
            f"{type(error).__name__}: {str(error)[:300]}\nWith integer labels (not one-hot) the "
            "loss is the *sparse* categorical cross-entropy."
        ) from None
    core.assert_close(
        np.float64(loss), np.float64(expected), f"{case!r}: loss on a batch", tol,
        "The model outputs logits (no softmax): the loss needs from_logits=True. "
        "Probabilities and logits give different losses on the same numbers.",
    )
    accuracy = float(np.mean(np.argmax(logits, axis=1) == labels))
    found = {name: value for name, value in results.items() if "acc" in name}
    if not found:
        raise core.CheckFailure(
            f"{case!r}: no accuracy metric: the model reports only {sorted(results)}. "
            "Pass metrics=['accuracy'] to compile."
        )
    name, value = next(iter(found.items()))
    core.assert_close(
        np.float64(value), np.float64(accuracy), f"{case!r}: metric {name!r}", tol,
        "With integer labels the accuracy compares argmax(logits) to the label.",
    )


def public_compile_for_integer_labels(function) -> None:
    check_compile_case(function, CompileCase(10, 16, 0))
    print("compile_for_integer_labels: loss and accuracy on a batch of logits match.")


def hidden_compile_for_integer_labels(function, points: float = 1.0) -> float:
    groups = [
        core.CaseGroup("10 classes", [CompileCase(10, 16, 1), CompileCase(10, 7, 2)]),
        core.CaseGroup("2 and 3 classes", [CompileCase(2, 12, 3), CompileCase(3, 9, 4)]),
        core.CaseGroup("confident logits", [CompileCase(5, 20, 5)]),
    ]
    return core.score_groups(
        "compile_for_integer_labels", groups, lambda c: check_compile_case(function, c), points
    )


# ============================================================ training exercise
TRAIN_SIZE = 3000
VALIDATION_SIZE = 1000
HELD_OUT_SIZE = 2000
TIME_BUDGET_S = 60.0
ACCURACY_THRESHOLDS = (0.72, 0.78)
TRAINING_SEED = 0

_RUNS: dict = {}


def training_data():
    """``(x_train, y_train), (x_val, y_val), (x_held, y_held)``: a seeded Fashion-MNIST subset.

    Images float32 in [0, 1], shape (N, 28, 28, 1); labels int64 0..9. The
    training and validation images come from the training set, the held-out
    images (hidden test) from the test set.
    """
    from cnnvision.data import load_fashion_mnist

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    rng = core.rng(TRAINING_SEED)
    picked = rng.permutation(len(x_train))[: TRAIN_SIZE + VALIDATION_SIZE]
    held = rng.permutation(len(x_test))[:HELD_OUT_SIZE]

    def scale(images):
        return (images[..., np.newaxis] / np.float32(255.0)).astype(FLOAT32)

    train, val = picked[:TRAIN_SIZE], picked[TRAIN_SIZE:]
    return (
        (scale(x_train[train]), y_train[train].astype(np.int64)),
        (scale(x_train[val]), y_train[val].astype(np.int64)),
        (scale(x_test[held]), y_test[held].astype(np.int64)),
    )


def _accuracy(model, x, y) -> float:
    keras = _keras()
    scores = keras.ops.convert_to_numpy(model.predict(x, batch_size=500, verbose=0))
    if scores.shape != (len(x), 10):
        raise core.CheckFailure(
            f"train_on_subset: the model should output (N, 10) class scores for (N, 28, 28, 1) "
            f"images, got {scores.shape}."
        )
    return float(np.mean(np.argmax(scores, axis=1) == y))


def run_training(train_on_subset) -> dict:
    """Train once per function (seeded, timed); the public and hidden checks share the run."""
    if train_on_subset in _RUNS:
        return _RUNS[train_on_subset]
    (x_train, y_train), validation, held_out = training_data()
    core.run_where(train_on_subset, common.seed_training, TRAINING_SEED)
    start = time.perf_counter()
    model = core.call_student(train_on_subset, x_train.copy(), y_train.copy())
    seconds = time.perf_counter() - start
    _require_model(model, "train_on_subset")
    run = {
        "seconds": seconds,
        "validation_accuracy": _accuracy(model, *validation),
        "held_out_accuracy": _accuracy(model, *held_out),
    }
    _RUNS.clear()  # the public and hidden checks of one test cell share a run; no more
    _RUNS[train_on_subset] = run
    return run


def public_train_on_subset(train_on_subset) -> None:
    run = run_training(train_on_subset)
    print(f"train_on_subset: trained in {run['seconds']:.1f} s; validation accuracy "
          f"{run['validation_accuracy']:.3f} (target >= {ACCURACY_THRESHOLDS[-1]:.2f}, "
          f"time budget {TIME_BUDGET_S:.0f} s).")
    if run["validation_accuracy"] < ACCURACY_THRESHOLDS[0]:
        raise core.CheckFailure(
            f"train_on_subset: validation accuracy {run['validation_accuracy']:.3f} is below "
            f"{ACCURACY_THRESHOLDS[0]:.2f}. Is the model trained (model.fit), with the right loss "
            "(integer labels, logits) and enough epochs?"
        )


def hidden_train_on_subset(train_on_subset, points: float = 1.0) -> float:
    run = run_training(train_on_subset)

    def within_budget(_):
        if run["seconds"] > TIME_BUDGET_S:
            raise core.CheckFailure(
                f"training took {run['seconds']:.0f} s, over the {TIME_BUDGET_S:.0f} s budget"
            )

    def accuracy_at_least(threshold):
        def check(_):
            if run["held_out_accuracy"] < threshold:
                raise core.CheckFailure(
                    f"held-out accuracy {run['held_out_accuracy']:.3f} < {threshold:.2f}"
                )
        return check

    groups = [(core.CaseGroup(f"held-out accuracy >= {t:.2f}", [t]), accuracy_at_least(t))
              for t in ACCURACY_THRESHOLDS]
    groups.append((core.CaseGroup(f"trains within {TIME_BUDGET_S:.0f} s", ["time"]),
                   within_budget))
    lines, passed = [], 0
    for group, check in groups:
        failure = group.run(check)
        passed += failure is None
        lines.append(f"  [{'pass' if failure is None else 'FAIL'}] {group.name}"
                     + (f": {failure}" if failure else ""))
    report = f"train_on_subset: {passed}/{len(groups)} groups pass\n" + "\n".join(lines)
    if passed == 0 or run["held_out_accuracy"] < ACCURACY_THRESHOLDS[0]:
        raise core.CheckFailure(report)
    print(report)
    return float(math.floor(passed / len(groups) * points * 1000 + 1e-9) / 1000)
