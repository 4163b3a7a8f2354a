"""Tests for the chapter "Generative models": references, and the facts the checks rely on.

The generic proofs (solution full marks, stub 0 with a readable message, every wrong
implementation loses points) are in tests/test_chapter_contracts.py and
tests/test_chapters_autograde.py. Here: the closed-form KL agrees with a Monte-Carlo estimate,
the reference GAN losses are the softplus forms, a reference step moves only its own network,
the reference masks make a causal stack (and the wrong masks do not), the checks name the
classic mistakes, and ``vae_loss`` is graded with the reference KL.
"""

from __future__ import annotations

import numpy as np
import pytest
from notebook_code import hidden_report, load_namespace
from test_chapter_contracts import PRELUDES

from autograder.checks import generative as checks
from autograder.reference import generative as reference

pytestmark = pytest.mark.xdist_group("generative")


@pytest.fixture(scope="module")
def solution():
    return load_namespace("generative", prelude=PRELUDES["generative"])


def test_closed_form_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mean, log_var = np.array([[0.7, -1.2, 0.1]]), np.array([[0.4, -0.8, 1.1]])
    z = mean + np.exp(log_var / 2) * rng.standard_normal((400_000, 3))
    log_q = (-0.5 * (z - mean) ** 2 / np.exp(log_var) - 0.5 * np.log(2 * np.pi) - log_var / 2).sum(1)
    log_p = (-0.5 * z**2 - 0.5 * np.log(2 * np.pi)).sum(1)
    assert float(reference.kl_divergence(mean, log_var)[0]) == pytest.approx(np.mean(log_q - log_p), abs=0.01)


def test_reference_gan_losses_are_the_softplus_forms():
    real, fake = np.array([[2.0], [-1.0], [0.5]]), np.array([[-3.0], [4.0]])
    softplus = np.logaddexp(0.0, np.array([-2.0, 1.0, -0.5]))
    expected_d = softplus.mean() + np.logaddexp(0.0, np.array([-3.0, 4.0])).mean()
    assert float(reference.discriminator_loss(real, fake)) == pytest.approx(expected_d, rel=1e-6)
    assert float(reference.generator_loss(fake)) == pytest.approx(np.logaddexp(0.0, [3.0, -4.0]).mean(), rel=1e-6)
    assert np.isfinite(float(reference.discriminator_loss(np.array([[-200.0]]), np.array([[200.0]]))))


def test_a_reference_discriminator_step_moves_only_the_discriminator():
    import keras

    generator, discriminator = checks.toy_gan(0)
    before_g, before_d = generator.get_weights(), discriminator.get_weights()
    rng = np.random.default_rng(1)
    reference.discriminator_step(generator, discriminator, rng.random((4, *checks.IMAGE)).astype("float32"),
                                 rng.standard_normal((4, checks.LATENT)).astype("float32"),
                                 keras.optimizers.SGD(0.5))
    assert all(np.array_equal(a, b) for a, b in zip(before_g, generator.get_weights(), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(before_d, discriminator.get_weights(), strict=True))


def test_reference_masks_are_causal_and_see_their_neighbours():
    masks = [reference.masked_kernel((3, 3, 1, 4), "A")] + [reference.masked_kernel((3, 3, 4, 4), "B")] * 2
    depends = checks.dependencies(masks, 6)
    assert not (depends & np.triu(np.ones_like(depends))).any()
    assert depends[14, 13] and depends[14, 8]  # pixel (2, 2): its left and upper neighbours


def test_type_b_first_layer_lets_a_pixel_see_itself():
    masks = [reference.masked_kernel((3, 3, 1, 4), "B")]
    assert np.diag(checks.dependencies(masks, 5)).all()


def test_vae_loss_is_graded_with_the_reference_kl(solution):
    namespace = solution["vae_loss"].__globals__
    students = namespace["kl_divergence"]
    namespace["kl_divergence"] = lambda mean, log_var: 2 * reference.kl_divergence(mean, log_var)
    try:
        assert checks.hidden_vae_loss(solution["vae_loss"], points=2) == 2.0
    finally:
        namespace["kl_divergence"] = students


@pytest.mark.parametrize(("wrong", "exercise", "hint"), [
    ("reparam_log_var_as_log_sigma", "reparameterize", "sigma = exp(log_var / 2)"),
    ("reparam_in_numpy", "reparameterize", "no gradient can reach"),
    ("kl_sign_flipped", "kl_divergence", "The sign"),
    ("kl_averaged_over_latent", "kl_divergence", "do not average"),
    ("vae_reconstruction_averaged", "vae_loss", "do not average it"),
    ("vae_not_clipped", "vae_loss", "clip x_reconstructed"),
    ("d_loss_labels_swapped", "discriminator_loss", "labels are swapped"),
    ("d_loss_naive_log_sigmoid", "discriminator_loss", "overflows"),
    ("g_loss_saturating", "generator_loss", "non-saturating"),
    ("d_step_moves_generator_too", "discriminator_step", "changed the generator's weights"),
    ("g_step_moves_discriminator_too", "generator_step", "changed the discriminator's weights"),
    ("d_step_returns_loss_after", "discriminator_step", "before the update"),
    ("mask_types_swapped", "masked_kernel", "Type A hides the centre"),
    ("mask_centre_row_open", "masked_kernel", "right of the centre come later"),
])
def test_checks_name_the_classic_mistake(wrong, exercise, hint, capsys):
    assert hint in hidden_report("generative", exercise, wrong, capsys)
