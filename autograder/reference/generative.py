"""Reference implementations for the chapter "Generative models".

TensorFlow ops and Keras losses, written from the definitions the exercises state:

* reparameterisation: z = mean + exp(log_var / 2) * eps, eps ~ N(0, I) (log_var: log of the
  variance);
* KL(N(mean, exp(log_var)) || N(0, I)) per example: -1/2 sum_j (1 + log_var - mean^2 - exp(log_var));
* VAE loss: mean over the batch of (binary cross-entropy summed over every axis but the first,
  predictions clipped to [1e-7, 1 - 1e-7] like Keras) + KL;
* GAN losses on logits (``keras.losses.BinaryCrossentropy(from_logits=True)``): the
  discriminator's BCE(1, real) + BCE(0, fake), each averaged over its own batch; the
  non-saturating generator loss BCE(1, fake);
* one discriminator (generator) step: the gradient of its loss with respect to the
  discriminator's (generator's) trainable variables only, applied by the optimizer given;
* PixelCNN masks: a k_h x k_w kernel keeps the rows above the centre and, on the centre row, the
  columns left of the centre, plus the centre itself for type "B".
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7  # keras.config.epsilon(): how Keras clips probabilities in cross-entropies


def _tf():
    import tensorflow as tf

    return tf


def _bce(labels_are_ones: bool, logits):
    import keras

    tf = _tf()
    logits = tf.convert_to_tensor(logits, tf.float32)
    labels = tf.ones_like(logits) if labels_are_ones else tf.zeros_like(logits)
    return keras.losses.BinaryCrossentropy(from_logits=True)(labels, logits)


def kl_divergence(mean, log_var):
    tf = _tf()
    mean = tf.convert_to_tensor(mean, tf.float32)
    log_var = tf.convert_to_tensor(log_var, tf.float32)
    terms = 1.0 + log_var - tf.square(mean) - tf.exp(log_var)
    return -0.5 * tf.reduce_sum(tf.reshape(terms, (tf.shape(terms)[0], -1)), axis=1)


def reconstruction_loss(x, x_reconstructed):
    """Binary cross-entropy summed over every axis but the first: (N,)."""
    tf = _tf()
    x = tf.convert_to_tensor(x, tf.float32)
    p = tf.clip_by_value(tf.convert_to_tensor(x_reconstructed, tf.float32), EPSILON, 1.0 - EPSILON)
    cross = -(x * tf.math.log(p) + (1.0 - x) * tf.math.log(1.0 - p))
    return tf.reduce_sum(tf.reshape(cross, (tf.shape(cross)[0], -1)), axis=1)


def vae_loss(x, x_reconstructed, mean, log_var):
    tf = _tf()
    return tf.reduce_mean(reconstruction_loss(x, x_reconstructed) + kl_divergence(mean, log_var))


def discriminator_loss(real_logits, fake_logits):
    return _bce(True, real_logits) + _bce(False, fake_logits)


def generator_loss(fake_logits):
    return _bce(True, fake_logits)


def discriminator_step(generator, discriminator, real_images, noise, optimizer) -> float:
    tf = _tf()
    with tf.GradientTape() as tape:
        fake = generator(noise, training=True)
        loss = discriminator_loss(discriminator(real_images, training=True),
                                  discriminator(fake, training=True))
    variables = discriminator.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
    return float(loss)


def generator_step(generator, discriminator, noise, optimizer) -> float:
    tf = _tf()
    with tf.GradientTape() as tape:
        loss = generator_loss(discriminator(generator(noise, training=True), training=True))
    variables = generator.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
    return float(loss)


def masked_kernel(shape, mask_type: str) -> np.ndarray:
    """0/1 float32 mask of ``shape`` = (k_h, k_w, in_channels, out_channels)."""
    k_h, k_w = shape[:2]
    row, column = np.indices((k_h, k_w))
    centre_row, centre_column = k_h // 2, k_w // 2
    keep = (row < centre_row) | ((row == centre_row) & (column < centre_column))
    if mask_type == "B":
        keep |= (row == centre_row) & (column == centre_column)
    return np.broadcast_to(keep[:, :, None, None], tuple(shape)).astype(np.float32)
