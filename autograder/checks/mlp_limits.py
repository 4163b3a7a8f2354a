"""Checks for the "Why MLPs are not enough" notebook.

``public_<fn>(fn)`` runs a few teaching cases and raises :class:`CheckFailure` at
the first problem; ``hidden_<fn>(fn)`` runs seeded cases in groups against the
references in ``autograder.reference.mlp_limits`` and returns the fraction of
groups passed, times ``points`` (nbgrader reads the value a test cell ends with
as points earned, between 0 and the cell's points).

Tolerances: ``sigmoid`` is compared in float64 (rtol 1e-9, atol 1e-9); Keras
model outputs in float32 (``core.tolerance_for(np.float32)``: rtol 1e-4,
atol 1e-5 x max|expected| on CPU, 1e-3 / 1e-4 on GPU); shifted images and
parameter counts exactly; accuracies to 1e-9 (the same predictions give the
same fraction).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from autograder import core
from autograder.reference import mlp_limits as ref

# graded test cells run these checks in the grading worker, out of the student's reach: a
# student's model stays in the kernel (the checks call it there), the grader's cross as
# architecture and weights
CHECKS_RUN_IN = "worker"

FLOAT = np.float32
ACCURACY_TOLERANCE = 1e-9


class Case(tuple):
    """A tuple of arguments that prints as a short label in the score report."""

    def __new__(cls, label: str, *args):
        case = super().__new__(cls, args)
        case.label = label
        return case

    def __repr__(self) -> str:
        return self.label


def _as_array(got, name: str) -> np.ndarray:
    try:
        return np.asarray(got)
    except Exception as error:  # noqa: BLE001 - report what the student returned
        raise core.CheckFailure(f"{name}: expected a numpy array, got {type(got).__name__}.") from error


def _call_quietly(fn, *args):
    """Call the student's function; a numpy warning (overflow...) is a failure with a message.

    In a graded cell a warning goes to stderr and nbgrader scores the cell 0, so
    it is better reported here, with the reason.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = core.call_student(fn, *args)
    if caught:
        raise core.CheckFailure(
            f"{fn.__name__} printed a warning: {caught[0].category.__name__}: {caught[0].message}. "
            "In a graded notebook a warning on stderr scores the cell 0."
        )
    return result


# ----------------------------------------------------------------------- sigmoid
def _check_sigmoid(fn, case) -> None:
    s, a = case
    expected = core.run_reference(ref.sigmoid, s, a)
    name = f"sigmoid(s of shape {np.shape(s)}, a={a})"
    try:
        got = _call_quietly(fn, np.array(s, dtype=np.float64), a)
    except core.CheckFailure as failure:
        if "overflow" in str(failure):
            raise core.CheckFailure(
                f"{failure}\nnp.exp(-a*s) overflows for very negative s (exp(1000) is inf). "
                "Use a form that only ever exponentiates negative numbers, e.g. exp(s) / (1 + exp(s)) "
                "where s < 0, or np.exp(-np.logaddexp(0, -a*s))."
            ) from None
        raise
    got = _as_array(got, name)
    hint = ""
    if got.shape == expected.shape and np.allclose(got, 1.0 - expected, atol=1e-6):
        hint = "Your values are 1 - sigmoid: check the sign in exp(-a s)."
    elif got.shape == expected.shape and a != 1 and np.allclose(got, core.run_reference(ref.sigmoid, s, 1.0)):
        hint = f"Your values are sigmoid(s) with a = 1: the slope a = {a} is not used."
    core.assert_close(got, expected, name, core.tolerance_for(np.float64),
                      hint or "sigmoid(s) = 1 / (1 + exp(-a s)), element by element, same shape as s.")


def public_sigmoid(fn) -> None:
    core.call_without_tensorflow(fn, np.zeros(3), 1.0)
    for case in [Case("s = [0, 1.45, -1.45]", np.array([0.0, 1.45, -1.45]), 1.0),
                 Case("s = -5..5, a=2", np.linspace(-5, 5, 11), 2.0)]:
        _check_sigmoid(fn, case)
    print("sigmoid: the public cases pass.")


def hidden_sigmoid(fn, points: float = 1) -> float:
    core.call_without_tensorflow(fn, np.ones(2), 0.5)
    rng = core.rng(11)
    groups = [
        core.CaseGroup("random vectors, a = 1",
                       [Case(f"{n} random values, a=1", rng.normal(0, 4, size=n), 1.0) for n in (1, 7, 50)]),
        core.CaseGroup("slope a", [Case(f"9 values, a={a}", rng.normal(0, 3, size=9), a) for a in (0.5, 3.0, 10.0)]),
        core.CaseGroup("any shape (matrices, a 0-d array)", [
            Case("s of shape (3, 4)", rng.normal(size=(3, 4)), 1.0),
            Case("s of shape (2, 3, 2), a=2", rng.normal(size=(2, 3, 2)), 2.0),
            Case("s = np.array(0.7), 0-d", np.array(0.7), 1.0)]),
        core.CaseGroup("large |s| without overflow", [
            Case("s = [-1000, -50, 0, 50, 1000]", np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), 1.0),
            Case("s = [-800, 800], a=2", np.array([-800.0, 800.0]), 2.0)]),
    ]
    return core.score_groups("sigmoid", groups, lambda case: _check_sigmoid(fn, case), points)


# ----------------------------------------------------------- perceptron_predict
def _check_perceptron(fn, case) -> None:
    x, w, b = case
    expected = core.run_reference(ref.perceptron_predict, x, w, b)
    name = f"perceptron_predict(x of shape {x.shape}, w={np.round(w, 3).tolist()}, b={b:g})"
    got = _as_array(core.call_student(fn, x.copy(), w.copy(), b), name)
    core.assert_shape(got, expected.shape, name, "one prediction (0 or 1) per row of x.")
    values = set(np.unique(got).tolist())
    if not values <= {0, 1}:
        hint = "The unit outputs 0 or 1 (the step of s = w . x + b), "
        if -1 in values:
            hint += "not -1/+1: np.sign gives -1 for negative s."
        else:
            hint += f"but you returned other values ({sorted(values)[:4]}...): did you return s itself?"
        raise core.CheckFailure(f"{name}: {hint}")
    wrong = np.flatnonzero(got.astype(np.int64) != expected)
    if wrong.size:
        i = int(wrong[0])
        s = float(x[i] @ w + b)
        message = (f"{name}: {wrong.size} of {len(expected)} predictions are wrong. Row {i}: "
                   f"x={x[i].tolist()}, s = w . x + b = {s:g}, expected {expected[i]}, got {int(got[i])}.")
        if s == 0:
            message += "\nA point exactly on the line (s = 0) belongs to class 1: use s >= 0."
        raise core.CheckFailure(message)


def _integer_points(rng, n, m, low=-10, high=11):
    return rng.integers(low, high, size=(n, m)).astype(np.float64)


def public_perceptron_predict(fn) -> None:
    core.call_without_tensorflow(fn, np.zeros((1, 2)), np.ones(2), 0.0)
    lecture_points = np.array([[0.0, 0.0], [0.0, 20.0], [5.0, 12.0], [5.0, 18.0], [-10.0, 5.0]])
    _check_perceptron(fn, Case("the lecture's unit", lecture_points, np.array([1.0, -1.0]), 10.0))
    print("perceptron_predict: the public cases pass.")


def hidden_perceptron_predict(fn, points: float = 1) -> float:
    core.call_without_tensorflow(fn, np.ones((2, 3)), np.ones(3), -1.0)
    rng = core.rng(22)
    lecture_w = np.array([1.0, -1.0])
    on_line = np.array([[0.0, 10.0], [-10.0, 0.0], [3.0, 13.0], [1.0, 0.0]])
    groups = [
        core.CaseGroup("the lecture's unit w = (1, -1), b = 10",
                       [Case("30 random points", rng.uniform(-20, 20, size=(30, 2)), lecture_w, 10.0)]),
        core.CaseGroup("random units in 2 to 10 dimensions", [
            Case(f"25 points in {m} dimensions", rng.normal(size=(25, m)), rng.normal(size=m), float(rng.normal()))
            for m in (2, 5, 10)]),
        core.CaseGroup("the bias matters", [
            Case("w = (0.5, 2), b = -7", _integer_points(rng, 20, 2), np.array([0.5, 2.0]), -7.0),
            Case("w = (1, 1, 1), b = 4", _integer_points(rng, 20, 3), np.array([1.0, 1.0, 1.0]), 4.0)]),
        core.CaseGroup("points exactly on the line count as 1", [Case("4 points on the line", on_line, lecture_w, 10.0)]),
    ]
    return core.score_groups("perceptron_predict", groups, lambda case: _check_perceptron(fn, case), points)


# ------------------------------------------------------------ dense_param_count
# Above this many weights the reference is the formula (allocating the layer is
# too slow); tests/test_mlp_limits.py checks that the formula agrees with Keras.
KERAS_COUNT_LIMIT = 2_000_000


def _reference_count(input_shape, units, bias) -> int:
    if math.prod(input_shape) * units <= KERAS_COUNT_LIMIT:
        return ref.dense_param_count(input_shape, units, bias)
    return ref.dense_param_count_formula(input_shape, units, bias)


def count_formula(input_shape, units, bias) -> str:
    """``28 x 28 x 1 inputs x 128 units + 128 biases = 100480``, for a message."""
    dims = " x ".join(str(d) for d in input_shape)
    inputs = math.prod(input_shape)
    total = inputs * units + (units if bias else 0)
    bias_text = f" + {units} biases" if bias else " (no bias)"
    return f"({dims} = {inputs} inputs) x {units} units{bias_text} = {total:,}"


def _check_count(fn, case) -> None:
    input_shape, units, bias = case
    expected = _reference_count(input_shape, units, bias)
    name = f"dense_param_count({input_shape}, {units}, bias={bias})"
    got = core.call_student(fn, input_shape, units, bias)
    if isinstance(got, bool) or not isinstance(got, int | np.integer):
        if isinstance(got, float) and got == expected:
            raise core.CheckFailure(f"{name}: the value is right but it is a float ({got!r}); return an int.")
        raise core.CheckFailure(f"{name}: expected an int, got {type(got).__name__} {got!r}.")
    hint = "Every input is connected to every unit: " + count_formula(input_shape, units, bias) + "."
    if bias and got == expected - units:
        hint += " You forgot the biases (one per unit)."
    elif not bias and got == expected + units:
        hint += " With bias=False there are no biases."
    elif len(input_shape) == 3 and got == math.prod(input_shape[:2]) * units + (units if bias else 0):
        hint += f" You left out the {input_shape[2]} channels: each pixel has {input_shape[2]} inputs."
    core.assert_equal(int(got), expected, name, hint)


def public_dense_param_count(fn) -> None:
    core.call_without_tensorflow(fn, (4, 4), 2, True)
    for case in [((28, 28), 128, True), ((784,), 10, False), ((32, 32, 3), 100, True)]:
        _check_count(fn, case)
    print("dense_param_count: the public cases pass.")


def hidden_dense_param_count(fn, points: float = 1) -> float:
    core.call_without_tensorflow(fn, (3, 5, 2), 7, False)
    rng = core.rng(33)

    def shapes(ndim, count, high):
        return [tuple(int(v) for v in rng.integers(1, high, size=ndim)) for _ in range(count)]

    groups = [
        core.CaseGroup("flat inputs, with bias", [(s, int(rng.integers(1, 300)), True) for s in shapes(1, 4, 2000)]),
        core.CaseGroup("grey images (H, W)", [(s, int(rng.integers(1, 200)), True) for s in shapes(2, 4, 64)]),
        core.CaseGroup("colour images (H, W, C)",
                       [(s, int(rng.integers(1, 200)), True) for s in shapes(3, 3, 40)]
                       + [((224, 224, 3), 1000, True), ((64, 64, 3), 512, True)]),
        core.CaseGroup("bias=False", [(s, int(rng.integers(1, 100)), False) for s in shapes(2, 2, 50) + shapes(3, 2, 20)]),
        core.CaseGroup("one input or one unit", [((1,), 1, True), ((1,), 5, False), ((28, 28), 1, True)]),
    ]
    return core.score_groups("dense_param_count", groups, lambda case: _check_count(fn, case), points)


# ------------------------------------------------------------------ shift_images
def _shift_hint(got, x, dx, dy) -> str:
    """Name the classic mistake when the result matches it."""
    def matches(candidate):
        return got.shape == candidate.shape and np.array_equal(got, candidate)

    if dx or dy:
        rolled = np.roll(x, (dy, dx), axis=(1, 2))
        if matches(rolled):
            return ("Your shift wraps around (np.roll): what leaves on one side comes back on the other. "
                    "The pixels that enter the frame must be 0.")
        if matches(ref.shift_images(x, dy, dx)):
            return "dx and dy are swapped: dx moves along the columns (axis 2), dy along the rows (axis 1)."
        if matches(ref.shift_images(x, -dx, -dy)):
            return "Wrong direction: a positive dx moves the content right, a positive dy moves it down."
        for ex, ey in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if matches(ref.shift_images(x, dx + ex, dy + ey)):
                return f"Off by one: your result is the shift by dx={dx + ex}, dy={dy + ey}."
    return ""


def _first_wrong_pixel(got, expected, dx, dy) -> str:
    wrong = np.argwhere(got != expected)
    first = tuple(int(i) for i in wrong[0])
    text = f"First wrong pixel {first}: expected {expected[first]}, got {got[first]}."
    if expected[first] == 0 and got[first] != 0:
        text += f" It should be 0: this pixel entered the frame with the shift dx={dx}, dy={dy}."
    return f"{len(wrong)} of {expected.size} pixels differ. {text}"


def _check_shift(fn, case) -> None:
    shape, dx, dy, dtype, seed = case
    rng = core.rng(seed)
    x = (rng.integers(1, 256, size=shape)).astype(dtype)
    original = x.copy()
    expected = ref.shift_images(x, dx, dy)
    name = f"shift_images(x of shape {shape}, dx={dx}, dy={dy})"
    got = _as_array(core.call_student(fn, x, dx, dy), name)
    if not np.array_equal(x, original):
        raise core.CheckFailure(f"{name}: your function changed its input x; work on a copy (np.zeros_like(x)).")
    core.assert_shape(got, expected.shape, name, "A shift keeps the shape: the frame stays the same size.")
    if got.dtype != expected.dtype:
        raise core.CheckFailure(f"{name}: the input is {x.dtype} but the output is {got.dtype}; keep the dtype.")
    if np.array_equal(got, expected):
        return
    hint = _shift_hint(got, x, dx, dy)
    raise core.CheckFailure(f"{name}: {_first_wrong_pixel(got, expected, dx, dy)}" + (f"\n{hint}" if hint else ""))


class _BadShift(Case):
    """x of a shape shift_images must refuse (not 3-D or 4-D): a ValueError is due."""


BAD_SHIFT_SHAPES = [(5, 6), (2, 4, 4, 1, 1), (7,)]


def _check_shift_any(fn, case) -> None:
    if isinstance(case, _BadShift):
        (shape,) = case
        core.expect_value_error(fn, (np.ones(shape, np.float32), 1, 0),
                                f"x of shape {shape} is not (N, H, W) or (N, H, W, C)")
    else:
        _check_shift(fn, case)


def public_shift_images(fn) -> None:
    core.call_without_tensorflow(fn, np.ones((1, 3, 3)), 1, 0)
    for case in [((1, 4, 5), 1, 0, np.uint8, 0), ((1, 4, 5), 0, 2, np.uint8, 1), ((2, 5, 5), -2, 1, np.float32, 2)]:
        _check_shift(fn, case)
    print("shift_images: the public cases pass.")


def hidden_shift_images(fn, points: float = 1) -> float:
    core.call_without_tensorflow(fn, np.ones((2, 4, 4, 1)), -1, 2)
    rng = core.rng(44)

    def shifts(count, limit):
        return [tuple(int(v) for v in rng.integers(-limit, limit + 1, size=2)) for _ in range(count)]

    groups = [
        core.CaseGroup("horizontal shifts (dx only)",
                       [((3, 7, 9), dx, 0, np.float32, i) for i, dx in enumerate((1, -1, 4, -6))]),
        core.CaseGroup("vertical shifts (dy only)",
                       [((3, 9, 7), 0, dy, np.float32, i) for i, dy in enumerate((1, -1, 3, -5))]),
        core.CaseGroup("both directions, non-square images",
                       [((2, 6, 11), dx, dy, np.float32, i) for i, (dx, dy) in enumerate(shifts(5, 5))]
                       # every sign combination, deterministically
                       + [((2, 6, 11), dx, dy, np.float32, 10 + i)
                          for i, (dx, dy) in enumerate(((3, 2), (3, -2), (-4, 1), (-2, -3)))]),
        core.CaseGroup("channels (N, H, W, C)",
                       [((2, 8, 6, c), dx, dy, np.float32, i) for i, (c, (dx, dy)) in enumerate(zip((1, 3, 2), shifts(3, 4), strict=True))]),
        core.CaseGroup("zero shift and shifts past the border",
                       [((2, 5, 6), 0, 0, np.float32, 0), ((2, 5, 6), 6, 0, np.float32, 1),
                        ((2, 5, 6), 0, -9, np.float32, 2), ((1, 5, 6, 2), 7, 7, np.float32, 3),
                        ((2, 5, 6), -6, 0, np.float32, 4), ((2, 5, 6), 0, 5, np.float32, 5),
                        ((2, 5, 6), 5, -4, np.float32, 6)]),
        core.CaseGroup("uint8 images keep their dtype",
                       [((4, 28, 28), 3, -2, np.uint8, 5), ((2, 10, 10, 3), -4, 4, np.uint8, 6)]),
        core.CaseGroup("x not 3-D or 4-D raises ValueError",
                       [_BadShift(f"shift_images(x of shape {shape}, 1, 0)", shape) for shape in BAD_SHIFT_SHAPES]),
    ]
    return core.score_groups("shift_images", groups, lambda case: _check_shift_any(fn, case), points)


# ---------------------------------------------------------------------- build_mlp
def _activation(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    return 1.0 / (1.0 + np.exp(-z))


def numpy_forward(x, weights, activation: str) -> np.ndarray:
    """Flatten, then ``activation(a @ W + b)`` for each hidden layer, then ``a @ W + b`` (logits)."""
    a = x.reshape(len(x), -1).astype(np.float64)
    pairs = list(zip(weights[::2], weights[1::2], strict=True))
    for i, (kernel, bias) in enumerate(pairs):
        a = a @ kernel + bias
        if i < len(pairs) - 1:
            a = _activation(activation, a)
    return a


def _seeded_weights(shapes, rng) -> list[np.ndarray]:
    values = []
    for shape in shapes:
        scale = 1.0 / math.sqrt(shape[0]) if len(shape) == 2 else 0.5
        values.append((rng.standard_normal(shape) * scale).astype(FLOAT))
    return values


def _layer_formulas(input_shape, hidden, n_classes) -> str:
    sizes = [math.prod(input_shape), *hidden, n_classes]
    return "\n".join(f"  Dense {i + 1}: {a} x {b} + {b} = {a * b + b:,}"
                     for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)))


def _output_hint(got, logits, x, weights, activation) -> str:
    def near(candidate):
        return got.shape == candidate.shape and np.allclose(got, candidate, rtol=1e-3, atol=1e-4)

    shifted = logits - logits.max(axis=1, keepdims=True)
    softmax = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    if near(softmax):
        return ("Your outputs are softmax probabilities: the last layer must return logits (no activation); "
                "the loss applies softmax (from_logits=True).")
    for other in ref.ACTIVATIONS:
        if other != activation and near(numpy_forward(x, weights, other)):
            return f"Your hidden layers use {other!r}, but activation={activation!r} was asked for."
    for other in ref.ACTIVATIONS:
        if near(_activation(other, logits)):
            return f"Your last layer applies {other!r}: it must return logits (no activation)."
    return "Check the order: Flatten, then each hidden Dense with the activation, then Dense(n_classes) with none."


def _check_build_mlp(fn, case) -> None:

    input_shape, hidden, n_classes, activation, seed = case
    name = f"build_mlp({input_shape}, {hidden}, {n_classes}, activation={activation!r})"
    model = core.call_student(fn, input_shape, hidden, n_classes, activation)
    if not core.is_instance(model, "keras.Model"):
        raise core.CheckFailure(f"{name}: expected a keras.Model, got {core.type_name(model)}.")
    reference = ref.build_mlp(input_shape, hidden, n_classes, activation)
    expected_count, got_count = reference.count_params(), model.count_params()
    if got_count != expected_count:
        raise core.CheckFailure(
            f"{name}: {got_count:,} parameters, expected {expected_count:,}:\n"
            f"{_layer_formulas(input_shape, hidden, n_classes)}")
    expected_shapes = [tuple(w.shape) for w in reference.weights]
    got_shapes = [tuple(w.shape) for w in model.weights]
    if got_shapes != expected_shapes:
        raise core.CheckFailure(
            f"{name}: the weights have shapes {got_shapes}, expected {expected_shapes} "
            "(kernel, bias for each Dense layer, in order).")
    rng = core.rng(seed)
    weights = _seeded_weights(expected_shapes, rng)
    model.set_weights(weights)
    x = rng.uniform(0, 1, size=(5, *input_shape)).astype(FLOAT)
    got = _as_array(model(x, training=False), name)
    core.assert_shape(got, (5, n_classes), f"{name} on a batch of 5", "One row of n_classes logits per image.")
    logits = numpy_forward(x, weights, activation)
    try:
        core.assert_close(got, logits, f"{name}: outputs under fixed weights", core.tolerance_for(FLOAT))
    except core.CheckFailure as failure:
        raise core.CheckFailure(f"{failure}\n{_output_hint(got, logits, x, weights, activation)}") from None


def public_build_mlp(fn) -> None:
    for case in [((28, 28), (32,), 10, "relu", 0), ((6, 6, 3), (8, 4), 3, "tanh", 1)]:
        _check_build_mlp(fn, case)
    print("build_mlp: the public cases pass.")


def hidden_build_mlp(fn, points: float = 1) -> float:
    groups = [
        core.CaseGroup("one hidden layer, relu", [((28, 28), (16,), 10, "relu", 10), ((12,), (7,), 4, "relu", 11)]),
        core.CaseGroup("several hidden layers", [((8, 8), (16, 8, 8), 5, "relu", 12), ((10,), (6, 6), 2, "relu", 13)]),
        core.CaseGroup("the activation argument", [((5, 5), (9,), 3, "tanh", 14), ((4, 6), (5, 3), 6, "sigmoid", 15)]),
        core.CaseGroup("colour images (H, W, C)", [((7, 5, 3), (12,), 4, "relu", 16), ((4, 4, 2), (6,), 2, "tanh", 17)]),
        core.CaseGroup("no hidden layer (multinomial logistic regression)", [((6, 6), (), 3, "relu", 18)]),
    ]
    return core.score_groups("build_mlp", groups, lambda case: _check_build_mlp(fn, case), points)


# ----------------------------------------------------------- accuracy_under_shift
def column_reader(height: int, width: int):
    """A Keras model that predicts the column of the brightest column mass: class k = column k.

    On images holding one bright dot, it is right only when the dot stays in its column,
    so it tells horizontal shifts from vertical ones.
    """
    import keras

    model = keras.Sequential([keras.Input((height, width)), keras.layers.Flatten(),
                              keras.layers.Dense(width, use_bias=False)])
    kernel = np.tile(np.eye(width, dtype=FLOAT), (height, 1))
    model.set_weights([kernel])
    return model


def dot_images(count, height, width, rng):
    """Images holding one bright dot each, and the dot's column as the label."""
    x = np.zeros((count, height, width), FLOAT)
    rows, cols = rng.integers(0, height, count), rng.integers(0, width, count)
    x[np.arange(count), rows, cols] = 1.0
    return x, cols.astype(np.int64)


def random_mlp(input_shape, n_classes, seed):
    """A small MLP with seeded weights (the reference build)."""
    model = ref.build_mlp(input_shape, (12,), n_classes)
    model.set_weights(_seeded_weights([tuple(w.shape) for w in model.weights], core.rng(seed)))
    return model


def small_cnn(input_shape, n_classes, seed):
    """Conv2D, global average pooling, Dense: takes (N, H, W, C) images."""
    import keras

    model = keras.Sequential([keras.Input(input_shape), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(n_classes)])
    model.set_weights(_seeded_weights([tuple(w.shape) for w in model.weights], core.rng(seed)))
    return model


def _check_accuracy(fn, case) -> None:
    description, model, x, y, shifts = case
    name = f"accuracy_under_shift({description}, shifts={shifts})"
    expected = ref.accuracy_under_shift(model, x, y, shifts)
    got = core.call_student(fn, model, x.copy(), y.copy(), shifts)
    if not isinstance(got, dict):
        raise core.CheckFailure(f"{name}: expected a dict {{(dx, dy): accuracy}}, got {type(got).__name__}.")
    try:
        got = {(int(key[0]), int(key[1])): value for key, value in got.items()}
    except (TypeError, ValueError, IndexError):
        raise core.CheckFailure(f"{name}: the keys should be (dx, dy) pairs, got {list(got)[:3]}.") from None
    if set(got) != set(expected):
        raise core.CheckFailure(f"{name}: the keys should be the (dx, dy) pairs {sorted(expected)}, "
                                f"got {sorted(got)}.")
    for (dx, dy), accuracy in expected.items():
        value = got[(dx, dy)]
        if not isinstance(value, float | np.floating | int | np.integer):
            raise core.CheckFailure(f"{name}: accuracy for ({dx}, {dy}) should be a float, got {type(value).__name__}.")
        if abs(float(value) - accuracy) > ACCURACY_TOLERANCE:
            hint = "The accuracy is the fraction (0 to 1) of shifted images whose argmax equals the label."
            if value > 1:
                hint = "An accuracy lies between 0 and 1: divide the number of correct predictions by N."
            elif (dx or dy) and abs(float(value) - expected.get((0, 0), -1)) < 1e-9:
                hint += " Your value equals the unshifted accuracy: are the images shifted?"
            elif abs(1 - float(value) - accuracy) < 1e-9:
                hint = "You returned the error rate (1 - accuracy)."
            hint += " (accuracy_under_shift should call your shift_images: make its test pass first.)"
            raise core.CheckFailure(f"{name}: for shift (dx={dx}, dy={dy}) expected accuracy {accuracy:.4f}, "
                                    f"got {float(value):.4f}.\n{hint}")


def accuracy_cases(seed: int):
    rng = core.rng(seed)
    x_dots, y_dots = dot_images(40, 6, 8, rng)
    reader = column_reader(6, 8)
    x_mlp = rng.uniform(0, 1, size=(30, 7, 7)).astype(FLOAT)
    mlp = random_mlp((7, 7), 3, seed)
    y_mlp = np.asarray(mlp(x_mlp)).argmax(axis=1)
    y_mlp[::3] = rng.integers(0, 3, size=len(y_mlp[::3]))
    x_cnn = rng.uniform(0, 1, size=(20, 8, 8, 2)).astype(FLOAT)
    cnn = small_cnn((8, 8, 2), 4, seed)
    y_cnn = rng.integers(0, 4, size=20)
    return {
        "dots": ("a column reader on dot images", reader, x_dots, y_dots),
        "mlp": ("a small MLP on random images", mlp, x_mlp, y_mlp),
        "cnn": ("a small CNN on (N, H, W, C) images", cnn, x_cnn, y_cnn),
    }


def accuracy_case(setting, shifts) -> Case:
    description, model, x, y = setting
    return Case(f"{description}, shifts={shifts}", description, model, x, y, shifts)


def public_accuracy_under_shift(fn) -> None:
    cases = accuracy_cases(0)
    _check_accuracy(fn, accuracy_case(cases["dots"], [(0, 0), (1, 0), (0, 2)]))
    print("accuracy_under_shift: the public cases pass.")


def hidden_accuracy_under_shift(fn, points: float = 1) -> float:
    cases = accuracy_cases(55)
    groups = [
        core.CaseGroup("horizontal and vertical shifts tell apart", [
            accuracy_case(cases["dots"], [(0, 0), (2, 0), (-3, 0)]),
            accuracy_case(cases["dots"], [(0, 1), (0, -4), (1, 1)])]),
        core.CaseGroup("an MLP on random images", [accuracy_case(cases["mlp"], [(0, 0), (1, 0), (-2, 3)])]),
        core.CaseGroup("images with channels", [accuracy_case(cases["cnn"], [(0, 0), (3, -1)])]),
        core.CaseGroup("shifts past the border", [accuracy_case(cases["dots"], [(9, 0), (0, -7)])]),
    ]
    return core.score_groups("accuracy_under_shift", groups, lambda case: _check_accuracy(fn, case), points)
