"""Deliberately wrong implementations for the chapter "Images from a trained network:
textures, style and colour".

Each is a classic mistake: a Gram matrix from a reshape that mixes channels and positions,
normalised by H W C or not at all, or computed in numpy (no gradient); a style loss that
sums instead of averaging or ignores the layers' weights; total variation squared, on one
axis, or averaged; a gradient step that goes up, forgets to clip or returns the loss after
the step; Lab without the sRGB linearisation, from 0-255 input without complaint, with the
cube root everywhere or without the white point; a soft encoding not normalised, on the
distance instead of its square, or one-hot; class weights not renormalised, normalised to
sum 1, or with the mix on the wrong term; an annealed mean that multiplies by T, computes
z ** (1 / T) naively, or always takes the mode; window distances not normalised, normalised
by all the Gaussian's weights, ignoring the mask, or looping over positions.
``tests/test_chapter_contracts.py`` checks that every one scores < 1.0 on the hidden checks,
or is refused outright.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


# ------------------------------------------------------------------------- gram_matrix
def _features(features):
    features = tf.convert_to_tensor(features)
    if features.shape.rank != 4 or features.shape[1] * features.shape[2] == 0:
        raise ValueError("features must be (N, H, W, C) with at least one position")
    return features


def gram_matrix(features):  # correct: style_loss's wrong versions below call it
    features = _features(features)
    _, h, w, c = features.shape
    flat = tf.reshape(features, (-1, h * w, c))
    return tf.matmul(flat, flat, transpose_a=True) / (h * w)


def gram_reshape_mixes_channels(features):
    features = _features(features)
    _, h, w, c = features.shape
    flat = tf.reshape(features, (-1, c, h * w))  # same shape as the transpose, wrong values
    return tf.matmul(flat, flat, transpose_b=True) / (h * w)


def gram_divided_by_hwc(features):
    features = _features(features)
    _, h, w, c = features.shape
    return tf.einsum("nijc,nijd->ncd", features, features) / (h * w * c)


def gram_not_normalised(features):
    features = _features(features)
    return tf.einsum("nijc,nijd->ncd", features, features)


def gram_in_numpy(features):
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 4 or features.shape[1] * features.shape[2] == 0:
        raise ValueError("features must be (N, H, W, C)")
    n, h, w, c = features.shape
    flat = features.reshape(n, h * w, c)
    return flat.transpose(0, 2, 1) @ flat / (h * w)


# -------------------------------------------------------------------------- style_loss
def _style_terms(features_list, target_grams, weights):
    if not len(features_list) == len(target_grams) == len(weights):
        raise ValueError("one target and one weight per layer")
    terms = []
    for features, target in zip(features_list, target_grams, strict=True):
        gram = gram_matrix(features)
        target = tf.convert_to_tensor(target, gram.dtype)
        if target.shape != gram.shape:
            raise ValueError("target shape")
        terms.append(gram - target)
    return terms


def style_summed(features_list, target_grams, weights):
    terms = _style_terms(features_list, target_grams, weights)
    return sum(w * tf.reduce_sum(tf.square(t)) for w, t in zip(weights, terms, strict=True))


def style_weights_ignored(features_list, target_grams, weights):
    terms = _style_terms(features_list, target_grams, weights)
    return sum(tf.reduce_mean(tf.square(t)) for t in terms)


def style_layers_averaged(features_list, target_grams, weights):
    terms = _style_terms(features_list, target_grams, weights)
    return sum(w * tf.reduce_mean(tf.square(t)) for w, t in zip(weights, terms, strict=True)) / len(terms)


def style_no_checks(features_list, target_grams, weights):
    total = 0.0
    for features, target, weight in zip(features_list, target_grams, weights, strict=False):
        total += weight * tf.reduce_mean(tf.square(gram_matrix(features) - target))
    return total


# --------------------------------------------------------------------- total_variation
def _images(images):
    images = tf.convert_to_tensor(images)
    if images.shape.rank not in (3, 4):
        raise ValueError("images must be (H, W, C) or (N, H, W, C)")
    return images


def _differences(images):
    return images[..., 1:, :, :] - images[..., :-1, :, :], images[..., :, 1:, :] - images[..., :, :-1, :]


def tv_squared(images):
    dh, dw = _differences(_images(images))
    return tf.reduce_sum(dh**2, axis=(-3, -2, -1)) + tf.reduce_sum(dw**2, axis=(-3, -2, -1))


def tv_rows_only(images):
    dh, _ = _differences(_images(images))
    return tf.reduce_sum(tf.abs(dh), axis=(-3, -2, -1))


def tv_averaged(images):
    dh, dw = _differences(_images(images))
    return tf.reduce_mean(tf.abs(dh), axis=(-3, -2, -1)) + tf.reduce_mean(tf.abs(dw), axis=(-3, -2, -1))


def tv_in_numpy(images):
    images = np.asarray(images, dtype=np.float32)
    if images.ndim not in (3, 4):
        raise ValueError("images must be (H, W, C) or (N, H, W, C)")
    axes = (-3, -2, -1)
    return (np.abs(np.diff(images, axis=-3)).sum(axis=axes) + np.abs(np.diff(images, axis=-2)).sum(axis=axes))


def tv_whole_batch(images):
    dh, dw = _differences(_images(images))
    return tf.reduce_sum(tf.abs(dh)) + tf.reduce_sum(tf.abs(dw))


# ----------------------------------------------------------------------- gradient_step
def _step(image, loss_fn, learning_rate, sign=-1.0, clip=True, loss_after=False):
    image = np.asarray(image, dtype=np.float32)
    if learning_rate <= 0 or image.min() < 0 or image.max() > 1:
        raise ValueError("learning_rate > 0 and an image in [0, 1]")
    x = tf.convert_to_tensor(image)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = loss_fn(x)
    new = image + sign * learning_rate * tape.gradient(loss, x).numpy()
    if clip:
        new = np.clip(new, 0, 1)
    if loss_after:
        loss = loss_fn(tf.convert_to_tensor(new))
    return new, float(loss)


def step_goes_up(image, loss_fn, learning_rate):
    return _step(image, loss_fn, learning_rate, sign=1.0)


def step_not_clipped(image, loss_fn, learning_rate):
    return _step(image, loss_fn, learning_rate, clip=False)


def step_returns_loss_after(image, loss_fn, learning_rate):
    return _step(image, loss_fn, learning_rate, loss_after=True)


def step_sign_of_gradient(image, loss_fn, learning_rate):
    image = np.asarray(image, dtype=np.float32)
    if learning_rate <= 0 or image.min() < 0 or image.max() > 1:
        raise ValueError("learning_rate > 0 and an image in [0, 1]")
    x = tf.convert_to_tensor(image)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = loss_fn(x)
    return np.clip(image - learning_rate * np.sign(tape.gradient(loss, x).numpy()), 0, 1), float(loss)


# -------------------------------------------------------------------------- rgb_to_lab
def _rgb(rgb, check_range=True):
    rgb = np.asarray(rgb)
    if rgb.ndim == 0 or rgb.shape[-1] != 3:
        raise ValueError("(..., 3)")
    if check_range and (not np.issubdtype(rgb.dtype, np.floating) or rgb.min() < 0 or rgb.max() > 1):
        raise ValueError("floats in [0, 1]")
    return rgb.astype(np.float64)


def _lab(linear, white=WHITE_D65, cube_root_everywhere=False):
    xyz = linear @ XYZ_FROM_RGB.T / white
    f = np.cbrt(xyz) if cube_root_everywhere else np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def _linear(rgb):
    return np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def lab_without_linearisation(rgb):
    return _lab(_rgb(rgb))


def lab_accepts_0_255(rgb):
    rgb = _rgb(rgb, check_range=False)  # 0-255 input is used as if it were in [0, 1]
    return _lab(_linear(rgb))


def lab_cube_root_everywhere(rgb):
    return _lab(_linear(_rgb(rgb)), cube_root_everywhere=True)


def lab_no_white_point(rgb):
    return _lab(_linear(_rgb(rgb)), white=np.ones(3))


def lab_with_skimage(rgb):
    from skimage import color

    return color.rgb2lab(_rgb(rgb))


# ------------------------------------------------------------------------- soft_encode
def _squared_distances(ab, bins, sigma, neighbours):
    ab = np.asarray(ab, dtype=np.float64)
    bins = np.asarray(bins, dtype=np.float64)
    if ab.shape[-1] != 2 or bins.ndim != 2 or bins.shape[1] != 2 or not 1 <= neighbours <= len(bins) or sigma <= 0:
        raise ValueError("bad arguments")
    return ((ab[..., None, :] - bins) ** 2).sum(-1)


def _soft(ab, bins, sigma, neighbours, weight):
    squared = _squared_distances(ab, bins, sigma, neighbours)
    nearest = np.argsort(squared, axis=-1, kind="stable")[..., :neighbours]
    weights = weight(np.take_along_axis(squared, nearest, -1))
    out = np.zeros(squared.shape)
    np.put_along_axis(out, nearest, weights, -1)
    return out


def soft_not_normalised(ab, bins, sigma=5.0, neighbours=5):
    return _soft(ab, bins, sigma, neighbours, lambda d2: np.exp(-d2 / (2 * sigma**2)))


def soft_on_distance(ab, bins, sigma=5.0, neighbours=5):
    def weight(d2):
        w = np.exp(-np.sqrt(d2) / (2 * sigma**2))
        return w / w.sum(-1, keepdims=True)

    return _soft(ab, bins, sigma, neighbours, weight)


def soft_one_hot(ab, bins, sigma=5.0, neighbours=5):
    return _soft(ab, bins, sigma, neighbours, lambda d2: (np.arange(d2.shape[-1]) == 0) * 1.0)


def soft_argpartition(ab, bins, sigma=5.0, neighbours=5):
    """Right weights, but ties among equally distant bins broken by np.argpartition's order."""
    squared = _squared_distances(ab, bins, sigma, neighbours)
    nearest = np.argpartition(-squared, -neighbours, axis=-1)[..., -neighbours:]
    d2 = np.take_along_axis(squared, nearest, -1)
    w = np.exp(-(d2 - d2.min(-1, keepdims=True)) / (2 * sigma**2))
    out = np.zeros(squared.shape)
    np.put_along_axis(out, nearest, w / w.sum(-1, keepdims=True), -1)
    return out


# ----------------------------------------------------------------- rebalancing_weights
def _prior(prior, mix):
    prior = np.asarray(prior, dtype=np.float64)
    if prior.ndim != 1 or prior.min() < 0 or abs(prior.sum() - 1) > 1e-6 or not 0 < mix <= 1:
        raise ValueError("a 1-D prior summing to 1 and mix in (0, 1]")
    return prior


def weights_not_renormalised(prior, mix=0.5):
    prior = _prior(prior, mix)
    return 1 / ((1 - mix) * prior + mix / prior.size)


def weights_sum_to_one(prior, mix=0.5):
    prior = _prior(prior, mix)
    weights = 1 / ((1 - mix) * prior + mix / prior.size)
    return weights / weights.sum()


def weights_mix_swapped(prior, mix=0.5):
    prior = _prior(prior, mix)
    weights = 1 / (mix * prior + (1 - mix) / prior.size)
    return weights / (prior * weights).sum()


def weights_not_inverted(prior, mix=0.5):
    prior = _prior(prior, mix)
    weights = (1 - mix) * prior + mix / prior.size
    return weights / (prior * weights).sum()


# ----------------------------------------------------------------------- annealed_mean
def _anneal_args(probabilities, bins, temperature):
    z = np.asarray(probabilities, dtype=np.float64)
    bins = np.asarray(bins, dtype=np.float64)
    if z.shape[-1] != len(bins) or z.min() < 0 or temperature <= 0:
        raise ValueError("bad arguments")
    return z, bins


def anneal_multiplies(probabilities, bins, temperature):
    z, bins = _anneal_args(probabilities, bins, temperature)
    weights = z**temperature
    return weights / weights.sum(-1, keepdims=True) @ bins


def anneal_naive_power(probabilities, bins, temperature):
    z, bins = _anneal_args(probabilities, bins, temperature)
    weights = z ** (1 / temperature)
    return weights / weights.sum(-1, keepdims=True) @ bins


def anneal_always_mode(probabilities, bins, temperature):
    z, bins = _anneal_args(probabilities, bins, temperature)
    return bins[np.argmax(z, axis=-1)]


def anneal_not_renormalised(probabilities, bins, temperature):
    z, bins = _anneal_args(probabilities, bins, temperature)
    return z ** (1 / temperature) @ bins


# -------------------------------------------------------------------- window_distances
def _window_args(sample, window, mask, sigma):
    sample = np.asarray(sample, dtype=np.float64)
    window = np.asarray(window, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    k = window.shape[0] if window.ndim == 3 else 0
    if (sample.ndim != 3 or window.ndim != 3 or window.shape[1] != k or k % 2 == 0
            or window.shape[2] != sample.shape[2] or k > min(sample.shape[:2])
            or mask.shape != (k, k) or not mask.any() or sigma <= 0):
        raise ValueError("bad arguments")
    offsets = np.arange(k) - k // 2
    gauss = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    patches = np.lib.stride_tricks.sliding_window_view(sample, (k, k), axis=(0, 1))
    return (patches - window.transpose(2, 0, 1)) ** 2, gauss, mask


def window_not_normalised(sample, window, mask, sigma):
    squared, gauss, mask = _window_args(sample, window, mask, sigma)
    return np.einsum("yxcij,ij->yx", squared, gauss * mask)


def window_normalised_by_all_weights(sample, window, mask, sigma):
    squared, gauss, mask = _window_args(sample, window, mask, sigma)
    return np.einsum("yxcij,ij->yx", squared, gauss * mask) / gauss.sum()


def window_mask_ignored(sample, window, mask, sigma):
    squared, gauss, _ = _window_args(sample, window, mask, sigma)
    return np.einsum("yxcij,ij->yx", squared, gauss) / gauss.sum()


def window_loops_over_positions(sample, window, mask, sigma):
    squared, gauss, mask = _window_args(sample, window, mask, sigma)
    weights = gauss * mask
    out = np.zeros(squared.shape[:2])
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = (squared[y, x] * weights).sum() / weights.sum()
    return out


WRONG_IMPLEMENTATIONS = {
    "gram_matrix": [gram_reshape_mixes_channels, gram_divided_by_hwc, gram_not_normalised, gram_in_numpy],
    "style_loss": [style_summed, style_weights_ignored, style_layers_averaged, style_no_checks],
    "total_variation": [tv_squared, tv_rows_only, tv_averaged, tv_in_numpy, tv_whole_batch],
    "gradient_step": [step_goes_up, step_not_clipped, step_returns_loss_after, step_sign_of_gradient],
    "rgb_to_lab": [lab_without_linearisation, lab_accepts_0_255, lab_cube_root_everywhere,
                   lab_no_white_point, lab_with_skimage],
    "soft_encode": [soft_not_normalised, soft_on_distance, soft_one_hot, soft_argpartition],
    "rebalancing_weights": [weights_not_renormalised, weights_sum_to_one, weights_mix_swapped,
                            weights_not_inverted],
    "annealed_mean": [anneal_multiplies, anneal_naive_power, anneal_always_mode, anneal_not_renormalised],
    "window_distances": [window_not_normalised, window_normalised_by_all_weights, window_mask_ignored,
                         window_loops_over_positions],
}
