"""Tests for the chapter "Images from a trained network: textures, style and colour".

The generic proofs (solution full marks, stub 0 with a readable message, every wrong
implementation loses points) are in tests/test_chapter_contracts.py and
tests/test_chapters_autograde.py. Here: each reference agrees with an independent
computation (the Gram matrix with a loop over positions, the style loss with Gatys et al.'s
normalisation, Lab with scikit-image's own function, the window distances with a loop), the
facts the checks rely on still hold (``tf.math.top_k`` breaks ties by the lower index,
``tf.image.total_variation`` is the L1 sum), the checks name the classic mistakes, keep
``style_loss`` apart from ``gram_matrix``, refuse scikit-image in ``rgb_to_lab`` and print
nothing on stderr for a solution whose ``np.log(0)`` would warn.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from notebook_code import hidden_report, load_namespace
from skimage import color
from test_chapter_contracts import PRELUDES

from autograder import core
from autograder.checks import texture_style_colour as checks
from autograder.reference import texture_style_colour as reference

pytestmark = pytest.mark.xdist_group("texture_style_colour")


@pytest.fixture(scope="module")
def solution():
    return load_namespace("texture_style_colour", prelude=PRELUDES["texture_style_colour"])


def test_reference_gram_matrix_is_the_average_outer_product_over_positions():
    features = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    expected = np.zeros((2, 5, 5))
    for n in range(2):
        for i in range(3):
            for j in range(4):
                expected[n] += np.outer(features[n, i, j], features[n, i, j])
    np.testing.assert_allclose(reference.gram_matrix(features).numpy(), expected / 12, rtol=1e-12)


def test_style_loss_is_a_quarter_of_gatys_normalisation():
    """The notebook says so: 1 / (4 N^2 M^2) sum (G - A)^2 with unnormalised Gram matrices."""
    rng = np.random.default_rng(1)
    x, y = rng.random((1, 6, 5, 4)), rng.random((1, 6, 5, 4))
    channels, positions = 4, 30
    raw_x, raw_y = (np.einsum("nijc,nijd->cd", f, f) for f in (x, y))
    gatys = ((raw_x - raw_y) ** 2).sum() / (4 * channels**2 * positions**2)
    ours = float(reference.style_loss([x], [reference.gram_matrix(y).numpy()], [1.0]))
    assert ours == pytest.approx(4 * gatys, rel=1e-12)


def test_total_variation_of_tensorflow_is_the_l1_sum():
    image = np.random.default_rng(2).random((5, 6, 3))
    by_hand = np.abs(np.diff(image, axis=0)).sum() + np.abs(np.diff(image, axis=1)).sum()
    assert float(reference.total_variation(image)) == pytest.approx(by_hand, rel=1e-12)


def test_reference_lab_is_scikit_image_and_white_is_nearly_100_0_0():
    """White is (100, -0.0025, 0.0047), not exactly (100, 0, 0): the 6-digit matrix's rows do
    not sum exactly to the white point (the checks compare with scikit-image, not with 0)."""
    rgb = np.random.default_rng(3).random((4, 4, 3))
    np.testing.assert_array_equal(reference.rgb_to_lab(rgb), color.rgb2lab(rgb))
    np.testing.assert_allclose(reference.rgb_to_lab(np.ones(3)), [100, 0, 0], atol=5e-3)


def test_top_k_breaks_ties_by_the_lower_index_like_a_stable_argsort():
    values = np.array([[3.0, 1.0, 1.0, 2.0, 1.0, 0.5]])
    _, indices = tf.math.top_k(-values, k=4)
    np.testing.assert_array_equal(indices.numpy()[0], np.argsort(values[0], kind="stable")[:4])


def test_reference_window_distances_equal_a_loop_over_positions():
    case = checks.WindowCase("loop", (9, 8, 3), 5, seed=4, known=0.5)
    sample, window, mask = case.arrays()
    weights = reference.gaussian_window(5, 1.5) * mask
    expected = np.array([[(weights[..., None] * (sample[y:y + 5, x:x + 5] - window) ** 2).sum()
                          for x in range(4)] for y in range(5)]) / weights.sum()
    np.testing.assert_allclose(reference.window_distances(sample, window, mask, 1.5), expected,
                               rtol=1e-9, atol=1e-12)


def test_soft_encoding_sums_to_one_and_annealing_at_one_is_the_mean():
    bins = checks.ab_grid()
    ab = np.random.default_rng(5).uniform(-80, 80, (3, 4, 2))
    encoded = reference.soft_encode(ab, bins)
    np.testing.assert_allclose(encoded.sum(-1), 1.0, atol=1e-12)
    assert ((encoded > 0).sum(-1) == 5).all()
    np.testing.assert_allclose(reference.annealed_mean(encoded, bins, 1.0), encoded @ bins, atol=1e-9)


def test_rebalancing_weights_average_one_under_the_prior():
    prior = np.random.default_rng(6).dirichlet(np.ones(20))
    weights = reference.rebalancing_weights(prior)
    assert float(prior @ weights) == pytest.approx(1.0, abs=1e-12)
    assert weights[np.argmax(prior)] == weights.min()


def test_style_loss_is_graded_with_the_reference_gram_and_the_student_gram_comes_back(solution):
    namespace = solution["style_loss"].__globals__
    students = namespace["gram_matrix"]

    def wrong_gram(features):
        return reference.gram_matrix(features) * 2.0

    namespace["gram_matrix"] = wrong_gram
    try:
        assert checks.hidden_style_loss(solution["style_loss"], points=2) == 2.0
        assert namespace["gram_matrix"] is wrong_gram
    finally:
        namespace["gram_matrix"] = students


@pytest.mark.parametrize(("wrong", "exercise", "hint"), [
    ("gram_reshape_mixes_channels", "gram_matrix", "mixes channels and positions"),
    ("gram_not_normalised", "gram_matrix", "not normalised"),
    ("tv_squared", "total_variation", "not squared"),
    ("tv_rows_only", "total_variation", "along axis W (columns) are missing"),
    ("step_goes_up", "gradient_step", "you went up"),
    ("step_returns_loss_after", "gradient_step", "before the step"),
    ("lab_cube_root_everywhere", "rgb_to_lab", "f(t) is linear for small t"),
    ("lab_no_white_point", "rgb_to_lab", "white point"),
    ("soft_not_normalised", "soft_encode", "sum to 1"),
    ("weights_not_renormalised", "rebalancing_weights", "sum_q p_q w_q = 1"),
    ("anneal_multiplies", "annealed_mean", "do not multiply"),
    ("window_mask_ignored", "window_distances", "must not count"),
])
def test_checks_name_the_classic_mistake(wrong, exercise, hint, capsys):
    assert hint in hidden_report("texture_style_colour", exercise, wrong, capsys)


def test_rgb_to_lab_that_calls_scikit_image_gets_no_points():
    from wrong.texture_style_colour import lab_with_skimage

    with pytest.raises(core.UsesTensorFlow, match="skimage"):
        checks.hidden_rgb_to_lab(lab_with_skimage)


def test_naive_annealing_is_told_why_it_fails(capsys):
    from wrong.texture_style_colour import anneal_naive_power

    checks.hidden_annealed_mean(anneal_naive_power)
    assert "underflows" in capsys.readouterr().out


def test_a_warning_in_student_code_does_not_reach_stderr(solution, capfd):
    def annealed_mean_with_warnings(probabilities, bins, temperature):
        np.log(np.zeros(2))  # RuntimeWarning: divide by zero
        return solution["annealed_mean"](probabilities, bins, temperature)

    assert checks.hidden_annealed_mean(annealed_mean_with_warnings, points=2) == 2.0
    assert capfd.readouterr().err == ""


def test_bins_the_notebook_finds_are_fewer_than_the_papers_313(solution):
    levels = np.linspace(0, 1, 16)
    colours = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    ab = solution["rgb_to_lab"](colours)[:, 1:]
    centres = checks.ab_grid()
    occupied = np.unique(np.argmin(((ab[:, None] - centres) ** 2).sum(-1), axis=1))
    assert 150 < len(occupied) < 313
