"""Deliberately wrong implementations for the chapter "Generative models".

Each is a classic mistake: log-variance taken for log-sigma, noise not drawn from the seed,
z computed in numpy (no gradient); the KL's sign flipped, averaged over the latent dimensions
or without its 1; the reconstruction averaged over the pixels where it is summed, the KL
forgotten, the batch summed; GAN labels swapped, logits read as probabilities, the two terms
averaged, the saturating generator loss; a discriminator step that also moves the generator, a
generator step that also moves the discriminator, a step that returns the loss after the update;
PixelCNN mask types swapped, the centre row left open, the rows below left open.
``tests/test_chapter_contracts.py`` checks that every one scores < 1.0 on the hidden checks,
or is refused outright.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


# ------------------------------------------------------------------------ reparameterize
def _parameters(mean, log_var):
    mean = tf.convert_to_tensor(mean, tf.float32)
    log_var = tf.convert_to_tensor(log_var, tf.float32)
    if mean.shape != log_var.shape:
        raise ValueError("same shapes")
    return mean, log_var


def reparam_log_var_as_log_sigma(mean, log_var, seed):
    mean, log_var = _parameters(mean, log_var)
    return mean + tf.exp(log_var) * tf.random.stateless_normal(tf.shape(mean), seed=(seed, 0))


def reparam_unseeded(mean, log_var, seed):
    mean, log_var = _parameters(mean, log_var)
    return mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))


def reparam_in_numpy(mean, log_var, seed):
    mean, log_var = (np.asarray(a, np.float32) for a in (mean, log_var))
    if mean.shape != log_var.shape:
        raise ValueError("same shapes")
    return mean + np.exp(0.5 * log_var) * np.random.default_rng(seed).standard_normal(mean.shape)


def reparam_variance_not_square_rooted(mean, log_var, seed):
    mean, log_var = _parameters(mean, log_var)
    return mean + tf.exp(log_var) ** 1.0 * tf.random.stateless_normal(tf.shape(mean), seed=(seed, 1))


# ------------------------------------------------------------------------- kl_divergence
def _kl_terms(mean, log_var):
    mean, log_var = _parameters(mean, log_var)
    if mean.shape.rank != 2:
        raise ValueError("(N, latent_dim)")
    return mean, log_var


def kl_sign_flipped(mean, log_var):
    mean, log_var = _kl_terms(mean, log_var)
    return 0.5 * tf.reduce_sum(1.0 + log_var - mean**2 - tf.exp(log_var), axis=1)


def kl_averaged_over_latent(mean, log_var):
    mean, log_var = _kl_terms(mean, log_var)
    return -0.5 * tf.reduce_mean(1.0 + log_var - mean**2 - tf.exp(log_var), axis=1)


def kl_without_the_one(mean, log_var):
    mean, log_var = _kl_terms(mean, log_var)
    return -0.5 * tf.reduce_sum(log_var - mean**2 - tf.exp(log_var), axis=1)


def kl_log_var_as_log_sigma(mean, log_var):
    mean, log_var = _kl_terms(mean, log_var)
    return -0.5 * tf.reduce_sum(1.0 + 2 * log_var - mean**2 - tf.exp(2 * log_var), axis=1)


# ------------------------------------------------------------------------------ vae_loss
def kl_divergence(mean, log_var):  # correct: the vae_loss versions below call it
    mean, log_var = _kl_terms(mean, log_var)
    return -0.5 * tf.reduce_sum(1.0 + log_var - mean**2 - tf.exp(log_var), axis=1)


def _cross_entropy(x, x_reconstructed, mean):
    x = tf.convert_to_tensor(x, tf.float32)
    x_reconstructed = tf.convert_to_tensor(x_reconstructed, tf.float32)
    if x.shape != x_reconstructed.shape or x.shape[0] != mean.shape[0]:
        raise ValueError("shapes")
    p = tf.clip_by_value(x_reconstructed, 1e-7, 1 - 1e-7)
    return tf.reshape(-(x * tf.math.log(p) + (1 - x) * tf.math.log(1 - p)), (x.shape[0], -1))


def vae_reconstruction_averaged(x, x_reconstructed, mean, log_var):
    cross = _cross_entropy(x, x_reconstructed, mean)
    return tf.reduce_mean(tf.reduce_mean(cross, axis=1) + kl_divergence(mean, log_var))


def vae_without_kl(x, x_reconstructed, mean, log_var):
    return tf.reduce_mean(tf.reduce_sum(_cross_entropy(x, x_reconstructed, mean), axis=1))


def vae_batch_summed(x, x_reconstructed, mean, log_var):
    cross = _cross_entropy(x, x_reconstructed, mean)
    return tf.reduce_sum(tf.reduce_sum(cross, axis=1) + kl_divergence(mean, log_var))


def vae_not_clipped(x, x_reconstructed, mean, log_var):
    x = tf.convert_to_tensor(x, tf.float32)
    p = tf.convert_to_tensor(x_reconstructed, tf.float32)
    if x.shape != p.shape or x.shape[0] != mean.shape[0]:
        raise ValueError("shapes")
    cross = tf.reshape(-(x * tf.math.log(p) + (1 - x) * tf.math.log(1 - p)), (x.shape[0], -1))
    return tf.reduce_mean(tf.reduce_sum(cross, axis=1) + kl_divergence(mean, log_var))


# ---------------------------------------------------------------- discriminator_loss
_BCE = keras.losses.BinaryCrossentropy(from_logits=True)


def d_loss_labels_swapped(real_logits, fake_logits):
    real_logits = tf.convert_to_tensor(real_logits, tf.float32)
    fake_logits = tf.convert_to_tensor(fake_logits, tf.float32)
    return _BCE(tf.zeros_like(real_logits), real_logits) + _BCE(tf.ones_like(fake_logits), fake_logits)


def d_loss_logits_as_probabilities(real_logits, fake_logits):
    bce = keras.losses.BinaryCrossentropy()
    real_logits = tf.convert_to_tensor(real_logits, tf.float32)
    fake_logits = tf.convert_to_tensor(fake_logits, tf.float32)
    return bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)


def d_loss_averaged(real_logits, fake_logits):
    real_logits = tf.convert_to_tensor(real_logits, tf.float32)
    fake_logits = tf.convert_to_tensor(fake_logits, tf.float32)
    return 0.5 * (_BCE(tf.ones_like(real_logits), real_logits) + _BCE(tf.zeros_like(fake_logits), fake_logits))


def d_loss_one_batch(real_logits, fake_logits):
    """Right labels, but one mean over real and fake together (wrong when the sizes differ)."""
    logits = tf.concat([tf.reshape(real_logits, (-1,)), tf.reshape(fake_logits, (-1,))], 0)
    labels = tf.concat([tf.ones(tf.size(real_logits)), tf.zeros(tf.size(fake_logits))], 0)
    return 2.0 * _BCE(labels, logits)


def d_loss_naive_log_sigmoid(real_logits, fake_logits):
    real = tf.sigmoid(tf.convert_to_tensor(real_logits, tf.float32))
    fake = tf.sigmoid(tf.convert_to_tensor(fake_logits, tf.float32))
    return -tf.reduce_mean(tf.math.log(real)) - tf.reduce_mean(tf.math.log(1 - fake))


# -------------------------------------------------------------------- generator_loss
def g_loss_saturating(fake_logits):
    fake_logits = tf.convert_to_tensor(fake_logits, tf.float32)
    return -_BCE(tf.zeros_like(fake_logits), fake_logits)


def g_loss_labels_zero(fake_logits):
    fake_logits = tf.convert_to_tensor(fake_logits, tf.float32)
    return _BCE(tf.zeros_like(fake_logits), fake_logits)


def g_loss_logits_as_probabilities(fake_logits):
    fake_logits = tf.convert_to_tensor(fake_logits, tf.float32)
    return keras.losses.BinaryCrossentropy()(tf.ones_like(fake_logits), fake_logits)


# --------------------------------------------------------------- discriminator_step
def _d_loss(generator, discriminator, real_images, noise):
    real_logits = discriminator(real_images, training=True)
    fake_logits = discriminator(generator(noise, training=True), training=True)
    return _BCE(tf.ones_like(real_logits), real_logits) + _BCE(tf.zeros_like(fake_logits), fake_logits)


def _g_loss(generator, discriminator, noise):
    fake_logits = discriminator(generator(noise, training=True), training=True)
    return _BCE(tf.ones_like(fake_logits), fake_logits)


def _step(loss_fn, variables, optimizer, loss_after=None):
    with tf.GradientTape() as tape:
        loss = loss_fn()
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
    return float(loss_after() if loss_after else loss)


def _check_batches(*batches):
    if any(len(batch) == 0 for batch in batches):
        raise ValueError("empty batch")


def d_step_moves_generator_too(generator, discriminator, real_images, noise, optimizer):
    _check_batches(real_images, noise)
    variables = discriminator.trainable_variables + generator.trainable_variables
    return _step(lambda: _d_loss(generator, discriminator, real_images, noise), variables, optimizer)


def d_step_labels_swapped(generator, discriminator, real_images, noise, optimizer):
    _check_batches(real_images, noise)

    def loss():
        real_logits = discriminator(real_images, training=True)
        fake_logits = discriminator(generator(noise, training=True), training=True)
        return _BCE(tf.zeros_like(real_logits), real_logits) + _BCE(tf.ones_like(fake_logits), fake_logits)

    return _step(loss, discriminator.trainable_variables, optimizer)


def d_step_returns_loss_after(generator, discriminator, real_images, noise, optimizer):
    _check_batches(real_images, noise)
    return _step(lambda: _d_loss(generator, discriminator, real_images, noise),
                 discriminator.trainable_variables, optimizer,
                 loss_after=lambda: _d_loss(generator, discriminator, real_images, noise))


def d_step_gradient_ascent(generator, discriminator, real_images, noise, optimizer):
    _check_batches(real_images, noise)
    return _step(lambda: -_d_loss(generator, discriminator, real_images, noise),
                 discriminator.trainable_variables, optimizer)


# ------------------------------------------------------------------- generator_step
def g_step_moves_discriminator_too(generator, discriminator, noise, optimizer):
    _check_batches(noise)
    variables = generator.trainable_variables + discriminator.trainable_variables
    return _step(lambda: _g_loss(generator, discriminator, noise), variables, optimizer)


def g_step_saturating(generator, discriminator, noise, optimizer):
    _check_batches(noise)

    def loss():
        fake_logits = discriminator(generator(noise, training=True), training=True)
        return -_BCE(tf.zeros_like(fake_logits), fake_logits)

    return _step(loss, generator.trainable_variables, optimizer)


def g_step_with_discriminator_loss(generator, discriminator, noise, optimizer):
    _check_batches(noise)

    def loss():
        fake_logits = discriminator(generator(noise, training=True), training=True)
        return _BCE(tf.zeros_like(fake_logits), fake_logits)

    return _step(loss, generator.trainable_variables, optimizer)


def g_step_returns_loss_after(generator, discriminator, noise, optimizer):
    _check_batches(noise)
    return _step(lambda: _g_loss(generator, discriminator, noise), generator.trainable_variables,
                 optimizer, loss_after=lambda: _g_loss(generator, discriminator, noise))


# -------------------------------------------------------------------- masked_kernel
def _mask(shape, mask_type, keep):
    if len(shape) != 4 or shape[0] % 2 == 0 or shape[1] % 2 == 0 or mask_type not in ("A", "B"):
        raise ValueError("odd (k_h, k_w, in, out) and 'A' or 'B'")
    row, column = np.indices(shape[:2])
    mask = keep(row, column, shape[0] // 2, shape[1] // 2, mask_type == "B")
    return np.broadcast_to(mask[:, :, None, None], tuple(shape)).astype(np.float32)


def mask_types_swapped(shape, mask_type):
    return _mask(shape, mask_type, lambda r, c, cr, cc, b: (r < cr) | ((r == cr) & ((c < cc) | ((c == cc) & ~b))))


def mask_centre_row_open(shape, mask_type):
    return _mask(shape, mask_type, lambda r, c, cr, cc, b: (r < cr) | ((r == cr) & ((c != cc) | b)))


def mask_rows_below_open(shape, mask_type):
    return _mask(shape, mask_type, lambda r, c, cr, cc, b: (r != cr) | (c < cc) | ((c == cc) & b))


def mask_transposed(shape, mask_type):
    return _mask(shape, mask_type, lambda r, c, cr, cc, b: (c < cc) | ((c == cc) & ((r < cr) | ((r == cr) & b))))


WRONG_IMPLEMENTATIONS = {
    "reparameterize": [reparam_log_var_as_log_sigma, reparam_unseeded, reparam_in_numpy,
                       reparam_variance_not_square_rooted],
    "kl_divergence": [kl_sign_flipped, kl_averaged_over_latent, kl_without_the_one, kl_log_var_as_log_sigma],
    "vae_loss": [vae_reconstruction_averaged, vae_without_kl, vae_batch_summed, vae_not_clipped],
    "discriminator_loss": [d_loss_labels_swapped, d_loss_logits_as_probabilities, d_loss_averaged,
                           d_loss_one_batch, d_loss_naive_log_sigmoid],
    "generator_loss": [g_loss_saturating, g_loss_labels_zero, g_loss_logits_as_probabilities],
    "discriminator_step": [d_step_moves_generator_too, d_step_labels_swapped, d_step_returns_loss_after,
                           d_step_gradient_ascent],
    "generator_step": [g_step_moves_discriminator_too, g_step_saturating, g_step_with_discriminator_loss,
                       g_step_returns_loss_after],
    "masked_kernel": [mask_types_swapped, mask_centre_row_open, mask_rows_below_open, mask_transposed],
}
