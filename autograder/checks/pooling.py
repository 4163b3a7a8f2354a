"""Checks for the pooling chapter: ``pool_output_size``, ``pool2d``, ``global_average_pool``.

nbgrader takes a test cell's last value as the *points* earned (not a fraction:
``nbgrader.utils.get_partial_grade`` in 0.9.6), so each ``hidden_<fn>(fn, points)``
returns the fraction of groups passed times the cell's points.

Public checks are fast and teach (the size formula with the student's numbers,
the first wrong position, a hint that names the classic mistake when the
output matches it).  Hidden checks run many seeded random cases against
TensorFlow (:mod:`autograder.reference.pooling`) and score per group of cases.

Tolerance: float32 inputs; ``core.tolerance_for(float32)`` (CPU rtol 1e-4,
atol 1e-5 scaled by max |expected|; GPU rtol 1e-3, atol 1e-4).  Max pooling
is exact in any order; only average pooling accumulates rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autograder import core
from autograder.reference import pooling as reference

# graded test cells run these checks in the grading worker, out of the student's reach
CHECKS_RUN_IN = "worker"

FLOAT32 = np.float32


def _run_public(check_one, cases) -> None:
    """Run ``check_one`` on each case; a failure names the case it happened on."""
    for case in cases:
        try:
            check_one(case)
        except core.UsesTensorFlow:
            raise
        except core.CheckFailure as failure:
            raise core.CheckFailure(f"{case!r}: {failure}") from None


def _short(value) -> str:
    shape = getattr(value, "shape", None)
    return f"an array of shape {tuple(shape)}" if shape is not None else repr(value)


# ============================================================== pool_output_size
@dataclass(frozen=True)
class SizeCase:
    n: int
    pool: int
    stride: int
    padding: str

    def __repr__(self) -> str:
        return f"pool_output_size({self.n!r}, {self.pool!r}, {self.stride!r}, {self.padding!r})"

    @property
    def args(self) -> tuple:
        return (self.n, self.pool, self.stride, self.padding)


@dataclass(frozen=True, repr=False)
class BadSizeCase(SizeCase):
    why: str = ""


def size_formula(n: int, pool: int, stride: int, padding: str) -> str:
    """The output-size rule for ``padding``, filled in with these numbers."""
    if padding == "same":
        return f"'same': ceil(n / stride) = ceil({n} / {stride}) = {-(-n // stride)}"
    value = (n - pool) // stride + 1
    return (
        f"'valid': floor((n - pool) / stride) + 1 = floor(({n} - {pool}) / {stride}) + 1 = {value}"
    )


def _size_hint(case: SizeCase, got, expected: int) -> str:
    n, pool, stride = case.n, case.pool, case.stride
    hints = [f"The rule for {size_formula(n, pool, stride, case.padding)}."]
    if case.padding == "valid" and got == (n - pool + 1) // stride and stride > 1:
        hints.append(
            "Your value is (n - pool + 1) / stride rounded down (the lecture's formula). "
            "That formula only works rounded up; floor((n - pool) / stride) + 1 counts the "
            "window starts 0, stride, 2*stride, ... that still fit."
        )
    if case.padding == "valid" and got == (n - pool) // stride:
        hints.append("Did you forget the + 1? The window starting at 0 counts too.")
    if case.padding == "same" and got == n // stride:
        hints.append(
            "Round up, not down: with 'same' the last, partial window still gives an output."
        )
    elif case.padding == "same" and got == (n - pool) // stride + 1:
        hints.append("That is the 'valid' size: 'same' pads so that the size depends only on n and stride.")
    return "\n".join(hints)


def _reference_size(case: SizeCase) -> int | None:
    """TensorFlow's output length, or None where no window fits (a ValueError is due)."""
    try:
        return int(core.run_reference(reference.pool_output_size, *case.args))
    except ValueError:
        return None


def check_size_case(function, case: SizeCase) -> None:
    """One case of ``pool_output_size``: a value, or a ValueError for bad arguments."""
    if isinstance(case, BadSizeCase):
        core.expect_value_error(function, case.args, case.why)
        return
    expected = _reference_size(case)
    if expected is None:
        why = f"padding='valid' with pool={case.pool} > n={case.n}: no window fits"
        core.expect_value_error(function, case.args, why)
        return
    try:
        got = core.call_student(function, *case.args)
    except ValueError as error:
        raise core.CheckFailure(
            f"raised ValueError({error}) but these arguments are valid: "
            f"expected {expected}."
        ) from None
    if isinstance(got, bool) or not isinstance(got, int | np.integer):
        raise core.CheckFailure(
            f"expected an int ({expected}), got {type(got).__name__} {got!r}.\n"
            + _size_hint(case, got, expected)
        )
    core.assert_equal(int(got), expected, "result", hint=_size_hint(case, got, expected))


BAD_SIZE_CASES = [
    BadSizeCase(5, 2, 2, "full", why="padding must be 'valid' or 'same'"),
    BadSizeCase(3, 4, 1, "valid", why="with 'valid' the window must fit: pool <= n"),
    BadSizeCase(2, 5, 3, "valid", why="with 'valid' the window must fit: pool <= n"),
    BadSizeCase(5, 0, 1, "valid", why="pool must be a positive int"),
    BadSizeCase(5, 2, 0, "same", why="stride must be a positive int"),
    BadSizeCase(0, 1, 1, "same", why="n must be a positive int"),
    BadSizeCase(5.5, 2, 2, "valid", why="n must be an int"),
]

PUBLIC_SIZE_CASES = [
    SizeCase(4, 2, 2, "valid"),  # the lecture's 4x4 example
    SizeCase(7, 3, 1, "valid"),
    SizeCase(8, 3, 2, "valid"),
    SizeCase(6, 2, 1, "same"),
    SizeCase(7, 3, 2, "same"),
    SizeCase(3, 3, 2, "valid"),  # a window as large as the input fits once
    *BAD_SIZE_CASES[:2],
    BAD_SIZE_CASES[3],
]


def public_pool_output_size(pool_output_size) -> None:
    """Fast checks with teaching messages; raises CheckFailure at the first problem."""
    core.call_without_tensorflow(pool_output_size, 4, 2, 2, "valid")
    _run_public(lambda case: check_size_case(pool_output_size, case), PUBLIC_SIZE_CASES)
    print(f"pool_output_size: {len(PUBLIC_SIZE_CASES)} public checks pass.")


def _size_groups() -> list[core.CaseGroup]:
    rng = core.rng(2024)

    def grid(count, padding, stride_rule, n_max=40, pool_max=7):
        cases = []
        while len(cases) < count:
            n, pool = int(rng.integers(1, n_max + 1)), int(rng.integers(1, pool_max + 1))
            stride = stride_rule(pool)
            if stride is not None and (padding == "same" or pool <= n):
                cases.append(SizeCase(n, pool, stride, padding))
        return cases

    def fixed(padding, *triples):
        return [SizeCase(n, pool, stride, padding) for n, pool, stride in triples]

    # The random cases, then deterministic ones for each branch of the rule: for 'valid',
    # s dividing n - pool + 1 (where the lecture's formula rounded down is right) and not,
    # and a window as large as the input; for 'same', s dividing n and not.
    return [
        core.CaseGroup("'valid', stride 1", grid(12, "valid", lambda p: 1)
                       + fixed("valid", (5, 5, 1), (1, 1, 1), (6, 2, 1))),
        core.CaseGroup("'valid', stride = pool", grid(12, "valid", lambda p: p)
                       + fixed("valid", (4, 2, 2), (5, 2, 2), (9, 3, 3), (8, 3, 3), (4, 4, 4))),
        core.CaseGroup(
            "'valid', overlapping windows (1 < stride < pool)",
            grid(12, "valid", lambda p: int(rng.integers(2, p)) if p > 2 else None)
            + fixed("valid", (7, 3, 2), (8, 3, 2), (5, 5, 2)),
        ),
        core.CaseGroup(
            "'valid', stride larger than the window",
            grid(12, "valid", lambda p: int(rng.integers(p + 1, p + 5)))
            + fixed("valid", (9, 2, 3), (10, 2, 3), (3, 1, 5)),
        ),
        core.CaseGroup("'same', stride 1", grid(10, "same", lambda p: 1)
                       + fixed("same", (5, 2, 1), (6, 3, 1), (1, 1, 1))),
        core.CaseGroup(
            "'same', stride > 1 (round up)", grid(12, "same", lambda p: int(rng.integers(2, 6)))
            + fixed("same", (8, 3, 2), (7, 3, 2), (7, 2, 3), (1, 1, 2), (4, 1, 5))
        ),
        core.CaseGroup(
            "'same', window larger than the input",
            [SizeCase(2, 5, 1, "same"), SizeCase(3, 4, 2, "same"), SizeCase(1, 3, 3, "same")],
        ),
        core.CaseGroup("bad arguments raise ValueError", BAD_SIZE_CASES),
    ]


def hidden_pool_output_size(pool_output_size, points: float = 1.0) -> float:
    """Seeded cases in groups against TensorFlow's output shapes; returns the points earned."""
    core.call_without_tensorflow(pool_output_size, 4, 2, 2, "valid")
    return core.score_groups(
        "pool_output_size", _size_groups(), lambda case: check_size_case(pool_output_size, case), points
    )


# ====================================================================== pool2d
@dataclass(frozen=True)
class PoolCase:
    shape: tuple
    pool_size: int | tuple = 2
    stride: int | tuple | None = None  # None: left out of the call, so the default applies
    padding: str = "valid"
    mode: str = "max"
    seed: int = 0
    negative: bool = False
    values: tuple | None = None  # fixed input (the lecture's example), else seeded random

    def __repr__(self) -> str:
        stride = "" if self.stride is None else f", stride={self.stride!r}"
        sign = " (all negative)" if self.negative else ""
        return (
            f"pool2d(x of shape {self.shape}{sign}, pool_size={self.pool_size!r}{stride}, "
            f"padding={self.padding!r}, mode={self.mode!r})"
        )

    def make_input(self) -> np.ndarray:
        if self.values is not None:
            return np.asarray(self.values, dtype=FLOAT32).reshape(self.shape)
        x = core.rng(self.seed).standard_normal(self.shape).astype(FLOAT32)
        return -(np.abs(x) + FLOAT32(0.5)) if self.negative else x

    def kwargs(self) -> dict:
        kwargs = {"padding": self.padding, "mode": self.mode}
        if self.stride is not None:
            kwargs["stride"] = self.stride
        return kwargs

    def pools(self) -> tuple[tuple[int, int], tuple[int, int]]:
        pool = reference.as_pair(self.pool_size, "pool_size")
        stride = pool if self.stride is None else reference.as_pair(self.stride, "stride")
        return pool, stride


def _shape_explanation(case: PoolCase, x_shape) -> str:
    (ph, pw), (sh, sw) = case.pools()
    lines = [f"Output shape (N, out_h, out_w, C) with padding {case.padding!r}:"]
    if case.stride is None:
        lines.append(f"  (stride was not given: it defaults to pool_size = ({ph}, {pw}))")
    lines.append(f"  out_h: {size_formula(x_shape[1], ph, sh, case.padding)}")
    lines.append(f"  out_w: {size_formula(x_shape[2], pw, sw, case.padding)}")
    return "\n".join(lines)


def _mistakes(case: PoolCase, x: np.ndarray):
    """(description, reference-computing thunk) for the classic mistakes that apply."""
    pool, stride = case.pools()
    mode, padding = case.mode, case.padding

    def pooled(**changes):
        args = {"pool_size": pool, "stride": stride, "padding": padding, "mode": mode, **changes}
        return lambda: reference.pool2d(x, **args)

    def explicit(pads, **options):
        return lambda: reference.pool2d_explicit(x, pool, stride, pads, mode, **options)

    found = []
    if stride != pool and padding == "valid":
        found.append((
            f"Your result equals pooling with the windows side by side (stride = pool_size = "
            f"{pool}), as the reshape trick gives. Here stride = {stride}: move each window by "
            "the stride, so windows overlap (stride < pool) or skip values (stride > pool).",
            pooled(stride=pool),
        ))
    if stride != (1, 1):
        found.append((
            f"Your result equals pooling with stride 1: the stride {stride} is ignored. "
            "Window (i, j) starts at row i * stride_h and column j * stride_w.",
            pooled(stride=(1, 1)),
        ))
    if padding == "same":
        pads = reference.tf_same_pads(x.shape, pool, stride)
        if mode == "avg":
            found.append((
                "Your averages count the padded zeros. TensorFlow's 'same' average pooling "
                "divides each window's sum by the number of real input values in it, so border "
                "windows divide by less than pool_h * pool_w.",
                explicit(pads, count_padding=True),
            ))
        else:
            found.append((
                "Your max pooling pads with zeros: where a border window holds only negative "
                "values, a padded 0 wins. Pad with -inf (np.full(shape, -np.inf)) so that "
                "padded values never win.",
                explicit(pads, pad_value=0.0),
            ))
        flipped = tuple((after, before) for before, after in pads)
        found.append((
            "You put the extra padding row/column on the top/left. When the total padding "
            "along an axis is odd, TensorFlow puts the smaller half first: "
            "top = total // 2, bottom = total - top (same for left/right).",
            explicit(flipped),
        ))
        found.append(("Your result is 'valid' pooling: 'same' pads the input first.",
                      pooled(padding="valid")))
    other = "avg" if mode == "max" else "max"
    found.append((f"Your result is {other!r} pooling, but mode={mode!r} was asked.",
                   pooled(mode=other)))
    return found


def _diagnose(case: PoolCase, x: np.ndarray, got) -> str:
    """The hint for the first classic mistake whose output equals ``got``, else ''."""
    got_shape = getattr(got, "shape", None)
    tol = core.tolerance_for(FLOAT32)
    for hint, compute in _mistakes(case, x):
        variant = core.run_reference(compute)
        if got_shape != variant.shape:
            continue
        got_array = np.asarray(got, dtype=np.float64)
        if np.allclose(got_array, variant, rtol=tol.rtol, atol=tol.atol * max(1.0, np.abs(variant).max())):
            return "Hint: " + hint
    return ""


def check_pool_case(function, case: PoolCase) -> None:
    """One case of ``pool2d`` against ``tf.nn.max_pool2d`` / ``tf.nn.avg_pool2d``."""
    x = case.make_input()
    pool, stride = case.pools()
    expected = core.run_reference(reference.pool2d, x, pool, stride, case.padding, case.mode)
    got = core.call_student(function, x.copy(), case.pool_size, **case.kwargs())
    try:
        core.assert_shape(got, expected.shape, "output")
        core.assert_close(got, expected, "output", core.tolerance_for(FLOAT32))
    except core.CheckFailure as failure:
        hint = _diagnose(case, x, got)
        if tuple(getattr(got, "shape", ())) != expected.shape:
            hint = _shape_explanation(case, x.shape) + ("\n" + hint if hint else "")
        raise core.CheckFailure(f"{failure}\n{hint}".rstrip()) from None


@dataclass(frozen=True)
class BadPoolCase:
    description: str
    x_shape: tuple
    kwargs: dict
    why: str

    def __repr__(self) -> str:
        return f"pool2d({self.description})"


def check_bad_pool_case(function, case: BadPoolCase) -> None:
    x = np.ones(case.x_shape, dtype=FLOAT32)
    core.expect_value_error(function, (x,), case.why, case.kwargs)


BAD_POOL_CASES = [
    BadPoolCase("x, 2, mode='min'", (1, 4, 4, 1), {"pool_size": 2, "mode": "min"},
                "mode must be 'max' or 'avg'"),
    BadPoolCase("x, 2, padding='full'", (1, 4, 4, 1), {"pool_size": 2, "padding": "full"},
                "padding must be 'valid' or 'same'"),
    BadPoolCase("x of shape (4, 4, 1), 2", (4, 4, 1), {"pool_size": 2},
                "x must be 4-D (N, H, W, C)"),
    BadPoolCase("x of shape (1, 3, 3, 1), 4, padding='valid'", (1, 3, 3, 1), {"pool_size": 4},
                "the 4x4 window does not fit in a 3x3 input"),
    BadPoolCase("x of shape (1, 6, 3, 1), (2, 4), padding='valid'", (1, 6, 3, 1), {"pool_size": (2, 4)},
                "the window is 4 wide and the input 3: no window fits along the width"),
    BadPoolCase("x of shape (2, 2, 7, 1), (3, 2), stride=1, padding='valid'", (2, 2, 7, 1),
                {"pool_size": (3, 2), "stride": 1},
                "the window is 3 high and the input 2: no window fits along the height"),
]


def _check_any(function, case) -> None:
    if isinstance(case, BadPoolCase):
        check_bad_pool_case(function, case)
    else:
        check_pool_case(function, case)


LECTURE_EXAMPLE = PoolCase(
    (1, 4, 4, 1), 2, 2, "valid", "max",
    values=(255, 200, 5, 54, 28, 32, 28, 1, 150, 215, 10, 30, 200, 230, 15, 5),
)

PUBLIC_POOL_CASES = [
    LECTURE_EXAMPLE,
    PoolCase((1, 5, 5, 1), 3, 1, "valid", "max", seed=1),  # overlapping windows
    PoolCase((1, 7, 7, 1), 2, 3, "valid", "avg", seed=2),  # stride larger than the window
    PoolCase((1, 5, 5, 1), 2, 2, "same", "avg", seed=3),  # padding left out of the average
    PoolCase((1, 5, 5, 1), 2, 2, "same", "max", seed=4, negative=True),  # -inf padding
    PoolCase((1, 4, 6, 1), 2, 1, "same", "max", seed=5),  # odd total padding: extra at the end
    PoolCase((2, 6, 5, 3), (3, 2), (2, 1), "valid", "avg", seed=6),  # unequal pairs, batch
    PoolCase((1, 6, 6, 2), 3, None, "valid", "max", seed=7),  # stride defaults to pool_size
    *BAD_POOL_CASES[:3],
    BAD_POOL_CASES[4],  # 'valid' window wider than the input
]


def public_pool2d(pool2d) -> None:
    """Fast checks with teaching messages; raises CheckFailure at the first problem."""
    core.call_without_tensorflow(pool2d, LECTURE_EXAMPLE.make_input(), 2, stride=2)
    _run_public(lambda case: _check_any(pool2d, case), PUBLIC_POOL_CASES)
    print(f"pool2d: {len(PUBLIC_POOL_CASES)} public checks pass.")


def _pool_groups() -> list[core.CaseGroup]:
    seeds = iter(range(100, 1000))

    def cases(specs, **common):
        made = []
        for spec in specs:
            shape, pool, stride, padding, mode = spec
            made.append(PoolCase(shape, pool, stride, padding, mode, seed=next(seeds), **common))
        return made

    both = ("max", "avg")
    return [
        core.CaseGroup("non-overlapping windows (stride = pool)", cases(
            [((1, 8, 8, 1), 2, 2, "valid", m) for m in both]
            + [((2, 9, 7, 2), 3, 3, "valid", m) for m in both]
            + [((1, 7, 10, 1), 2, 2, "valid", m) for m in both])),
        core.CaseGroup("overlapping windows (stride < pool)", cases(
            [((1, 6, 6, 1), 3, 1, "valid", m) for m in both]
            + [((2, 9, 8, 2), 3, 2, "valid", m) for m in both]
            + [((1, 7, 7, 3), 4, 3, "valid", m) for m in both])),
        core.CaseGroup("stride larger than the window", cases(
            [((1, 9, 9, 1), 2, 3, "valid", m) for m in both]
            + [((1, 8, 7, 2), 1, 2, "valid", m) for m in both]
            + [((2, 11, 10, 1), 3, 4, "same", m) for m in both])),
        core.CaseGroup("'same', odd windows", cases(
            [((1, 7, 7, 1), 3, 1, "same", m) for m in both]
            + [((2, 8, 9, 2), 3, 2, "same", m) for m in both]
            + [((1, 9, 6, 1), 5, 2, "same", m) for m in both])),
        core.CaseGroup("'same', even windows (asymmetric padding)", cases(
            [((1, 6, 6, 1), 2, 1, "same", m) for m in both]
            + [((1, 7, 5, 2), 4, 1, "same", m) for m in both]
            + [((2, 5, 8, 1), 2, 3, "same", m) for m in both])),
        core.CaseGroup("'same' average excludes the padding", cases(
            [((1, 5, 5, 1), 3, 2, "same", "avg"), ((1, 4, 7, 2), 4, 3, "same", "avg"),
             ((2, 6, 9, 1), (2, 5), (1, 2), "same", "avg")])),
        core.CaseGroup("unequal pool/stride pairs", cases(
            [((1, 8, 9, 1), (2, 3), (1, 2), "valid", m) for m in both]
            + [((2, 7, 6, 2), (3, 1), (2, 3), "same", m) for m in both]
            + [((1, 10, 5, 1), (4, 2), (3, 1), "valid", m) for m in both])),
        core.CaseGroup("1x1 and non-square inputs", cases(
            [((1, 1, 1, 1), 1, 1, "valid", m) for m in both]
            + [((1, 1, 6, 2), (1, 2), None, "valid", m) for m in both]
            + [((1, 3, 11, 1), 2, 2, "same", m) for m in both]
            + [((1, 2, 3, 1), 4, 1, "same", m) for m in both])),
        core.CaseGroup("several channels and batches", cases(
            [((4, 6, 6, 5), 2, 2, "valid", m) for m in both]
            + [((3, 7, 5, 8), 3, 2, "same", m) for m in both])),
        core.CaseGroup("all-negative inputs", cases(
            [((1, 5, 5, 1), 2, 2, "same", "max"), ((2, 7, 6, 2), 3, 2, "same", "max"),
             ((1, 6, 7, 1), 4, 1, "same", "max"), ((1, 6, 6, 1), 3, 3, "valid", "max")],
            negative=True)),
        core.CaseGroup("stride defaults to pool_size", cases(
            [((1, 8, 8, 1), 2, None, "valid", m) for m in both]
            + [((2, 7, 9, 3), (3, 2), None, "same", m) for m in both])),
        core.CaseGroup("bad arguments raise ValueError", BAD_POOL_CASES),
    ]


def hidden_pool2d(pool2d, points: float = 1.0) -> float:
    """Seeded random cases in groups against TensorFlow; returns the points earned."""
    core.call_without_tensorflow(pool2d, LECTURE_EXAMPLE.make_input(), 2, stride=2)
    return core.score_groups("pool2d", _pool_groups(), lambda case: _check_any(pool2d, case), points)


# ========================================================== global_average_pool
@dataclass(frozen=True)
class GapCase:
    shape: tuple
    seed: int = 0

    def __repr__(self) -> str:
        return f"global_average_pool(x of shape {self.shape})"

    def make_input(self) -> np.ndarray:
        return core.rng(self.seed).standard_normal(self.shape).astype(FLOAT32)


_GAP_MISTAKES = (
    ("Your result averages axes 2 and 3: that is NCHW. Here x is NHWC (N, H, W, C): "
     "height and width are axes 1 and 2.", lambda x: x.mean(axis=(2, 3))),
    ("Your result also averages the channels: keep axis 3 (C), average only axes 1 and 2.",
     lambda x: x.mean(axis=(1, 2, 3))),
    ("Your result is the sum over the positions: divide by H * W.", lambda x: x.sum(axis=(1, 2))),
    ("Your result is the maximum (global max pooling): take the mean.",
     lambda x: x.max(axis=(1, 2))),
)


def check_gap_case(function, case: GapCase) -> None:
    x = case.make_input()
    expected = core.run_reference(reference.global_average_pool, x)
    got = core.call_student(function, x.copy())
    try:
        core.assert_shape(got, expected.shape, "output",
                          hint="(N, H, W, C) -> (N, C): one mean per image and per channel.")
        core.assert_close(got, expected, "output", core.tolerance_for(FLOAT32))
    except core.CheckFailure as failure:
        raise core.CheckFailure(f"{failure}\n{_gap_hint(x, got)}".rstrip()) from None


def _gap_hint(x: np.ndarray, got) -> str:
    got = np.asarray(got, dtype=np.float64)
    for hint, compute in _GAP_MISTAKES:
        variant = compute(x.astype(np.float64))
        if variant.shape == got.shape and np.allclose(got, variant, rtol=1e-4, atol=1e-5):
            return "Hint: " + hint
    return ""


class _ThreeDInput:
    def __repr__(self) -> str:
        return "global_average_pool(x of shape (4, 4, 3))"


THREE_D_INPUT = _ThreeDInput()


def _check_gap_any(function, case) -> None:
    if case is THREE_D_INPUT:
        x = np.ones((4, 4, 3), dtype=FLOAT32)
        core.expect_value_error(function, (x,), "x must be 4-D (N, H, W, C)")
    else:
        check_gap_case(function, case)


def public_global_average_pool(global_average_pool) -> None:
    """Fast checks with teaching messages; raises CheckFailure at the first problem."""
    core.call_without_tensorflow(global_average_pool, np.ones((1, 2, 2, 1), dtype=FLOAT32))
    cases = [GapCase((1, 3, 3, 1), seed=1), GapCase((2, 4, 5, 3), seed=2), THREE_D_INPUT]
    _run_public(lambda case: _check_gap_any(global_average_pool, case), cases)
    print(f"global_average_pool: {len(cases)} public checks pass.")


def hidden_global_average_pool(global_average_pool, points: float = 1.0) -> float:
    """Seeded random cases in groups against Keras; returns the points earned."""
    core.call_without_tensorflow(global_average_pool, np.ones((1, 2, 2, 1), dtype=FLOAT32))
    groups = [
        core.CaseGroup("one image, one channel", [GapCase((1, 5, 5, 1), 11), GapCase((1, 2, 7, 1), 12)]),
        core.CaseGroup("batches and channels", [GapCase((4, 6, 6, 8), 13), GapCase((3, 5, 4, 2), 14)]),
        core.CaseGroup("1x1 spatial and non-square", [GapCase((2, 1, 1, 5), 15), GapCase((2, 3, 9, 4), 16)]),
        core.CaseGroup("a 3-D input raises ValueError", [THREE_D_INPUT]),
    ]
    return core.score_groups(
        "global_average_pool", groups, lambda case: _check_gap_any(global_average_pool, case), points
    )
