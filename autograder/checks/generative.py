"""Checks for the chapter "Generative models: autoencoders, U-Net, VAE, GAN, autoregressive".

Every check runs the student's function and the reference
(:mod:`autograder.reference.generative`: TensorFlow ops, Keras losses) on seeded cases, plus
identities that need no reference: reparameterised samples have the asked mean and spread over
many draws, d z / d mean = 1 and d z / d log_var = (z - mean) / 2 exactly; KL >= 0 and = 0 at
the standard normal; a discriminator step leaves the generator's weights bit for bit (and the
other way round); no output of a stack of masked convolutions depends on its own pixel or a
later one (``tf.GradientTape``).  Each GAN step is compared with the reference step applied to
networks with the same weights and a fresh optimizer of the same kind.

``vae_loss`` is graded with the reference KL term in place of the student's
(:func:`autograder.core.global_replaced`), so a mistake in ``kl_divergence`` costs points there
only.

Tolerances: float32, ``core.tolerance_for(float32)`` (CPU rtol 1e-4, atol 1e-5; GPU rtol 1e-3,
atol 1e-4; atol scaled by max |expected|).  Statistics over 20,000 draws: the sample mean within
5 standard errors of ``mean``, the sample standard deviation within 5 % of exp(log_var / 2).
Masks are 0/1: compared exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autograder import core
from autograder.core import BadCase, CaseGroup
from autograder.reference import generative as reference

# graded test cells run these checks in the grading worker, out of the student's reach: the GAN
# steps update networks and an optimizer placed in the kernel, whose weights are read back
CHECKS_RUN_IN = "worker"

FLOAT32 = np.float32
DRAWS = 20_000


def _tol() -> core.Tolerance:
    return core.tolerance_for(FLOAT32)


def _tf():
    import tensorflow as tf

    return tf


def _gaussian_parameters(seed: int, shape, spread: float = 1.0):
    rng = core.rng(seed)
    mean = (rng.standard_normal(shape) * spread).astype(FLOAT32)
    log_var = rng.uniform(-2.0 * spread, 2.0 * spread, shape).astype(FLOAT32)
    return mean, log_var


# ==================================================================== 1. reparameterize
@dataclass(frozen=True)
class ReparamCase:
    label: str
    kind: str  # statistics, gradient, seed
    seed: int = 0

    def __repr__(self) -> str:
        return self.label


STAT_MEAN = np.array([0.5, -2.0, 3.0, 0.0], FLOAT32)
STAT_LOG_VAR = np.log(np.array([1.0, 4.0, 0.01, 0.25], FLOAT32))


def check_reparam_statistics(reparameterize, case: ReparamCase) -> None:
    mean = np.tile(STAT_MEAN, (DRAWS, 1))
    log_var = np.tile(STAT_LOG_VAR, (DRAWS, 1))
    z = core.as_array(core.call_student(reparameterize, mean, log_var, case.seed), "reparameterize")
    core.assert_shape(z, mean.shape, "reparameterize(mean, log_var, seed)", "z has the shape of mean.")
    std = np.exp(STAT_LOG_VAR / 2)
    got_mean, got_std = z.mean(axis=0), z.std(axis=0)
    if np.any(np.abs(got_mean - STAT_MEAN) > 5 * std / np.sqrt(DRAWS)):
        raise core.CheckFailure(
            f"over {DRAWS:,} draws with mean {STAT_MEAN} the samples average {np.round(got_mean, 3)}: "
            "z = mean + sigma * eps, with eps of mean 0.")
    if np.any(np.abs(got_std / std - 1) > 0.05):
        hint = ""
        if np.allclose(got_std, np.exp(STAT_LOG_VAR), rtol=0.05):
            hint = (" Your spread is exp(log_var): log_var is the log of the variance, so sigma = "
                    "exp(log_var / 2).")
        raise core.CheckFailure(
            f"over {DRAWS:,} draws with variances {np.round(np.exp(STAT_LOG_VAR), 3)} the samples have "
            f"standard deviations {np.round(got_std, 3)}, expected {np.round(std, 3)} "
            f"(within 5 %).{hint}")


def check_reparam_gradient(reparameterize, case: ReparamCase) -> None:
    tf = _tf()
    mean, log_var = _gaussian_parameters(case.seed, (6, 3))
    args = [mean, log_var, case.seed]
    z, d_mean = core.gradient_of(reparameterize, args, 0)  # taken where the student's code runs
    if not tf.is_tensor(z):
        raise core.CheckFailure("reparameterize returned a numpy array: no gradient can reach mean "
                                "and log_var. Use TensorFlow ops (tf.exp, tf.random...) and return a tensor.")
    z, d_log_var = core.gradient_of(reparameterize, args, 1)
    if d_mean is None or d_log_var is None:
        raise core.CheckFailure("no gradient reaches mean or log_var through your z: compute z with "
                                "TensorFlow ops from the tensors you were given.")
    core.assert_close(d_mean, np.ones(mean.shape), "d sum(z) / d mean (expected 1 everywhere)", _tol())
    expected = 0.5 * (np.asarray(z) - mean)
    hint = ("Your gradient is (z - mean): you used exp(log_var) as sigma; sigma = exp(log_var / 2)."
            if np.allclose(d_log_var, 2 * expected, rtol=1e-4, atol=1e-5) else "")
    core.assert_close(d_log_var, expected, "d sum(z) / d log_var (expected (z - mean) / 2)", _tol(), hint)


def check_reparam_seed(reparameterize, case: ReparamCase) -> None:
    mean, log_var = _gaussian_parameters(case.seed, (5, 4))
    first = core.as_array(core.call_student(reparameterize, mean, log_var, 7), "reparameterize")
    again = core.as_array(core.call_student(reparameterize, mean, log_var, 7), "reparameterize")
    other = core.as_array(core.call_student(reparameterize, mean, log_var, 8), "reparameterize")
    if not np.array_equal(first, again):
        raise core.CheckFailure("reparameterize(mean, log_var, seed=7) gave two different draws: draw eps "
                                "from the seed (tf.random.stateless_normal(shape, seed=(seed, 0))).")
    if np.array_equal(first, other):
        raise core.CheckFailure("seeds 7 and 8 gave the same draw: eps must depend on the seed.")


def _reparam_bad() -> list[BadCase]:
    mean, log_var = _gaussian_parameters(0, (4, 3))
    return [BadCase("mean (4, 3) with log_var (4, 2)", lambda: ((mean, log_var[:, :2], 0), {}),
                    "mean and log_var must have the same shape")]


def _check_reparam(reparameterize, case) -> None:
    {"statistics": check_reparam_statistics, "gradient": check_reparam_gradient,
     "seed": check_reparam_seed}[case.kind](reparameterize, case)


def _reparam_groups() -> list[CaseGroup]:
    return [
        CaseGroup("mean and spread over 20,000 draws",
                  [ReparamCase("statistics, seed 1", "statistics", 1), ReparamCase("statistics, seed 2", "statistics", 2)]),
        CaseGroup("gradients: d z / d mean = 1, d z / d log_var = (z - mean) / 2",
                  [ReparamCase("gradients", "gradient", 10), ReparamCase("gradients", "gradient", 11)]),
        CaseGroup("the same seed gives the same draw, another seed another", [ReparamCase("seeds", "seed", 20)]),
        CaseGroup("bad input raises ValueError", _reparam_bad()),
    ]


@core.quiet
def public_reparameterize(reparameterize) -> None:
    core.public_case(_check_reparam, reparameterize, ReparamCase("mean and spread over 20,000 draws", "statistics", 3))
    core.public_case(_check_reparam, reparameterize, ReparamCase("gradients", "gradient", 4))
    print("reparameterize: public checks pass (hidden checks: other seeds, reproducible draws, bad input).")


@core.quiet
def hidden_reparameterize(reparameterize, points: float = 1.0) -> float:
    return core.score_function("reparameterize", reparameterize, _reparam_groups(), _check_reparam, points)


# ===================================================================== 2. kl_divergence
@dataclass(frozen=True)
class KLCase:
    label: str
    shape: tuple
    seed: int = 0
    spread: float = 1.0
    standard: bool = False

    def arrays(self):
        if self.standard:
            return np.zeros(self.shape, FLOAT32), np.zeros(self.shape, FLOAT32)
        return _gaussian_parameters(self.seed, self.shape, self.spread)

    def __repr__(self) -> str:
        return f"{self.label}: mean and log_var of shape {self.shape}"


def _kl_variants(mean, log_var) -> dict:
    m, lv = mean.astype(np.float64), log_var.astype(np.float64)
    return {
        "The sign: KL = -1/2 sum(1 + log_var - mean^2 - exp(log_var)), which is >= 0.":
            0.5 * (1 + lv - m**2 - np.exp(lv)).sum(1),
        "log_var is the log of the variance: the variance is exp(log_var), not exp(2 log_var).":
            -0.5 * (1 + 2 * lv - m**2 - np.exp(2 * lv)).sum(1),
        "Sum over the latent dimensions (one KL per example), do not average.":
            -0.5 * (1 + lv - m**2 - np.exp(lv)).mean(1),
        "The term 1 is missing: -1/2 sum(1 + log_var - mean^2 - exp(log_var)).":
            -0.5 * (lv - m**2 - np.exp(lv)).sum(1),
    }


def check_kl_case(kl_divergence, case: KLCase) -> None:
    mean, log_var = case.arrays()
    name = "kl_divergence(mean, log_var)"
    got = core.as_array(core.call_student(kl_divergence, mean.copy(), log_var.copy()), name)
    expected = core.run_reference(reference.kl_divergence, mean, log_var)
    core.assert_shape(got, expected.shape, name, "One KL per example: shape (N,).")
    core.assert_close_or_hint(got, expected, name, _tol(), lambda: _kl_variants(mean, log_var))
    if np.any(got < -1e-5):
        raise core.CheckFailure(f"{name}: a KL divergence is never negative, got {got.min():.4g}.")


def _kl_groups() -> list[CaseGroup]:
    return [
        CaseGroup("random means and log-variances",
                  [KLCase("random", shape, seed) for seed, shape in enumerate([(4, 3), (8, 16), (2, 2)])]),
        CaseGroup("the standard normal: KL = 0 exactly",
                  [KLCase("standard normal", (3, 5), standard=True), KLCase("standard normal", (1, 1), standard=True)]),
        CaseGroup("a one-dimensional latent space, one example",
                  [KLCase("1-D latent", (5, 1), 10), KLCase("one example", (1, 8), 11)]),
        CaseGroup("far from the prior: |mean| up to 10, log_var in [-6, 6]",
                  [KLCase("far", (4, 6), 20, spread=3.0), KLCase("far", (3, 2), 21, spread=3.0)]),
        CaseGroup("bad input raises ValueError", [
            BadCase("mean (4, 3) with log_var (4, 2)",
                    lambda: ((np.zeros((4, 3), FLOAT32), np.zeros((4, 2), FLOAT32)), {}), "same shape"),
            BadCase("one example without the batch axis, shape (3,)",
                    lambda: ((np.zeros(3, FLOAT32), np.zeros(3, FLOAT32)), {}), "(N, latent_dim) expected")]),
    ]


@core.quiet
def public_kl_divergence(kl_divergence) -> None:
    core.public_case(check_kl_case, kl_divergence, KLCase("standard normal", (2, 3), standard=True))
    core.public_case(check_kl_case, kl_divergence, KLCase("random", (4, 3), 1))
    print("kl_divergence: public checks pass (hidden checks: more cases, 1-D latent, far from the "
          "prior, bad input).")


@core.quiet
def hidden_kl_divergence(kl_divergence, points: float = 1.0) -> float:
    return core.score_function("kl_divergence", kl_divergence, _kl_groups(), check_kl_case, points)


# ========================================================================= 3. vae_loss
@dataclass(frozen=True)
class VAECase:
    label: str
    image_shape: tuple
    batch: int = 4
    latent: int = 3
    seed: int = 0
    extreme: bool = False  # predictions exactly 0 and 1, binary targets

    def arrays(self):
        rng = core.rng(self.seed)
        shape = (self.batch, *self.image_shape)
        if self.extreme:
            x = (rng.random(shape) < 0.5).astype(FLOAT32)
            x_hat = np.where(rng.random(shape) < 0.5, x, rng.uniform(0.05, 0.95, shape)).astype(FLOAT32)
            x_hat[(0,) * len(shape)] = 1.0 - x[(0,) * len(shape)]  # confidently wrong: clipped
        else:
            x = rng.random(shape).astype(FLOAT32)
            x_hat = rng.uniform(0.01, 0.99, shape).astype(FLOAT32)
        mean, log_var = _gaussian_parameters(self.seed + 1, (self.batch, self.latent))
        return x, x_hat, mean, log_var

    def __repr__(self) -> str:
        extra = ", predictions exactly 0 or 1 where the target is the other" if self.extreme else ""
        return f"{self.label}: {self.batch} images of shape {self.image_shape}{extra}"


def _vae_variants(x, x_hat, mean, log_var) -> dict:
    n = x.shape[0]
    p = np.clip(x_hat.astype(np.float64), 1e-7, 1 - 1e-7)
    cross = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(n, -1)
    kl = reference.kl_divergence(mean, log_var).numpy().astype(np.float64)
    swapped = -(p * np.log(np.clip(x, 1e-7, 1 - 1e-7)) + (1 - p) * np.log(np.clip(1 - x, 1e-7, 1))).reshape(n, -1)
    return {
        "Sum the cross-entropy over the pixels (it is a log-likelihood of the whole image), do not average it.":
            np.mean(cross.mean(1) + kl),
        "Add the KL term to the reconstruction term.": np.mean(cross.sum(1)),
        "Average over the batch, do not sum.": np.sum(cross.sum(1) + kl),
        "The target is x and the prediction x_reconstructed: BCE(x, x_hat) = -(x log x_hat + (1 - x) log(1 - x_hat)).":
            np.mean(swapped.sum(1) + kl),
    }


def check_vae_case(vae_loss, case: VAECase) -> None:
    x, x_hat, mean, log_var = case.arrays()
    name = "vae_loss(x, x_reconstructed, mean, log_var)"
    with core.global_replaced(vae_loss, "kl_divergence", reference.kl_divergence):
        got = core.as_scalar(core.call_student(vae_loss, x.copy(), x_hat.copy(), mean.copy(), log_var.copy()), name)
    if not np.isfinite(got):
        raise core.CheckFailure(f"{name} = {got}: clip x_reconstructed to [1e-7, 1 - 1e-7] before the logs "
                                "(as Keras does), so that a prediction of exactly 0 or 1 costs a large but "
                                "finite loss.")
    expected = np.float64(core.run_reference(reference.vae_loss, x, x_hat, mean, log_var))
    core.assert_close_or_hint(got, expected, name, _tol(), lambda: _vae_variants(x, x_hat, mean, log_var))


def _vae_groups() -> list[CaseGroup]:
    return [
        CaseGroup("images (N, H, W, 1)",
                  [VAECase("images", (6, 6, 1), 4, 3, seed) for seed in range(3)]),
        CaseGroup("flat vectors (N, D) and images without a channel axis (N, H, W)",
                  [VAECase("vectors", (20,), 5, 2, 10), VAECase("images", (5, 7), 3, 4, 11)]),
        CaseGroup("one image, a latent of dimension 1",
                  [VAECase("one image", (4, 4, 1), 1, 1, 20)]),
        CaseGroup("binary targets, predictions of exactly 0 or 1",
                  [VAECase("binary", (5, 5, 1), 3, 2, 30, extreme=True)]),
        CaseGroup("bad input raises ValueError", [
            BadCase("x (2, 4, 4, 1) with x_reconstructed (2, 4, 4)",
                    lambda: ((np.zeros((2, 4, 4, 1), FLOAT32), np.full((2, 4, 4), 0.5, FLOAT32),
                              np.zeros((2, 3), FLOAT32), np.zeros((2, 3), FLOAT32)), {}), "same shapes"),
            BadCase("3 images but 2 (mean, log_var)",
                    lambda: ((np.zeros((3, 4), FLOAT32), np.full((3, 4), 0.5, FLOAT32),
                              np.zeros((2, 3), FLOAT32), np.zeros((2, 3), FLOAT32)), {}), "one mean per image")]),
    ]


@core.quiet
def public_vae_loss(vae_loss) -> None:
    core.public_case(check_vae_case, vae_loss, VAECase("images", (4, 4, 1), 2, 2, 1))
    print("vae_loss: public checks pass (hidden checks: vectors, one image, predictions of 0 and 1, bad input).")


@core.quiet
def hidden_vae_loss(vae_loss, points: float = 1.0) -> float:
    return core.score_function("vae_loss", vae_loss, _vae_groups(), check_vae_case, points)


# ============================================================= 4-5. GAN losses on logits
@dataclass(frozen=True)
class LogitCase:
    label: str
    n_real: int = 5
    n_fake: int = 5
    seed: int = 0
    scale: float = 2.0
    values: tuple = ()  # fixed logits (real, fake)

    def arrays(self):
        if self.values:
            real, fake = self.values
            return np.array(real, FLOAT32), np.array(fake, FLOAT32)
        rng = core.rng(self.seed)
        return ((rng.standard_normal((self.n_real, 1)) * self.scale).astype(FLOAT32),
                (rng.standard_normal((self.n_fake, 1)) * self.scale).astype(FLOAT32))

    def __repr__(self) -> str:
        if self.values:
            return f"{self.label}: real logits {list(self.values[0])}, fake logits {list(self.values[1])}"
        return f"{self.label}: {self.n_real} real and {self.n_fake} fake logits"


def _softplus(x):
    x = np.asarray(x, np.float64)
    return np.logaddexp(0.0, x)


def _d_variants(real, fake) -> dict:
    return {
        "Real images are labelled 1 and fakes 0: your labels are swapped.":
            _softplus(real).mean() + _softplus(-fake).mean(),
        "Average each term over its own batch (a mean, not a sum).": _softplus(-real).sum() + _softplus(fake).sum(),
        "The loss here is the sum of the two terms, not their average.":
            0.5 * (_softplus(-real).mean() + _softplus(fake).mean()),
        "These are logits: use from_logits=True (do not read them as probabilities).":
            -np.log(np.clip(real, 1e-7, 1 - 1e-7)).mean() - np.log(np.clip(1 - fake, 1e-7, 1 - 1e-7)).mean(),
    }


def _g_variants(fake) -> dict:
    return {
        "That is the saturating loss log(1 - D(G(z))): use the non-saturating BCE(1, D(G(z))).":
            -_softplus(fake).mean(),
        "The generator wants its fakes labelled 1 (real), not 0.": _softplus(fake).mean(),
        "These are logits: use from_logits=True.": -np.log(np.clip(fake, 1e-7, 1 - 1e-7)).mean(),
    }


def _finite(got: np.float64, name: str) -> None:
    if not np.isfinite(got):
        raise core.CheckFailure(f"{name} = {got}: for large logits log(sigmoid(x)) overflows; use "
                                "keras.losses.BinaryCrossentropy(from_logits=True) or tf.nn.softplus.")


def check_d_loss_case(discriminator_loss, case: LogitCase) -> None:
    real, fake = case.arrays()
    name = "discriminator_loss(real_logits, fake_logits)"
    got = core.as_scalar(core.call_student(discriminator_loss, real.copy(), fake.copy()), name)
    _finite(got, name)
    expected = np.float64(core.run_reference(reference.discriminator_loss, real, fake))
    core.assert_close_or_hint(got, expected, name, _tol(), lambda: _d_variants(real, fake))


def check_g_loss_case(generator_loss, case: LogitCase) -> None:
    _, fake = case.arrays()
    name = "generator_loss(fake_logits)"
    got = core.as_scalar(core.call_student(generator_loss, fake.copy()), name)
    _finite(got, name)
    expected = np.float64(core.run_reference(reference.generator_loss, fake))
    core.assert_close_or_hint(got, expected, name, _tol(), lambda: _g_variants(fake))


def _logit_groups(generator: bool) -> list[CaseGroup]:
    groups = [
        CaseGroup("random logits", [LogitCase("random", 6, 6, seed) for seed in range(3)]),
        CaseGroup("a perfect, a fooled and an undecided discriminator", [
            LogitCase("undecided (all logits 0)", values=((0.0, 0.0), (0.0, 0.0, 0.0))),
            LogitCase("confident and right", values=((8.0, 9.0), (-8.0, -7.0))),
            LogitCase("confident and wrong", values=((-6.0, -9.0), (7.0, 5.0)))]),
        CaseGroup("large logits (+-200: log(sigmoid) would overflow)",
                  [LogitCase("large", values=((200.0, -200.0, 3.0), (-200.0, 200.0)))]),
    ]
    if not generator:
        groups.insert(1, CaseGroup("different numbers of real and fake examples",
                                   [LogitCase("3 real, 8 fake", 3, 8, 10), LogitCase("9 real, 2 fake", 9, 2, 11)]))
    two_columns = np.zeros((4, 2), FLOAT32)
    empty = np.zeros((0, 1), FLOAT32)
    one = np.zeros((4, 1), FLOAT32)
    if generator:
        bad = [BadCase("logits of shape (4, 2) (two classes, not one logit)", lambda: ((two_columns,), {}),
                       "one logit per example"),
               BadCase("an empty batch", lambda: ((empty,), {}), "at least one logit")]
    else:
        bad = [BadCase("fake logits of shape (4, 2) (two classes, not one logit)",
                       lambda: ((one, two_columns), {}), "one logit per example"),
               BadCase("an empty batch of real logits", lambda: ((empty, one), {}), "at least one logit")]
    return [*groups, CaseGroup("bad input raises ValueError", bad)]


@core.quiet
def public_discriminator_loss(discriminator_loss) -> None:
    core.public_case(check_d_loss_case, discriminator_loss, LogitCase("undecided", values=((0.0,), (0.0,))))
    core.public_case(check_d_loss_case, discriminator_loss, LogitCase("random", 4, 4, 1))
    print("discriminator_loss: public checks pass (hidden checks: batches of different sizes, confident "
          "discriminators, large logits).")


@core.quiet
def hidden_discriminator_loss(discriminator_loss, points: float = 1.0) -> float:
    return core.score_function("discriminator_loss", discriminator_loss, _logit_groups(False),
                               check_d_loss_case, points)


@core.quiet
def public_generator_loss(generator_loss) -> None:
    core.public_case(check_g_loss_case, generator_loss, LogitCase("undecided", values=((0.0,), (0.0, 0.0))))
    core.public_case(check_g_loss_case, generator_loss, LogitCase("random", 4, 4, 1))
    print("generator_loss: public checks pass (hidden checks: confident discriminators, large logits).")


@core.quiet
def hidden_generator_loss(generator_loss, points: float = 1.0) -> float:
    return core.score_function("generator_loss", generator_loss, _logit_groups(True), check_g_loss_case, points)


# ============================================================ 6-7. one step of each network
LATENT = 3
IMAGE = (4, 4, 1)


def _randomise(model, seed: int):
    rng = core.rng(seed)
    model.set_weights([(rng.standard_normal(w.shape) / np.sqrt(w.shape[0] if len(w.shape) > 1 else 4))
                       .astype(FLOAT32) for w in model.weights])
    return model


def toy_gan(seed: int):
    """A generator (noise (3,) -> image 4x4x1 in (0, 1)) and a discriminator (-> one logit)."""
    import keras

    layers = keras.layers
    generator = keras.Sequential([keras.Input((LATENT,)), layers.Dense(8, activation="tanh"),
                                  layers.Dense(16, activation="sigmoid"), layers.Reshape(IMAGE)],
                                 name="generator")
    discriminator = keras.Sequential([keras.Input(IMAGE), layers.Flatten(), layers.Dense(6, activation="tanh"),
                                      layers.Dense(1)], name="discriminator")
    return _randomise(generator, seed), _randomise(discriminator, seed + 1)


def _optimizer(kind: str, learning_rate: float):
    import keras

    if kind == "adam":
        return keras.optimizers.Adam(learning_rate)
    return keras.optimizers.SGD(learning_rate)


@dataclass(frozen=True)
class StepCase:
    label: str
    network: str  # which network the step updates: "discriminator" or "generator"
    n_real: int = 6
    n_fake: int = 6
    optimizer: str = "sgd"
    learning_rate: float = 0.5
    seed: int = 0
    steps: int = 1

    def __repr__(self) -> str:
        return (f"{self.label}: {self.n_real} real images, {self.n_fake} noise vectors, "
                f"{self.optimizer} at {self.learning_rate}" + (f", {self.steps} steps" if self.steps > 1 else ""))


def _snapshot(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def _run_steps(step, case: StepCase, generator, discriminator, real, noise, optimizer) -> list[float]:
    losses = []
    for _ in range(case.steps):
        if case.network == "discriminator":
            losses.append(step(generator, discriminator, real, noise, optimizer))
        else:
            losses.append(step(generator, discriminator, noise, optimizer))
    return losses


def _loss_now(network: str, generator, discriminator, real, noise) -> float:
    fake_logits = discriminator(generator(noise, training=True), training=True)
    if network == "generator":
        return float(reference.generator_loss(fake_logits))
    return float(reference.discriminator_loss(discriminator(real, training=True), fake_logits))


def check_step_case(step, case: StepCase) -> None:
    rng = core.rng(case.seed + 100)
    real = rng.random((case.n_real, *IMAGE)).astype(FLOAT32)
    noise = rng.standard_normal((case.n_fake, LATENT)).astype(FLOAT32)
    generator, discriminator = toy_gan(case.seed)
    ref_generator, ref_discriminator = toy_gan(case.seed)
    before = {"generator": _snapshot(generator), "discriminator": _snapshot(discriminator)}
    name = f"{case.network}_step"
    # the networks and the optimizer live where the student's step runs (copies made in a graded
    # kernel); their weights are read back from there
    generator, discriminator = (core.placed_with(step, model) for model in (generator, discriminator))
    optimizer = core.placed_with(step, _optimizer(case.optimizer, case.learning_rate))
    got = _run_steps(lambda *a: core.call_student(step, *a), case, generator, discriminator,
                     real, noise, optimizer)
    reference_step = getattr(reference, name)
    expected = _run_steps(reference_step, case, ref_generator, ref_discriminator, real, noise,
                          _optimizer(case.optimizer, case.learning_rate))
    other = "generator" if case.network == "discriminator" else "discriminator"
    other_model = generator if other == "generator" else discriminator
    if any(not np.array_equal(a, b) for a, b in zip(before[other], _snapshot(other_model), strict=True)):
        raise core.CheckFailure(
            f"the {case.network} step changed the {other}'s weights: take the gradient with respect "
            f"to {case.network}.trainable_variables only, and apply it to those.")
    trained = discriminator if case.network == "discriminator" else generator
    if all(np.array_equal(a, b) for a, b in zip(before[case.network], _snapshot(trained), strict=True)):
        raise core.CheckFailure(f"the {case.network}'s weights did not change: apply the gradients with "
                                "optimizer.apply_gradients(zip(gradients, variables)).")
    ref_trained = ref_discriminator if case.network == "discriminator" else ref_generator
    for index, (got_w, expected_w) in enumerate(zip(_snapshot(trained), _snapshot(ref_trained), strict=True)):
        core.assert_close(got_w, expected_w, f"{name}: the {case.network}'s weight {index} after "
                          f"{case.steps} step(s)", _tol(),
                          "Check the loss you differentiate (labels, from_logits=True) and the optimizer "
                          "you were given.")
    got_losses = np.array([core.as_scalar(loss, f"{name}: returned loss") for loss in got])
    hint = ""
    if np.isclose(got_losses[-1], _loss_now(case.network, generator, discriminator, real, noise), rtol=1e-4):
        hint = "Return the loss computed before the update (the one you differentiated)."
    core.assert_close(got_losses, np.array(expected, np.float64), f"{name}: the returned losses "
                      "(each computed before its update)", _tol(), hint)


def _step_bad(network: str) -> list[BadCase]:
    def build(empty_real: bool):
        generator, discriminator = toy_gan(0)
        noise = np.zeros((0 if not empty_real else 3, LATENT), FLOAT32)
        real = np.zeros((0 if empty_real else 3, *IMAGE), FLOAT32)
        optimizer = _optimizer("sgd", 0.1)
        if network == "discriminator":
            return (generator, discriminator, real, noise, optimizer), {}
        return (generator, discriminator, noise, optimizer), {}

    cases = [BadCase("no noise vectors (an empty batch)", lambda: build(False), "noise must not be empty")]
    if network == "discriminator":
        cases.append(BadCase("no real images (an empty batch)", lambda: build(True), "real_images must not be empty"))
    return cases


def _step_groups(network: str) -> list[CaseGroup]:
    return [
        CaseGroup("one step with SGD",
                  [StepCase("SGD", network, seed=seed) for seed in range(2)]),
        CaseGroup("batches of different sizes, Adam",
                  [StepCase("Adam", network, 3, 8, "adam", 0.05, 10), StepCase("Adam", network, 8, 2, "adam", 0.05, 11)]),
        CaseGroup("five steps in a row (each loss computed before its own update)",
                  [StepCase("five steps", network, steps=5, learning_rate=0.2, seed=20)]),
        CaseGroup("bad input raises ValueError", _step_bad(network)),
    ]


def _steps_lower_loss(step, network: str) -> None:
    """Public: twenty small steps lower the stepped network's loss on a fixed batch."""
    rng = core.rng(5)
    real = rng.random((8, *IMAGE)).astype(FLOAT32)
    noise = rng.standard_normal((8, LATENT)).astype(FLOAT32)
    generator, discriminator = (core.placed_with(step, model) for model in toy_gan(5))
    case = StepCase("twenty small steps", network, steps=20, learning_rate=0.1)
    losses = _run_steps(lambda *a: core.call_student(step, *a), case, generator, discriminator, real, noise,
                        core.placed_with(step, _optimizer("sgd", 0.1)))
    losses = [float(core.as_scalar(loss, "loss")) for loss in losses]
    if not losses[-1] < losses[0]:
        raise core.CheckFailure(f"twenty small {network} steps on one fixed batch: the {network}'s loss went "
                                f"from {losses[0]:.4g} to {losses[-1]:.4g}; each step must lower it.")


@core.quiet
def public_discriminator_step(discriminator_step) -> None:
    core.public_case(check_step_case, discriminator_step, StepCase("SGD", "discriminator", seed=3))
    _steps_lower_loss(discriminator_step, "discriminator")
    print("discriminator_step: public checks pass (hidden checks: Adam, batches of different sizes, "
          "five steps, bad input).")


@core.quiet
def hidden_discriminator_step(discriminator_step, points: float = 1.0) -> float:
    return core.score_function("discriminator_step", discriminator_step, _step_groups("discriminator"),
                               check_step_case, points)


@core.quiet
def public_generator_step(generator_step) -> None:
    core.public_case(check_step_case, generator_step, StepCase("SGD", "generator", seed=3))
    _steps_lower_loss(generator_step, "generator")
    print("generator_step: public checks pass (hidden checks: Adam, five steps, bad input).")


@core.quiet
def hidden_generator_step(generator_step, points: float = 1.0) -> float:
    return core.score_function("generator_step", generator_step, _step_groups("generator"),
                               check_step_case, points)


# ==================================================================== 8. masked_kernel
@dataclass(frozen=True)
class MaskCase:
    label: str
    shape: tuple
    mask_type: str

    def __repr__(self) -> str:
        return f"{self.label}, kernel {self.shape[0]}x{self.shape[1]}"


def _mask_variants(shape, mask_type) -> dict:
    k_h, k_w = shape[:2]
    row, column = np.indices((k_h, k_w))
    keep = reference.masked_kernel((k_h, k_w, 1, 1), mask_type)[:, :, 0, 0] > 0

    def broadcast(mask2d):
        return np.broadcast_to(mask2d[:, :, None, None], tuple(shape)).astype(np.float64)

    return {
        "Type A hides the centre pixel (first layer: a pixel must not see itself); type B keeps it.":
            reference.masked_kernel(shape, "B" if mask_type == "A" else "A"),
        "On the centre row, the pixels right of the centre come later: mask them.":
            broadcast(keep | ((row == k_h // 2) & (column > k_w // 2))),
        "The rows below the centre come later: mask them.": broadcast(keep | (row > k_h // 2)),
        "On the centre row, keep the pixels left of the centre: they come earlier.":
            broadcast(keep & (row != k_h // 2)),
    }


def check_mask_case(masked_kernel, case: MaskCase) -> None:
    name = f"masked_kernel({case.shape}, {case.mask_type!r})"
    got = core.as_array(core.call_student(masked_kernel, case.shape, case.mask_type), name)
    expected = reference.masked_kernel(case.shape, case.mask_type)
    core.assert_shape(got, expected.shape, name, "The mask has the kernel's shape (k_h, k_w, in, out).")
    core.assert_close_or_hint(got, expected, name, core.Tolerance(0.0, 0.0),
                              lambda: _mask_variants(case.shape, case.mask_type))


@dataclass(frozen=True)
class CausalCase:
    label: str = "a stack of masked 3x3 convolutions (type A, then B, B) on an 8x8 image"
    size: int = 8

    def __repr__(self) -> str:
        return self.label


def dependencies(masks: list[np.ndarray], size: int, seed: int = 0) -> np.ndarray:
    """(size*size, size*size) bool: output pixel p depends on input pixel q (tf.GradientTape)."""
    tf = _tf()
    rng = core.rng(seed)
    kernels = []
    channels = 1
    for mask in masks:
        kernel = rng.standard_normal((*mask.shape[:2], channels, 4)).astype(FLOAT32)
        kernels.append(kernel * np.asarray(mask, FLOAT32))
        channels = 4
    image = tf.constant(rng.standard_normal((1, size, size, 1)).astype(FLOAT32))
    with tf.GradientTape() as tape:
        tape.watch(image)
        x = image
        for kernel in kernels:
            x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME")) + 0.1 * tf.nn.conv2d(x, kernel, 1, "SAME")
        outputs = tf.reduce_sum(x, axis=-1)[0]
        outputs = tf.reshape(outputs, (-1,))
    jacobian = tape.jacobian(outputs, image).numpy().reshape(size * size, size * size)
    return np.abs(jacobian) > 0


def check_causal(masked_kernel, case: CausalCase) -> None:
    masks = [core.as_array(core.call_student(masked_kernel, (3, 3, 1, 4), "A"), "masked_kernel")]
    masks += [core.as_array(core.call_student(masked_kernel, (3, 3, 4, 4), "B"), "masked_kernel")] * 2
    for mask, shape in zip(masks, [(3, 3, 1, 4), (3, 3, 4, 4), (3, 3, 4, 4)], strict=True):
        core.assert_shape(mask, shape, "masked_kernel")
    depends = dependencies(masks, case.size)
    later = np.triu(np.ones_like(depends), k=0)  # q >= p in raster order: the pixel itself or later
    bad = np.argwhere(depends & later)
    if len(bad):
        p, q = (divmod(int(i), case.size) for i in bad[0])
        raise core.CheckFailure(
            f"{case!r}: output pixel {p} depends on input pixel {q}, which is {'itself' if p == q else 'later'} "
            "in raster order: the network would see what it must predict.")
    size = case.size
    centre = (size // 2) * size + size // 2
    if not (depends[centre, centre - 1] and depends[centre, centre - size]):
        raise core.CheckFailure(f"{case!r}: the centre output does not depend on its left or upper neighbour: "
                                "the masks hide more than the later pixels.")


def _mask_bad() -> list[BadCase]:
    return [
        BadCase("an even kernel (4, 4, 1, 1): no centre", lambda: (((4, 4, 1, 1), "A"), {}), "odd kernel sides"),
        BadCase("mask_type 'C'", lambda: (((3, 3, 1, 1), "C"), {}), "mask_type must be 'A' or 'B'"),
        BadCase("a 2-D shape (3, 3)", lambda: (((3, 3), "A"), {}), "shape must be (k_h, k_w, in, out)"),
    ]


def _check_mask(masked_kernel, case) -> None:
    if isinstance(case, MaskCase):
        check_mask_case(masked_kernel, case)
    else:
        check_causal(masked_kernel, case)


def _mask_groups() -> list[CaseGroup]:
    return [
        CaseGroup("type A, square kernels 3, 5, 7",
                  [MaskCase("type A", (k, k, c_in, c_out), "A") for k, c_in, c_out in [(3, 1, 4), (5, 2, 3), (7, 1, 1)]]),
        CaseGroup("type B, square kernels 3, 5, 7",
                  [MaskCase("type B", (k, k, c_in, c_out), "B") for k, c_in, c_out in [(3, 4, 4), (5, 3, 2), (7, 1, 2)]]),
        CaseGroup("non-square kernels (3x5, 5x1) and 1x1",
                  [MaskCase("3x5", (3, 5, 2, 2), "A"), MaskCase("5x1", (5, 1, 1, 1), "B"),
                   MaskCase("1x1", (1, 1, 2, 3), "A"), MaskCase("1x1", (1, 1, 2, 3), "B")]),
        CaseGroup("causality: no output pixel sees itself or a later pixel", [CausalCase()]),
        CaseGroup("bad input raises ValueError", _mask_bad()),
    ]


@core.quiet
def public_masked_kernel(masked_kernel) -> None:
    core.public_case(check_mask_case, masked_kernel, MaskCase("type A", (3, 3, 1, 1), "A"))
    core.public_case(check_mask_case, masked_kernel, MaskCase("type B", (5, 5, 2, 3), "B"))
    print("masked_kernel: public checks pass (hidden checks: more sizes, non-square kernels, causality "
          "through a stack of layers, bad input).")


@core.quiet
def hidden_masked_kernel(masked_kernel, points: float = 1.0) -> float:
    return core.score_function("masked_kernel", masked_kernel, _mask_groups(), _check_mask, points)
