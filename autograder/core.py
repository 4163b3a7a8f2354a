"""Shared checking machinery: tolerances, comparisons, teaching messages, scoring.

Every chapter's checks are built from these pieces so that a verdict always
says what was expected, what was received, and which tolerance was applied.

Tolerances (float comparisons against a reference computed by TensorFlow):

=========  ======  =====  =====  ===========================================
dtype      device  rtol   atol   why
=========  ======  =====  =====  ===========================================
float64    any     1e-9   1e-9   numpy float64 vs TF float64: rounding only
float32    CPU     1e-4   1e-5   summation order differs (loops vs BLAS)
float32    GPU     1e-3   1e-4   cuDNN algorithms, TF32 disabled
=========  ======  =====  =====  ===========================================

``atol`` is scaled by the magnitude of the reference (max |expected|, at
least 1) so that large sums of products keep the same relative footing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import measure

# Bound at import time so a student who reassigns np.testing or np.allclose
# does not change how their work is compared.
_np_abs = np.abs
_np_asarray = np.asarray
_np_isclose = np.isclose
_np_argwhere = np.argwhere


class CheckFailure(AssertionError):
    """A check failed; the message explains what was expected and what was received."""


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def describe(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


_TOLERANCES = {
    ("float64", "CPU"): Tolerance(1e-9, 1e-9),
    ("float64", "GPU"): Tolerance(1e-9, 1e-9),
    ("float32", "CPU"): Tolerance(1e-4, 1e-5),
    ("float32", "GPU"): Tolerance(1e-3, 1e-4),
}


# --------------------------------------------------------------------------- device
_DEVICE_CONFIGURED = False


def reference_device() -> str:
    """``"GPU"`` when TensorFlow sees a GPU, else ``"CPU"``.

    On first call it turns TF32 off (so GPU references are true float32) and
    asks for memory growth, which must happen before TensorFlow touches the GPU.
    """
    global _DEVICE_CONFIGURED
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not _DEVICE_CONFIGURED:
        tf.config.experimental.enable_tensor_float_32_execution(False)
        for gpu in gpus:
            with contextlib.suppress(RuntimeError):  # already initialised
                tf.config.experimental.set_memory_growth(gpu, True)
        _DEVICE_CONFIGURED = True
    return "GPU" if gpus else "CPU"


def tolerance_for(dtype, device: str | None = None) -> Tolerance:
    """The tolerance for comparing results of ``dtype`` computed on ``device``."""
    name = "float64" if np.dtype(dtype) == np.float64 else "float32"
    return _TOLERANCES[(name, device or reference_device())]


def run_reference(function, *args, **kwargs) -> np.ndarray:
    """Run a TensorFlow reference computation on the reference device, return numpy."""
    import tensorflow as tf

    device = reference_device()
    with tf.device(f"/{device}:0"):
        result = function(*args, **kwargs)
    return result.numpy() if hasattr(result, "numpy") else np.asarray(result)


# ------------------------------------------------------------------- random cases
_CASE_SALT: list[int] = []


def set_case_salt(salt: str | None) -> None:
    """Mix ``salt`` (hex) into the seeds of every random case (:func:`rng`); ``None`` or ``""``:
    the seeds as written. The grading worker sets the cohort's salt, an HMAC of the
    instructor's secret and the chapter, so that the random cases cannot be known before
    grading (a table of answers recorded from the public checks is worth nothing), and are the
    same for every submission and every regrading. Students' own runs use the seeds as written."""
    salt = salt or ""
    _CASE_SALT[:] = [int(salt[i:i + 8], 16) for i in range(0, len(salt), 8)]


def rng(seed: int) -> np.random.Generator:
    """``np.random.default_rng(seed)``, with the grading salt mixed in when one is set."""
    return np.random.default_rng([seed, *_CASE_SALT] if _CASE_SALT else seed)


# ----------------------------------------------------------------------- comparison
def _fmt(value) -> str:
    return np.array2string(_np_asarray(value), precision=4, suppress_small=True, max_line_width=90)


def assert_shape(got, expected_shape, name: str, hint: str = "") -> None:
    """Raise a :class:`CheckFailure` when ``got`` does not have ``expected_shape``."""
    got_shape = getattr(got, "shape", None)
    if got_shape is None:
        raise CheckFailure(
            f"{name}: expected a numpy array of shape {tuple(expected_shape)}, "
            f"got {type(got).__name__}."
        )
    if tuple(got_shape) != tuple(expected_shape):
        message = f"{name}: wrong shape: expected {tuple(expected_shape)}, got {tuple(got_shape)}."
        axes = [
            axis for axis, (a, b) in enumerate(zip(got_shape, expected_shape, strict=False)) if a != b
        ]
        if len(got_shape) == len(expected_shape) and axes:
            message += f" Axis {axes[0]} is wrong."
        if hint:
            message += f"\n{hint}"
        raise CheckFailure(message)


def assert_close(got, expected, name: str, tol: Tolerance, hint: str = "") -> None:
    """Compare arrays elementwise; on failure name the first wrong position.

    ``atol`` is scaled by ``max(1, max|expected|)``.
    """
    expected = _np_asarray(expected)
    assert_shape(got, expected.shape, name, hint)
    got = _np_asarray(got)
    if not np.issubdtype(got.dtype, np.number):
        raise CheckFailure(f"{name}: expected numbers, got an array of dtype {got.dtype}.")
    scale = max(1.0, float(_np_abs(expected).max())) if expected.size else 1.0
    atol = tol.atol * scale
    ok = _np_isclose(got, expected, rtol=tol.rtol, atol=atol, equal_nan=False)
    if bool(ok.all()):
        return
    bad = _np_argwhere(~ok)
    first = tuple(int(i) for i in bad[0])
    error = float(_np_abs(got.astype(np.float64) - expected).max())
    message = (
        f"{name}: {len(bad)} of {expected.size} values differ from the reference "
        f"(tolerance {tol.rtol:g} relative, {atol:.3g} absolute).\n"
        f"First wrong position {first}: expected {expected[first]:.6g}, got {got[first]:.6g}. "
        f"Largest absolute error {error:.3g}."
    )
    if hint:
        message += f"\n{hint}"
    raise CheckFailure(message)


def matching_hint(got, variants: dict, tol: Tolerance) -> str:
    """The first hint of ``variants`` (hint -> the output of a classic mistake) whose output
    ``got`` matches within ``tol`` (atol scaled like :func:`assert_close`), else ``""``."""
    got = _np_asarray(got)
    for hint, value in variants.items():
        value = _np_asarray(value)
        if got.shape == value.shape:
            scale = max(1.0, float(_np_abs(value).max())) if value.size else 1.0
            if bool(_np_isclose(got, value, rtol=tol.rtol, atol=tol.atol * scale).all()):
                return hint
    return ""


def assert_close_or_hint(got, expected, name: str, tol: Tolerance, variants=None) -> None:
    """:func:`assert_close`; on failure, the message names the classic mistake ``got`` matches.

    ``variants``: a dict hint -> wrong output, or a function returning one, called only when
    the comparison fails (so a correct answer costs no extra computation).
    """
    try:
        assert_close(got, expected, name, tol)
    except CheckFailure:
        if callable(variants):
            variants = variants()
        hint = matching_hint(got, variants or {}, tol) if np.shape(got) == np.shape(expected) else ""
        assert_close(got, expected, name, tol, hint)


def as_array(got, name: str) -> np.ndarray:
    """The student's result as a numpy array (a TensorFlow tensor is fine), or a readable failure."""
    try:
        return _np_asarray(got)
    except Exception as error:  # noqa: BLE001 - report what the student returned
        raise CheckFailure(f"{name}: expected an array or a tensor, got {type(got).__name__}.") from error


def as_scalar(got, name: str) -> np.float64:
    """The student's result as one number (a 0-d array, for :func:`assert_close`)."""
    value = as_array(got, name)
    if value.size != 1:
        raise CheckFailure(f"{name}: expected one number (a scalar), got shape {value.shape}.")
    try:
        return np.float64(value.reshape(()))
    except (TypeError, ValueError) as error:
        raise CheckFailure(f"{name}: expected a number, got {value.reshape(())!r}.") from error


def assert_equal(got, expected, name: str, hint: str = "") -> None:
    """Exact comparison for integers, tuples and strings."""
    if got != expected:
        message = f"{name}: expected {expected!r}, got {got!r}."
        if hint:
            message += f"\n{hint}"
        raise CheckFailure(message)


# ------------------------------------------------------------ no TensorFlow inside
_FORBIDDEN_PACKAGES = measure.FORBIDDEN_PACKAGES


class UsesTensorFlow(CheckFailure):
    """The student's function called TensorFlow, Keras, the reference implementation, or a
    library that does what the exercise asks (``also_forbidden``)."""


def measured_call(function, args: tuple, kwargs: dict, how: str, **options):
    """``(result, measurement)`` of one call of student code, measured where that code runs.

    ``how`` is ``"libraries"`` (the first code of ``options["packages"]`` it ran, or ``None``),
    ``"lines"`` (lines of student code run) or ``"gradient"`` (see :func:`gradient_of`). A
    function of a graded kernel (a proxy of :mod:`autograder.grading.checker`, with
    ``__remote_call__``) is measured in the kernel. A stub gives the "not implemented" failure."""
    try:
        remote = getattr(function, "__remote_call__", None)
        if remote is not None:
            return remote(args, kwargs, measure=how, options=options)
        if how == "libraries":
            return measure.call_watching_libraries(function, args, kwargs, options["packages"])
        if how == "gradient":
            return measure.call_with_gradient(function, args, kwargs, options["wrt"],
                                              options.get("weights"))
        return measure.call_counting_lines(function, args, kwargs)
    except NotImplementedError as error:
        raise not_implemented(function) from error


def call_without_tensorflow(function, *args, also_forbidden: tuple[str, ...] = (), **kwargs):
    """Call ``function`` and fail if it runs any TensorFlow, Keras or autograder code.

    The exercises ask for numpy implementations: calling ``tf.nn.conv2d`` (or
    our reference) would hand in TensorFlow's work as one's own.  ``also_forbidden``
    names more packages whose code must not run (``("skimage",)`` where the exercise
    is the colour conversion scikit-image does); they are imported first so that
    their folders are known.
    """
    for package in also_forbidden:
        importlib.import_module(package)
    packages = _FORBIDDEN_PACKAGES + tuple(also_forbidden)
    result, seen = measured_call(function, args, kwargs, "libraries", packages=packages)
    if seen:
        name = getattr(function, "__name__", "your function")
        libraries = "/".join(["TensorFlow/Keras", *also_forbidden])
        raise UsesTensorFlow(
            f"{name} calls {libraries} ({seen}). This exercise asks for numpy "
            "only: write the computation yourself. The points for this exercise are withheld."
        )
    return result


def check_numpy_only(function, *args, also_forbidden: tuple[str, ...] = (), **kwargs) -> None:
    """Withhold the points (raise :class:`UsesTensorFlow`) if ``function`` calls TensorFlow.

    Runs one call under the profiler of :func:`call_without_tensorflow` (keep the
    case small: the profiler slows loops).  A stub raises the readable "not
    implemented" failure; any other error is left to the graded cases, which
    report it with its case.
    """
    try:
        call_without_tensorflow(function, *args, also_forbidden=also_forbidden, **kwargs)
    except CheckFailure:
        raise
    except Exception:  # noqa: BLE001 - reported by the graded cases
        pass


def quiet(check):
    """Decorator: run a check with Python warnings (numpy's RuntimeWarnings included) silenced.

    A test cell must print nothing on stderr (nbgrader scores such a cell 0), and a
    student's ``np.log(0)`` or a Keras notice is not a mistake to lose points for.
    """

    @functools.wraps(check)
    def run(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return check(*args, **kwargs)

    return run


@contextlib.contextmanager
def global_replaced(function, name: str, replacement):
    """Run with ``replacement`` bound to ``name`` in ``function``'s globals (restored after).

    An exercise that builds on an earlier one (a style loss on the Gram matrix, a VAE loss on
    the KL term) is graded with the reference for the earlier one in place of the student's,
    so that a mistake costs points once, where it was made.  Nothing happens when ``function``
    does not read a global of that name. For a function of a graded kernel, the replacement is
    sent there (:mod:`autograder.grading.wire` says which functions can be).
    """
    remote = getattr(function, "__remote_replace__", None)
    if remote is not None:  # a function of a graded kernel: replaced there
        with remote(name, replacement):
            yield
        return
    namespace = getattr(function, "__globals__", None)
    if namespace is None or name not in namespace:
        yield
        return
    saved = namespace[name]
    namespace[name] = replacement
    try:
        yield
    finally:
        namespace[name] = saved


def is_instance(value, class_path: str) -> bool:
    """``isinstance(value, cls)`` for the class at ``class_path`` (``"keras.Model"``), asked
    where ``value`` lives (an object of a graded kernel stays there)."""
    remote = getattr(value, "__remote_isinstance__", None)
    if remote is not None:
        return bool(remote(class_path))
    module, _, name = class_path.rpartition(".")
    return isinstance(value, getattr(importlib.import_module(module), name))


def placed_with(function, value):
    """``value`` (a grader's Keras model, or a reference function) where ``function`` runs:
    itself, or for a function of a graded kernel a copy made there, whose changes (a training)
    stay there: read them back through the copy (``copy.get_weights()``)."""
    remote = getattr(function, "__remote_place__", None)
    return remote(value) if remote is not None else value


def run_where(function, grader_function, *args):
    """``grader_function(*args)`` (a reference function) run where ``function`` runs: the seed
    of a training that the student's function does, for example."""
    return placed_with(function, functools.partial(grader_function, *args))()


def type_name(value) -> str:
    """The name of ``value``'s class, for a message (a graded kernel's object: its class there)."""
    return getattr(value, "__remote_type__", None) or type(value).__name__


def public_case(check, function, case) -> None:
    """Run one case of a public check; a failure names the case, as the hidden checks' groups
    do (:class:`CaseGroup`). Withheld points (:class:`UsesTensorFlow`) pass through unchanged."""
    try:
        check(function, case)
    except UsesTensorFlow:
        raise
    except CheckFailure as failure:
        raise CheckFailure(f"{case!r}: {failure}") from None


# --------------------------------------------------------------------- scoring
def not_implemented(function) -> CheckFailure:
    """The readable failure for a stub that still raises ``NotImplementedError``."""
    name = getattr(function, "__name__", "this function")
    return CheckFailure(f"{name} is not implemented yet: replace `raise NotImplementedError()` "
                        "with your code.")


def call_student(function, *args, **kwargs):
    """Call student code, turning NotImplementedError into a readable failure."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        raise not_implemented(function) from error


def expect_value_error(function, args: tuple, what: str, kwargs: dict | None = None) -> None:
    """Fail unless ``function(*args, **kwargs)`` raises ValueError (``what`` says why it should)."""
    call = f"{getattr(function, '__name__', 'function')}{tuple(args)!r}"
    try:
        got = call_student(function, *args, **(kwargs or {}))
    except ValueError:
        return
    except CheckFailure:
        raise
    except Exception as error:  # noqa: BLE001 - report what the student code raised
        raise CheckFailure(
            f"{call}: expected a ValueError ({what}), got {type(error).__name__}: {error}"
        ) from None
    shape = getattr(got, "shape", None)
    returned = f"an array of shape {tuple(shape)}" if shape is not None else repr(got)
    raise CheckFailure(
        f"{call}: expected a ValueError ({what}), but it returned {returned}. Check the "
        "arguments first and raise ValueError with a message that says what was expected."
    )


@dataclass
class CaseGroup:
    """A named group of cases worth ``weight`` shares of an exercise's points (one by default)."""

    name: str
    cases: list
    weight: float = 1.0

    def run(self, check_one) -> str | None:
        """Return ``None`` when every case passes, else the first failure message."""
        for case in self.cases:
            try:
                check_one(case)
            except UsesTensorFlow:
                raise
            except CheckFailure as failure:
                return f"{case!r}: {failure}"
            except Exception as error:  # noqa: BLE001 - student code may raise anything
                return f"{case!r}: {type(error).__name__}: {error}"
        return None


@dataclass(frozen=True)
class BadCase:
    """Arguments that must raise ValueError: ``build()`` returns (args, kwargs)."""

    label: str
    build: object = field(compare=False)
    why: str = ""

    def __repr__(self) -> str:
        return self.label


def check_bad_case(function, case: BadCase) -> None:
    """Fail unless ``function`` raises ValueError for the case's arguments."""
    args, kwargs = case.build()
    expect_value_error(function, args, case.why, kwargs)


def score_function(exercise: str, function, groups: list[CaseGroup], check_case,
                   points: float = 1.0) -> float:
    """:func:`score_groups` for one student function: ``check_case(function, case)`` grades a
    case, and a :class:`BadCase` passes when ``function`` raises ValueError for it."""

    def run(case):
        if isinstance(case, BadCase):
            return check_bad_case(function, case)
        return check_case(function, case)

    return score_groups(exercise, groups, run, points)


def score_groups(exercise: str, groups: list[CaseGroup], check_one, points: float = 1.0) -> float:
    """Run every group, print a report, and return the points earned.

    nbgrader 0.9.6 reads the number a test cell ends with as the *points*
    earned (``nbgrader.utils.get_partial_grade``), so this returns the share of
    the groups' weights passed (each group weighs 1 unless it says otherwise)
    times ``points`` (the cell's points), rounded down to three decimals, when
    at least one group passes.  It raises :class:`CheckFailure` with the whole
    report when none does, so the feedback shows why.
    """
    lines = []
    passed = 0
    passed_weight = 0.0
    total_weight = sum(group.weight for group in groups)
    for group in groups:
        failure = group.run(check_one)
        share = ""
        if group.weight != 1 and total_weight:
            share = f" ({group.weight / total_weight * points:.3g} of the {points:g} points)"
        if failure is None:
            passed += 1
            passed_weight += group.weight
            lines.append(f"  [pass] {group.name}{share}")
        else:
            lines.append(f"  [FAIL] {group.name}{share}: {failure}")
    fraction = passed_weight / total_weight if total_weight else 0.0
    report = f"{exercise}: {passed}/{len(groups)} groups of cases pass\n" + "\n".join(lines)
    if passed == 0:
        raise CheckFailure(report)
    print(report)
    return float(math.floor(fraction * points * 1000 + 1e-9) / 1000)


def gradient_of(function, args, wrt: int, weights=None, **kwargs) -> tuple[object, object]:
    """``(output, gradient)`` of ``function(*args, **kwargs)`` on tensors, taken with
    ``tf.GradientTape`` where the function runs: d sum(output * weights) / d args[wrt] as a numpy
    array, ``None`` when the output is not a tensor or no gradient flows (numpy inside)."""
    options = {"wrt": wrt, "weights": None if weights is None else _np_asarray(weights)}
    return measured_call(function, tuple(args), kwargs, "gradient", **options)


# ------------------------------------------------- lines run (is it vectorised?)
def count_lines_run(function, *args, **kwargs) -> tuple[object, int]:
    """Call ``function`` and count the lines of the *student's* code it runs.

    Returns ``(result, lines)``.  Every line executed by a function whose code
    is not in the standard library, an installed package, the grader or the
    course library counts: the function itself, the helpers it calls (other
    notebook cells), comprehensions and lambdas.  A loop body counts once per
    iteration, so the count is deterministic and tells a Python loop over the
    data (it grows with the data) from vectorised numpy (it does not); numpy's
    own code is not counted.  Uses ``sys.settrace`` and restores the previous
    tracer (a debugger's) afterwards; the profiler of
    :func:`call_without_tensorflow` is left alone.
    """
    return measured_call(function, args, kwargs, "lines")
