"""Tests for the pooling chapter: reference, checks, solution, student stub, wrong implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from notebook_code import load_namespace
from wrong.pooling import EXPECTED_HINTS, WRONG_IMPLEMENTATIONS

from autograder import core
from autograder.checks import pooling as checks
from autograder.reference import pooling as reference

PRELUDE = "import numpy as np"

pytestmark = pytest.mark.xdist_group("pooling")


@pytest.fixture(scope="module")
def solution():
    return load_namespace("pooling", prelude=PRELUDE)


# ----------------------------------------------------------------- the reference
def test_reference_reproduces_the_lecture_example():
    x = np.array([[255, 200, 5, 54], [28, 32, 28, 1], [150, 215, 10, 30], [200, 230, 15, 5]])
    got = core.run_reference(reference.pool2d, x.reshape(1, 4, 4, 1), 2, 2, "valid", "max")
    np.testing.assert_array_equal(got[0, :, :, 0], [[255, 54], [230, 30]])


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_reference_sizes_follow_the_formulas(padding):
    for n in range(1, 13):
        for pool in range(1, 6):
            for stride in range(1, 6):
                if padding == "valid" and pool > n:
                    with pytest.raises(ValueError):
                        core.run_reference(reference.pool_output_size, n, pool, stride, padding)
                    continue
                expected = math.ceil(n / stride) if padding == "same" else (n - pool) // stride + 1
                got = int(core.run_reference(reference.pool_output_size, n, pool, stride, padding))
                assert got == expected, (n, pool, stride, padding)


def test_lecture_valid_formula_needs_rounding_up():
    """The slide's (n - pool + 1) / s gives 1.5 for n=4, pool=2, s=2; TensorFlow gives 2."""
    assert int(core.run_reference(reference.pool_output_size, 4, 2, 2, "valid")) == 2
    assert (4 - 2 + 1) / 2 == 1.5


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(
    "shape, pool, stride",
    [((1, 5, 5, 1), (2, 2), (2, 2)), ((2, 6, 7, 3), (3, 2), (1, 3)), ((1, 4, 4, 1), (4, 4), (1, 1))],
)
def test_explicit_padding_with_tf_pads_equals_same(mode, shape, pool, stride):
    """The hint machinery's explicit padding reproduces TF's "same" exactly."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) - 1.0
    pads = reference.tf_same_pads(shape, pool, stride)
    explicit = core.run_reference(reference.pool2d_explicit, x, pool, stride, pads, mode)
    same = core.run_reference(reference.pool2d, x, pool, stride, "same", mode)
    np.testing.assert_allclose(explicit, same, rtol=1e-6, atol=1e-6)  # float32, same op order


# ------------------------------------------------------------------ the solution
WRONG = [(exercise, fn) for exercise, fns in WRONG_IMPLEMENTATIONS.items() for fn in fns]


@pytest.mark.parametrize("exercise, wrong", WRONG, ids=[fn.__name__ for _, fn in WRONG])
def test_public_checks_name_the_mistake(exercise, wrong):
    with pytest.raises(core.CheckFailure) as failure:
        getattr(checks, f"public_{exercise}")(wrong)
    assert EXPECTED_HINTS[wrong] in str(failure.value), str(failure.value)


def test_shape_message_fills_in_the_formula():
    def too_small(x, pool_size, stride=None, padding="valid", mode="max"):
        return np.zeros((1, 1, 1, 1))

    with pytest.raises(core.CheckFailure) as failure:
        checks.check_pool_case(too_small, checks.PoolCase((1, 7, 5, 1), 3, 2, "valid", "max"))
    message = str(failure.value)
    assert "floor((7 - 3) / 2) + 1 = 3" in message and "floor((5 - 3) / 2) + 1 = 2" in message


# ------------------------------------------------------------------ the notebook
