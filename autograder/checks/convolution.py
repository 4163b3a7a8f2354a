"""Checks for the "Convolution" notebook.

``public_<fn>(fn)`` runs a few teaching cases and raises :class:`CheckFailure` at
the first problem; ``hidden_<fn>(fn)`` runs many seeded cases against
TensorFlow (``autograder.reference.convolution``) in groups and returns the
fraction of groups passed.  Inputs are float32, so comparisons use
``core.tolerance_for(np.float32)`` (rtol 1e-4, atol 1e-5 x max|expected| on CPU).

nbgrader 0.9.6 takes the number a test cell ends with as the *points* earned
(``nbgrader.utils.get_partial_grade``), so ``hidden_<fn>(fn, points=N)`` returns
the fraction of groups passed times N; the notebook passes the cell's points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autograder import core
from autograder.reference import convolution as ref

# graded test cells run these checks in the grading worker, out of the student's reach
CHECKS_RUN_IN = "worker"

FLOAT = np.float32


# ------------------------------------------------------------------ formulas
def size_formula(n: int, f: int, stride: int, padding) -> str:
    """The output-size formula with the numbers filled in, e.g. for a message."""
    if padding == "same":
        return f"ceil(n / s) = ceil({n} / {stride}) = {math.ceil(n / stride)}"
    p = 0 if padding == "valid" else int(padding)
    value = (n + 2 * p - f) // stride + 1
    return f"floor((n + 2p - f) / s) + 1 = floor(({n} + 2*{p} - {f}) / {stride}) + 1 = {value}"


def _shape_explanation(x_shape, w_shape, stride, padding) -> str:
    sh, sw = ref.as_pair(stride, "stride")
    n, h, w, _ = x_shape
    kh, kw, _, c_out = w_shape
    return (
        f"Expected (N, H_out, W_out, C_out) = ({n}, H_out, W_out, {c_out}) with padding={padding!r}:\n"
        f"  H_out = {size_formula(h, kh, sh, padding)}\n"
        f"  W_out = {size_formula(w, kw, sw, padding)}"
    )


# ------------------------------------------------------------- conv_output_size
def _check_output_size(fn, case) -> None:
    n, f, stride, padding = case
    expected = ref.output_size(n, f, stride, padding)
    got = core.call_student(fn, n, f, stride, padding)
    if isinstance(got, float) and not isinstance(got, bool) and got.is_integer():
        got_text = f"{got!r} (a float: return an int)"
        raise core.CheckFailure(f"conv_output_size{case}: expected {expected}, got {got_text}.")
    if not isinstance(got, int | np.integer) or isinstance(got, bool):
        raise core.CheckFailure(
            f"conv_output_size{case}: expected an int, got {type(got).__name__} {got!r}. "
            "Did you forget the floor (//)?"
        )
    core.assert_equal(int(got), expected, f"conv_output_size{case}", size_formula(n, f, stride, padding))


BAD_SIZE_ARGUMENTS = [
    ((7, 3, 1, "full"), 'padding must be "valid", "same" or an int >= 0'),
    ((7, 3, 0, "valid"), "the stride must be a positive int"),
    ((7, 3, 1, -1), "a negative padding makes no sense"),
    ((3, 5, 1, "valid"), "the kernel is larger than the input"),
]


def public_conv_output_size(fn) -> None:
    """The lecture's examples, then one bad argument."""
    core.check_numpy_only(fn, 28, 3, 1, "valid")
    for case in [(28, 3, 1, "valid"), (26, 5, 2, "valid"), (256, 5, 2, 0), (7, 4, 1, "same"), (7, 3, 2, "same"), (5, 3, 1, 1)]:
        _check_output_size(fn, case)
    core.expect_value_error(fn, *BAD_SIZE_ARGUMENTS[0])
    print("conv_output_size: the public cases pass.")


def hidden_conv_output_size(fn, points: float = 1.0) -> float:
    core.check_numpy_only(fn, 9, 3, 2, "same")
    rng = core.rng(101)

    def random_cases(padding, count=12, strides=(1, 2, 3)):
        cases = []
        while len(cases) < count:
            n, f, s = int(rng.integers(1, 30)), int(rng.integers(1, 8)), int(rng.choice(strides))
            p = padding if padding != "int" else int(rng.integers(0, 4))
            if p == "same" or f <= n + 2 * (0 if p == "valid" else p):
                cases.append((n, f, s, p))
        return cases

    def check_one(case):
        if isinstance(case[0], tuple):  # (arguments, what was wrong with them)
            core.expect_value_error(fn, *case)
        else:
            _check_output_size(fn, case)

    groups = [
        # The random cases, then one deterministic case per branch of the rule.
        core.CaseGroup("'valid' padding", random_cases("valid")
                       + [(8, 3, 2, "valid"), (7, 3, 2, "valid"), (5, 5, 1, "valid"), (5, 5, 3, "valid")]),
        core.CaseGroup("'same' padding", random_cases("same")
                       + [(8, 3, 2, "same"), (7, 3, 2, "same"), (6, 4, 1, "same"), (7, 2, 3, "same"),
                          (3, 7, 2, "same"), (2, 5, 1, "same")]),  # the last two: kernel > input
        core.CaseGroup("integer padding (p = 0 included)", random_cases("int")
                       + [(5, 3, 1, 0), (3, 5, 1, 1), (4, 6, 2, 2), (6, 3, 2, 1)]),
        core.CaseGroup("stride larger than the window", [(10, 2, 3, "valid"), (9, 1, 4, "same"), (11, 2, 5, 1)]),
        core.CaseGroup("bad arguments raise ValueError", BAD_SIZE_ARGUMENTS),
    ]
    return core.score_groups("conv_output_size", groups, check_one, points)


# ---------------------------------------------------------------------- zero_pad
def _check_zero_pad(fn, case) -> None:
    shape, pad, dtype, seed = case
    x = (core.rng(seed).standard_normal(shape) * 10).astype(dtype)
    expected = core.run_reference(ref.zero_pad, x, pad)
    got = core.call_student(fn, x.copy(), pad)
    hint = (
        f"zero_pad pads only H and W: x {shape} with pad={pad!r} gives "
        f"(N, H + top + bottom, W + left + right, C) = {expected.shape}."
    )
    core.assert_shape(got, expected.shape, f"zero_pad(x of shape {shape}, {pad!r})", hint)
    if np.asarray(got).dtype != x.dtype:
        raise core.CheckFailure(
            f"zero_pad: the input is {x.dtype} but the output is {np.asarray(got).dtype}; keep the input's dtype."
        )
    core.assert_close(got, expected, f"zero_pad(x of shape {shape}, {pad!r})", core.tolerance_for(np.float64),
                      "the input must sit unchanged inside the zeros: check where it starts (top, left).")


def public_zero_pad(fn) -> None:
    core.check_numpy_only(fn, np.ones((1, 2, 2, 1), FLOAT), 1)
    for case in [((1, 3, 3, 1), 1, FLOAT, 0), ((2, 3, 4, 2), ((1, 2), (0, 3)), FLOAT, 1), ((1, 2, 2, 1), 0, FLOAT, 2)]:
        _check_zero_pad(fn, case)
    print("zero_pad: the public cases pass.")


def hidden_zero_pad(fn, points: float = 1.0) -> float:
    core.check_numpy_only(fn, np.ones((1, 2, 3, 1), FLOAT), ((1, 0), (0, 2)))
    rng = core.rng(202)

    def shapes(count):
        return [tuple(int(v) for v in rng.integers(1, 5, size=4)) for _ in range(count)]

    groups = [
        core.CaseGroup("int padding", [(s, int(rng.integers(1, 4)), FLOAT, i) for i, s in enumerate(shapes(5))]),
        core.CaseGroup("pad 0 returns the input", [(s, 0, FLOAT, i) for i, s in enumerate(shapes(3))]
                       + [(s, ((0, 0), (0, 0)), FLOAT, 9) for s in shapes(1)]),
        core.CaseGroup("asymmetric ((top, bottom), (left, right))", [
            (s, tuple(tuple(int(v) for v in rng.integers(0, 4, size=2)) for _ in range(2)), FLOAT, i)
            for i, s in enumerate(shapes(6))]),
        core.CaseGroup("other dtypes are kept", [((1, 2, 3, 2), 1, np.float64, 3), ((2, 2, 2, 1), ((0, 1), (2, 0)), np.int32, 4)]),
    ]
    return core.score_groups("zero_pad", groups, lambda case: _check_zero_pad(fn, case), points)


# ------------------------------------------------------------------------ conv1d
def _check_conv1d(fn, case) -> None:
    length, k, stride, seed = case
    rng = core.rng(seed)
    x = rng.standard_normal(length).astype(FLOAT)
    w = rng.standard_normal(k).astype(FLOAT)
    expected = core.run_reference(ref.conv1d, x, w, stride)
    got = core.call_student(fn, x.copy(), w.copy(), stride)
    name = f"conv1d(x of length {length}, w of length {k}, stride={stride})"
    shape_hint = f"Expected length {size_formula(length, k, stride, 'valid')}."
    tol = core.tolerance_for(FLOAT)
    try:
        core.assert_close(got, expected, name, tol, shape_hint)
    except core.CheckFailure as failure:
        flipped = core.run_reference(ref.conv1d, x, w[::-1].copy(), stride)
        if k > 1 and np.shape(got) == flipped.shape and np.allclose(got, flipped, rtol=1e-3, atol=1e-3):
            raise core.CheckFailure(
                f"{failure}\nHint: your result is the convolution with the flipped kernel w[::-1] "
                "(what np.convolve computes). Here, as in TensorFlow, the kernel is not flipped: "
                "y[i] = sum_j x[i*s + j] * w[j]."
            ) from None
        raise


def public_conv1d(fn) -> None:
    core.check_numpy_only(fn, np.arange(5, dtype=FLOAT), np.ones(2, FLOAT), 1)
    for case in [(6, 3, 1, 0), (9, 2, 2, 1), (7, 3, 3, 2)]:
        _check_conv1d(fn, case)
    print("conv1d: the public cases pass.")


def hidden_conv1d(fn, points: float = 1.0) -> float:
    core.check_numpy_only(fn, np.arange(6, dtype=FLOAT), np.ones(3, FLOAT), 2)
    rng = core.rng(303)

    def cases(count, strides, kernel=None):
        out = []
        for _ in range(count):
            length = int(rng.integers(2, 16))
            k = kernel(length) if kernel else int(rng.integers(2, length + 1))
            out.append((length, k, int(rng.choice(strides)), int(rng.integers(1 << 16))))
        return out

    groups = [
        core.CaseGroup("stride 1", cases(8, [1])),
        core.CaseGroup("strides 2 and 3", cases(8, [2, 3])),
        core.CaseGroup("kernel of length 1 or as long as the signal", cases(3, [1, 2], lambda n: 1) + cases(3, [1, 2], lambda n: n)),
        core.CaseGroup("stride larger than the kernel", [(12, 2, 5, 1), (10, 3, 4, 2), (7, 1, 3, 3)]),
    ]
    return core.score_groups("conv1d", groups, lambda case: _check_conv1d(fn, case), points)


# ------------------------------------------------------------------------ conv2d
@dataclass(frozen=True)
class ConvCase:
    """One conv2d case: shapes, stride, padding, bias, and the seed of the data."""

    x_shape: tuple
    w_shape: tuple
    stride: object = 1
    padding: object = "valid"
    bias: bool = True
    seed: int = 0

    def __repr__(self) -> str:
        return (f"x{self.x_shape} w{self.w_shape} stride={self.stride!r} padding={self.padding!r} "
                f"bias={self.bias}")

    def arrays(self):
        rng = core.rng(self.seed)
        x = rng.standard_normal(self.x_shape).astype(FLOAT)
        w = rng.standard_normal(self.w_shape).astype(FLOAT)
        b = rng.standard_normal(self.w_shape[3]).astype(FLOAT) if self.bias else None
        return x, w, b


def _same_shape_and_close(got, expected) -> bool:
    return np.shape(got) == expected.shape and bool(np.allclose(got, expected, rtol=1e-3, atol=1e-3))


def _conv2d_value_hint(got, case: ConvCase, x, w, b) -> str:
    """Name the classic mistake when the wrong output matches a known variant."""
    flipped = core.run_reference(ref.conv2d, x, w[::-1, ::-1].copy(), b, case.stride, case.padding)
    if (w.shape[0] > 1 or w.shape[1] > 1) and _same_shape_and_close(got, flipped):
        return ("Hint: this is the result with the kernel flipped (w[::-1, ::-1]): the mathematical "
                "convolution. tf.nn.conv2d and Conv2D compute the cross-correlation: do not flip w.")
    if b is not None and _same_shape_and_close(got, core.run_reference(ref.conv2d, x, w, None, case.stride, case.padding)):
        return "Hint: this is the result without the bias: add b[o] to every output of channel o."
    if case.padding == "same":
        sh, sw = ref.as_pair(case.stride, "stride")
        pads = []
        for n, f, s in ((x.shape[1], w.shape[0], sh), (x.shape[2], w.shape[1], sw)):
            total = max((math.ceil(n / s) - 1) * s + f - n, 0)
            pads.append([total - total // 2, total // 2])  # the extra zero before, not after
        swapped = _explicit_padding_reference(x, w, b, case.stride, pads)
        if _same_shape_and_close(got, swapped):
            return ("Hint: your 'same' padding puts the extra zero at the top/left. TensorFlow puts "
                    "pad_total // 2 before and the rest after (bottom/right).")
    return ""


def _explicit_padding_reference(x, w, b, stride, pads):
    import tensorflow as tf

    def run():
        y = tf.nn.conv2d(x, w, strides=[1, *ref.as_pair(stride, "stride"), 1],
                         padding=[[0, 0], pads[0], pads[1], [0, 0]])
        return y if b is None else y + b

    return core.run_reference(run)


def _conv2d_shape_hint(got_shape, case: ConvCase, x_shape, w_shape) -> str:
    hint = _shape_explanation(x_shape, w_shape, case.stride, case.padding)
    if len(got_shape) == 4:
        for label, stride, padding in (("stride 1 (is the stride used?)", 1, case.padding),
                                       ("'valid' padding (is the padding used?)", case.stride, "valid")):
            try:
                variant = (x_shape[0], *[ref.output_size(n, f, s, padding) for n, f, s in zip(
                    x_shape[1:3], w_shape[:2], ref.as_pair(stride, "stride"), strict=True)], w_shape[3])
            except Exception:  # noqa: BLE001 - a variant that TF refuses is simply not a hint
                continue
            if tuple(got_shape) == variant and (stride, padding) != (case.stride, case.padding):
                hint += f"\nHint: your shape is the one for {label}."
    return hint


def _check_conv2d(fn, case: ConvCase) -> None:
    x, w, b = case.arrays()
    expected = core.run_reference(ref.conv2d, x, w, b, case.stride, case.padding)
    got = core.call_student(fn, x.copy(), w.copy(), None if b is None else b.copy(), case.stride, case.padding)
    name = f"{getattr(fn, '__name__', 'conv2d')}({case!r})"
    core.assert_shape(got, expected.shape, name, _conv2d_shape_hint(np.shape(got), case, x.shape, w.shape))
    try:
        core.assert_close(got, expected, name, core.tolerance_for(FLOAT))
    except core.CheckFailure as failure:
        hint = _conv2d_value_hint(got, case, x, w, b)
        if hint:
            raise core.CheckFailure(f"{failure}\n{hint}") from None
        raise


PUBLIC_CONV2D_CASES = [
    ConvCase((1, 8, 8, 1), (3, 3, 1, 1), bias=False, seed=1),
    ConvCase((2, 5, 6, 2), (3, 3, 2, 3), stride=2, seed=2),
    ConvCase((1, 6, 6, 1), (2, 2, 1, 2), padding="same", seed=3),
    ConvCase((1, 5, 4, 2), (3, 2, 2, 1), padding=1, seed=4),
    ConvCase((2, 7, 5, 3), (2, 3, 3, 2), stride=(2, 1), padding="same", seed=5),
]


def _public_conv(fn) -> None:
    core.check_numpy_only(fn, *ConvCase((1, 3, 3, 1), (2, 2, 1, 1)).arrays(), 1, "valid")
    for case in PUBLIC_CONV2D_CASES:
        _check_conv2d(fn, case)
    print(f"{getattr(fn, '__name__', 'conv2d')}: the public cases pass.")


def hidden_conv2d_groups(seed: int = 404) -> list[core.CaseGroup]:
    """Groups of small seeded cases (H, W <= 9, C <= 3, N <= 2), fast even for loop code."""
    rng = core.rng(seed)

    def case(kernel=None, stride=1, padding="valid", size=None, channels=None, batch=1, bias=True):
        kh, kw = kernel or (int(rng.choice([1, 3, 5])),) * 2
        p = padding if isinstance(padding, int) else 0
        smallest = (1, 1) if padding == "same" else (max(kh - 2 * p, 1), max(kw - 2 * p, 1))
        h, w = size or (int(rng.integers(smallest[0], 10)), int(rng.integers(smallest[1], 10)))
        c_in, c_out = channels or (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        return ConvCase((batch, h, w, c_in), (kh, kw, c_in, c_out), stride, padding, bias,
                        int(rng.integers(1 << 16)))

    def even():
        return tuple(int(v) for v in rng.choice([2, 4], size=2))

    fixed_seeds = iter(range(seed * 100, seed * 100 + 100))

    def fixed(kernel, stride=1, padding="valid", size=(6, 7)):
        """A deterministic case (2 input, 3 output channels): one branch of the rule, on purpose."""
        return ConvCase((1, *size, 2), (*kernel, 2, 3), stride, padding, True, next(fixed_seeds))

    # Deterministic 'same' cases, per axis (H, W): pad_total = max((ceil(n/s) - 1) * s + f - n, 0)
    # is odd on one axis and even on the other, with stride 1 and > 1, and clamped at 0.
    same_odd_kernels = [
        fixed((3, 3), 2, "same", (6, 7)),       # H: total 1 (odd), W: total 2 (even)
        fixed((3, 3), 2, "same", (7, 6)),       # H: 2 (even), W: 1 (odd)
        fixed((5, 3), (1, 2), "same", (6, 6)),  # H: stride 1, total 4; W: stride 2, total 1
        fixed((3, 5), (3, 1), "same", (8, 5)),  # H: stride 3, total 1; W: stride 1, total 4
    ]
    same_even_kernels = [
        fixed((2, 4), 1, "same", (5, 6)),       # stride 1: totals 1 and 3 (odd): extra zero after
        fixed((4, 2), 2, "same", (6, 7)),       # H: 2 (even), W: 1 (odd)
        fixed((2, 4), 2, "same", (7, 6)),       # H: 1 (odd), W: 2 (even)
        fixed((2, 2), (2, 1), "same", (6, 5)),  # H: stride 2, total 0; W: stride 1, total 1
    ]
    return [
        core.CaseGroup("'valid', odd kernels, stride 1", [case() for _ in range(6)]
                       + [fixed((3, 3), size=(3, 3)), fixed((5, 1), size=(5, 4))]),
        core.CaseGroup("even and non-square kernels, 'valid'", [case(even()) for _ in range(3)]
                       + [case((2, 3)), case((3, 1))]),
        core.CaseGroup("strides 2-3 and unequal pairs", [case(stride=s) for s in (2, 3)]
                       + [case(stride=s) for s in ((1, 2), (3, 2), (2, 1))]
                       + [fixed((3, 2), (2, 3), size=(8, 9)), fixed((2, 3), (3, 2), size=(8, 9))]),
        core.CaseGroup("'same', odd kernels", [case(padding="same", stride=s) for s in (1, 1, 2, (1, 3))]
                       + same_odd_kernels),
        core.CaseGroup("'same', even kernels (extra zero bottom/right)",
                       [case(even(), padding="same", stride=s) for s in (1, 1, 2, (2, 1))]
                       + [case((2, 3), padding="same", size=(5, 6))] + same_even_kernels),
        core.CaseGroup("integer padding, p = 0 included", [case(padding=p, stride=s) for p, s in ((0, 1), (1, 1), (2, 2), (1, (2, 1)), (3, 3))]
                       + [fixed((5, 5), 1, 1, (3, 4)), fixed((3, 3), (2, 1), 2, (4, 5))]),
        core.CaseGroup("stride larger than the window", [case((2, 2), stride=3), case((1, 1), stride=(4, 2)),
                                                         case((2, 1), stride=3, padding="same"),
                                                         fixed((1, 2), 3, "same", (8, 9)),   # totals -1: 0
                                                         fixed((2, 1), (4, 3), "same", (9, 7))]),
        core.CaseGroup("1x1 inputs and kernels, non-square inputs", [
            case((1, 1), size=(1, 1)), case((1, 1), size=(6, 3)), case((3, 3), size=(3, 8)),
            case((1, 1), size=(1, 1), padding="same", stride=2), case((2, 2), size=(9, 4), padding=1),
            fixed((5, 3), 1, "same", (2, 2)), fixed((4, 4), 2, "same", (3, 3))]),  # kernel > input
        core.CaseGroup("several channels and batches, with and without bias", [
            case(batch=2, channels=(3, 3)), case(batch=2, channels=(3, 2), bias=False, stride=2),
            case(even(), batch=2, channels=(2, 3), padding="same", bias=False)]),
    ]


def _hidden_conv(fn, exercise: str, points: float, extra_groups=()) -> float:
    core.check_numpy_only(fn, *ConvCase((1, 4, 4, 2), (3, 3, 2, 1), seed=7).arrays(), 2, "same")
    groups = hidden_conv2d_groups() + list(extra_groups)
    return core.score_groups(exercise, groups, lambda case: case.check(fn) if isinstance(
        case, VectorisationCase) else _check_conv2d(fn, case), points)


def public_conv2d(fn) -> None:
    _public_conv(fn)


def hidden_conv2d(fn, points: float = 1.0) -> float:
    return _hidden_conv(fn, "conv2d", points)


# ------------------------------------------------------ conv2d_fast: vectorised?
# The same layer on two inputs: 4x4 = 16 and 16x16 = 256 output positions (3x3
# kernel, "valid", stride 1, same batch and channels).  A vectorised conv2d_fast
# runs the same lines of its own code for both; a Python loop over the output
# positions (or over their rows or columns) runs its body once more per extra
# position (row, column).  Loops over the kernel offsets (kh * kw), the images or
# the channels do not depend on the number of positions and are allowed.
VECTORISATION_OUTPUTS = ((4, 4), (16, 16))
VECTORISATION_SHARE = 1 / 3  # of conv2d_fast's points: 1 of 3 in the notebook


@dataclass(frozen=True)
class VectorisationCase:
    """conv2d_fast on two output sizes: correct results, and lines run that do not grow."""

    outputs: tuple = VECTORISATION_OUTPUTS

    def __repr__(self) -> str:
        sizes = " and ".join(f"{h}x{w}" for h, w in self.outputs)
        return f"conv2d_fast on {sizes} output positions (3x3 kernel, 'valid', stride 1)"

    def cases(self) -> list[ConvCase]:
        return [ConvCase((2, h + 2, w + 2, 3), (3, 3, 3, 4), seed=900 + h) for h, w in self.outputs]

    def lines_run(self, fn) -> list[int]:
        """Check the results, and return the lines of the student's code run for each size."""
        counts = []
        for case in self.cases():
            x, w, b = case.arrays()
            got, lines = core.count_lines_run(fn, x.copy(), w.copy(), b.copy(), case.stride, case.padding)
            expected = core.run_reference(ref.conv2d, x, w, b, case.stride, case.padding)
            core.assert_close(got, expected, f"{getattr(fn, '__name__', 'conv2d_fast')}({case!r})",
                              core.tolerance_for(FLOAT))
            counts.append(lines)
        return counts

    def verdict(self, counts) -> str:
        """'' when vectorised, else the explanation."""
        (h0, w0), (h1, w1) = self.outputs
        (small, large), extra_rows = counts, min(h1 - h0, w1 - w0)
        if large - small < extra_rows:
            return ""
        return (
            f"your conv2d_fast ran {small} lines of your code for {h0 * w0} output positions "
            f"({h0}x{w0}) and {large} for {h1 * w1} ({h1}x{w1}): it loops over output positions "
            "(or their rows or columns) in Python. Vectorise over the positions: "
            "sliding_window_view + einsum/tensordot, or im2col + one matrix product "
            "(a loop over the kh * kw kernel offsets is fine: it does not grow with the image)."
        )

    def check(self, fn) -> None:
        message = self.verdict(self.lines_run(fn))
        if message:
            raise core.CheckFailure(message)


def public_conv2d_fast(fn) -> None:
    _public_conv(fn)
    message = VectorisationCase().verdict(VectorisationCase().lines_run(fn))
    if message:
        print(f"Note: {message}\nThe results are right, but the hidden tests withhold a third of "
              "the points of conv2d_fast for the loop.")
    else:
        print("conv2d_fast: vectorised (the lines it runs do not grow with the number of output positions).")


def hidden_conv2d_fast(fn, points: float = 1.0) -> float:
    groups = len(hidden_conv2d_groups())
    weight = groups * VECTORISATION_SHARE / (1 - VECTORISATION_SHARE)
    vectorised = core.CaseGroup("no Python loop over output positions (lines run do not grow)",
                                [VectorisationCase()], weight)
    return _hidden_conv(fn, "conv2d_fast", points, [vectorised])


# ------------------------------------------------------------- count_conv_params
def _check_params(fn, case) -> None:
    f, c_in, c_out, bias = case
    expected = ref.count_conv_params(f, c_in, c_out, bias)
    got = core.call_student(fn, f, c_in, c_out, bias)
    kh, kw = ref.as_pair(f, "f")
    formula = (f"(kh * kw * C_in + 1) * C_out = ({kh} * {kw} * {c_in} + 1) * {c_out}" if bias
               else f"kh * kw * C_in * C_out = {kh} * {kw} * {c_in} * {c_out}")
    if not isinstance(got, int | np.integer) or isinstance(got, bool):
        raise core.CheckFailure(f"count_conv_params{case}: expected an int, got {type(got).__name__} {got!r}.")
    core.assert_equal(int(got), expected, f"count_conv_params{case}", f"Keras counts {formula} = {expected}.")


def public_count_conv_params(fn) -> None:
    core.check_numpy_only(fn, 3, 3, 16, True)
    for case in [(3, 3, 16, True), (5, 16, 32, True), ((3, 5), 2, 4, False)]:
        _check_params(fn, case)
    print("count_conv_params: the public cases pass.")


def hidden_count_conv_params(fn, points: float = 1.0) -> float:
    core.check_numpy_only(fn, (2, 3), 4, 5, False)
    rng = core.rng(505)

    def cases(count, pair=False, bias=True):
        out = []
        for _ in range(count):
            f = tuple(int(v) for v in rng.integers(1, 8, size=2)) if pair else int(rng.integers(1, 8))
            out.append((f, int(rng.integers(1, 65)), int(rng.integers(1, 129)), bias))
        return out

    groups = [
        core.CaseGroup("square kernels with bias", cases(5)),
        core.CaseGroup("rectangular kernels (kh, kw)", cases(5, pair=True)),
        core.CaseGroup("without bias", cases(3, bias=False) + cases(2, pair=True, bias=False)),
        core.CaseGroup("1x1 kernels", [(1, 64, 32, True), ((1, 1), 3, 8, False)]),
    ]
    return core.score_groups("count_conv_params", groups, lambda case: _check_params(fn, case), points)
