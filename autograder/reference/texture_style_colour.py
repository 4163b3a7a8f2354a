"""Reference implementations for the chapter "Images from a trained network: textures,
style and colour".

TensorFlow ops (and scikit-image for the colour space), written from the definitions
the exercises state:

* Gram matrix of features F (N, H, W, C): G[n, c, d] = sum_ij F[n,i,j,c] F[n,i,j,d] / (H W);
* style loss: sum over layers of w_l * mean over (n, c, d) of (G(F_l) - A_l)^2;
* total variation: ``tf.image.total_variation`` (L1, summed over pixels and channels);
* one gradient step on an image: x <- clip(x - lr * d loss / dx, 0, 1);
* Lab: ``skimage.color.rgb2lab`` (sRGB, D65, 2 degree observer);
* soft encoding: the ``k`` nearest ab bins (ties: lower index first), Gaussian weights
  exp(-d^2 / (2 sigma^2)) normalised to sum 1 (computed relative to the nearest bin, which
  changes nothing but keeps far colours from underflowing to 0 / 0);
* class rebalancing: w ~ 1 / ((1 - mix) p + mix / Q), scaled so that sum_q p_q w_q = 1;
* annealed mean: softmax(log z / T) @ bins;
* Efros-Leung: Gaussian-weighted SSD over the known pixels of the window, divided by the
  sum of the weights of the known pixels, at every position of the window in the sample.
"""

from __future__ import annotations

import numpy as np


def _tf():
    import tensorflow as tf

    return tf


def gram_matrix(features):
    """(N, H, W, C) -> (N, C, C), divided by the number of positions H W."""
    tf = _tf()
    features = tf.convert_to_tensor(features)
    positions = tf.cast(tf.shape(features)[1] * tf.shape(features)[2], features.dtype)
    return tf.einsum("nijc,nijd->ncd", features, features) / positions


def style_loss(features_list, target_grams, weights):
    """sum_l w_l mean((G(F_l) - A_l)^2)."""
    tf = _tf()
    total = 0.0
    for features, target, weight in zip(features_list, target_grams, weights, strict=True):
        difference = gram_matrix(features) - tf.convert_to_tensor(target, features.dtype)
        total += weight * tf.reduce_mean(tf.square(difference))
    return total


def total_variation(images):
    """tf.image.total_variation: (N,) for (N, H, W, C), a scalar for (H, W, C)."""
    tf = _tf()
    return tf.image.total_variation(tf.convert_to_tensor(images))


def gradient_step(image, loss_fn, learning_rate):
    """(clip(x - lr * grad, 0, 1), loss(x)) with the gradient from tf.GradientTape."""
    tf = _tf()
    x = tf.convert_to_tensor(np.asarray(image, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = loss_fn(x)
    gradient = tape.gradient(loss, x)
    stepped = tf.clip_by_value(x - learning_rate * gradient, 0.0, 1.0)
    return stepped.numpy(), float(loss)


def step_loss(kind: str, target, kernel, bias, x):
    """The losses the gradient-step exercise minimises, as a function of the image ``x``
    (a float32 tensor, (H, W, C) or (N, H, W, C)): "quadratic" mean((x - target)^2), "tv" the
    total variation, "push" -sum(x * sign(target - 0.5)), "style" the mean squared difference
    of Gram matrices of ReLU(conv(x, kernel) + bias) and of the same features of ``target``.
    The checks bind every argument but ``x`` (``functools.partial``), so the same function
    runs in the grader and, sent by name, in a graded kernel."""
    tf = _tf()
    target = tf.constant(target)
    if kind == "quadratic":
        return tf.reduce_mean(tf.square(x - target))
    if kind == "tv":
        return tf.reduce_sum(tf.image.total_variation(x))
    if kind == "push":
        return -tf.reduce_sum(x * tf.sign(target - 0.5))

    def features(images):
        images = images if len(images.shape) == 4 else images[None]
        return tf.nn.relu(tf.nn.conv2d(images, tf.constant(kernel), 1, "SAME") + tf.constant(bias))

    return tf.reduce_mean(tf.square(gram_matrix(features(x)) - gram_matrix(features(target))))


def rgb_to_lab(rgb) -> np.ndarray:
    """scikit-image's sRGB (D65) -> CIELAB, float64."""
    from skimage import color

    return color.rgb2lab(np.asarray(rgb, dtype=np.float64))


def soft_encode(ab, bins, sigma: float = 5.0, neighbours: int = 5) -> np.ndarray:
    """(..., 2) -> (..., Q): Gaussian weights on the ``neighbours`` nearest bins, sum 1."""
    tf = _tf()
    ab = tf.convert_to_tensor(np.asarray(ab, dtype=np.float64))
    bins = tf.convert_to_tensor(np.asarray(bins, dtype=np.float64))
    squared = tf.reduce_sum(tf.square(ab[..., None, :] - bins), axis=-1)  # (..., Q)
    nearest_negative, indices = tf.math.top_k(-squared, k=neighbours)  # ties: lower index first
    weights = tf.exp((nearest_negative - nearest_negative[..., :1]) / (2.0 * sigma**2))
    weights = weights / tf.reduce_sum(weights, axis=-1, keepdims=True)
    encoded = tf.reduce_sum(tf.one_hot(indices, bins.shape[0], dtype=tf.float64)
                            * weights[..., None], axis=-2)
    return encoded.numpy()


def rebalancing_weights(prior, mix: float = 0.5) -> np.ndarray:
    """w_q ~ 1 / ((1 - mix) p_q + mix / Q), normalised so that sum_q p_q w_q = 1."""
    tf = _tf()
    prior = tf.convert_to_tensor(np.asarray(prior, dtype=np.float64))
    n_bins = tf.cast(tf.size(prior), tf.float64)
    weights = 1.0 / ((1.0 - mix) * prior + mix / n_bins)
    return (weights / tf.reduce_sum(prior * weights)).numpy()


def annealed_mean(probabilities, bins, temperature: float) -> np.ndarray:
    """softmax(log z / T) @ bins: (..., Q) -> (..., 2)."""
    tf = _tf()
    z = tf.convert_to_tensor(np.asarray(probabilities, dtype=np.float64))
    annealed = tf.nn.softmax(tf.math.log(z) / temperature, axis=-1)
    return (annealed @ tf.convert_to_tensor(np.asarray(bins, dtype=np.float64))).numpy()


def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """exp(-(di^2 + dj^2) / (2 sigma^2)) on a size x size grid centred on the middle pixel."""
    offsets = np.arange(size) - size // 2
    return np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2.0 * sigma**2))


def window_distances(sample, window, mask, sigma: float) -> np.ndarray:
    """Normalised Gaussian-weighted masked SSD of ``window`` at every position in ``sample``.

    With K = G * mask: sum K (S - T)^2 = conv(S^2, K) - 2 conv(S, K T) + sum K T^2, each a
    ``tf.nn.conv2d`` (a correlation, VALID padding) summed over the channels.
    """
    tf = _tf()
    sample = np.asarray(sample, dtype=np.float64)
    window = np.asarray(window, dtype=np.float64)
    size = window.shape[0]
    kernel = gaussian_window(size, sigma) * np.asarray(mask, dtype=np.float64)
    channels = sample.shape[-1]

    def correlate(image, weights):
        weights = np.broadcast_to(weights, (size, size, channels))[..., None]  # (k, k, C, 1)
        return tf.nn.conv2d(image[None], weights, strides=1, padding="VALID")[0, ..., 0]

    squares = correlate(sample**2, kernel[..., None])
    cross = correlate(sample, kernel[..., None] * window)
    constant = float(np.sum(kernel[..., None] * window**2))
    distances = squares - 2.0 * cross + constant
    return (tf.maximum(distances, 0.0) / kernel.sum()).numpy()
