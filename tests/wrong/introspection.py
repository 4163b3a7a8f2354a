"""Deliberately wrong implementations for the chapter "What a CNN sees" (introspection).

Each is a mistake students make: the gradient of the softmax or of the loss
instead of the logit, |.| forgotten, the wrong reduction, a transposed or
sign-flipped occlusion map, patches that overhang the border, a ReLU or bias
in CAM, Grad-CAM with max instead of mean or ReLU before the sum or a NaN from
an unguarded division, integrated gradients without the (x - baseline) factor
or with the left rule, LIME without its kernel or intercept, and fooling images
that are unbounded, untargeted, step the wrong way or ignore the step budget.
``tests/test_chapter_contracts.py`` checks that every one loses points.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


# ---------------------------------------------------------------- saliency_map
def _input_gradients(model, images, class_index, output="logit"):
    x = tf.convert_to_tensor(np.asarray(images, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        if output == "softmax":
            score = tf.reduce_sum(tf.nn.softmax(logits)[:, class_index])
        elif output == "loss":
            score = -tf.reduce_sum(tf.nn.log_softmax(logits)[:, class_index])
        else:
            score = tf.reduce_sum(logits[:, class_index])
    return tape.gradient(score, x).numpy()


def saliency_of_softmax(model, images, class_index):
    return np.abs(_input_gradients(model, images, class_index, "softmax")).max(axis=-1)


def saliency_of_loss(model, images, class_index):
    return np.abs(_input_gradients(model, images, class_index, "loss")).max(axis=-1)


def saliency_without_abs(model, images, class_index):
    return _input_gradients(model, images, class_index).max(axis=-1)


def saliency_sum_over_channels(model, images, class_index):
    return np.abs(_input_gradients(model, images, class_index)).sum(axis=-1)


# --------------------------------------------------------------- occlusion_map
def _occlusion(model, image, class_index, patch, stride, fill=0.0, transpose=False, sign=1.0,
               overhang=False, probability=False):
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    end_h, end_w = (height, width) if overhang else (height - patch + 1, width - patch + 1)
    tops, lefts = range(0, end_h, stride), range(0, end_w, stride)
    copies = [image]
    for top in tops:
        for left in lefts:
            copy = image.copy()
            copy[top : top + patch, left : left + patch] = fill
            copies.append(copy)
    batch = np.stack(copies)  # in batches of 16, as the exercise asks (224 px photos)
    logits = np.concatenate([np.asarray(model(batch[i : i + 16], training=False))
                             for i in range(0, len(batch), 16)])
    if probability:
        logits = np.asarray(tf.nn.softmax(logits))
    scores = logits[:, class_index]
    result = sign * (scores[0] - scores[1:]).reshape(len(tops), len(lefts))
    return result.T if transpose else result


def occlusion_transposed(model, image, class_index, patch, stride, fill=0.0):
    return _occlusion(model, image, class_index, patch, stride, fill, transpose=True)


def occlusion_sign_flipped(model, image, class_index, patch, stride, fill=0.0):
    return _occlusion(model, image, class_index, patch, stride, fill, sign=-1.0)


def occlusion_overhanging_patches(model, image, class_index, patch, stride, fill=0.0):
    return _occlusion(model, image, class_index, patch, stride, fill, overhang=True)


def occlusion_of_probability(model, image, class_index, patch, stride, fill=0.0):
    return _occlusion(model, image, class_index, patch, stride, fill, probability=True)


# -------------------------------------------------------- class_activation_map
def _cam_parts(model, image):
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    dense = model.layers[-1]
    if not pools or not isinstance(dense, keras.layers.Dense):
        raise ValueError("GAP -> Dense head expected")
    maps = np.asarray(keras.Model(model.inputs, pools[-1].input)(np.asarray(image, np.float32)[None]))[0]
    kernel, bias = dense.get_weights()
    return maps, kernel, bias


def cam_with_relu(model, image, class_index):
    maps, kernel, _ = _cam_parts(model, image)
    return np.maximum(maps @ kernel[:, class_index], 0)


def cam_with_bias(model, image, class_index):
    maps, kernel, bias = _cam_parts(model, image)
    return maps @ kernel[:, class_index] + bias[class_index]


def cam_unweighted_mean(model, image, class_index):
    maps, _, _ = _cam_parts(model, image)
    return maps.mean(axis=-1)


def cam_normalised(model, image, class_index):
    maps, kernel, _ = _cam_parts(model, image)
    cam = maps @ kernel[:, class_index]
    return (cam - cam.min()) / (cam.max() - cam.min())


# ---------------------------------------------------------------------- grad_cam
def _maps_and_gradients(model, image, layer_name, class_index, output="logit"):
    both = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.outputs[0]])
    x = tf.convert_to_tensor(np.asarray(image, np.float32)[None])
    with tf.GradientTape() as tape:
        maps, logits = both(x, training=False)
        score = tf.nn.softmax(logits)[0, class_index] if output == "softmax" else logits[0, class_index]
    return maps[0].numpy(), tape.gradient(score, maps)[0].numpy()


def _normalise(heat):
    return heat / heat.max() if heat.max() > 0 else np.zeros_like(heat)


def grad_cam_max_of_gradients(model, image, layer_name, class_index):
    maps, gradients = _maps_and_gradients(model, image, layer_name, class_index)
    return _normalise(np.maximum((maps * gradients.max(axis=(0, 1))).sum(axis=-1), 0))


def grad_cam_relu_before_sum(model, image, layer_name, class_index):
    maps, gradients = _maps_and_gradients(model, image, layer_name, class_index)
    return _normalise(np.maximum(maps * gradients.mean(axis=(0, 1)), 0).sum(axis=-1))


def grad_cam_nan_when_negative(model, image, layer_name, class_index):
    maps, gradients = _maps_and_gradients(model, image, layer_name, class_index)
    heat = np.maximum((maps * gradients.mean(axis=(0, 1))).sum(axis=-1), 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return heat / heat.max()


def grad_cam_of_softmax(model, image, layer_name, class_index):
    maps, gradients = _maps_and_gradients(model, image, layer_name, class_index, "softmax")
    return _normalise(np.maximum((maps * gradients.mean(axis=(0, 1))).sum(axis=-1), 0))


# ---------------------------------------------------------- integrated_gradients
def _path_gradients(model, image, class_index, baseline, steps, offset=0.5):
    image = np.asarray(image, np.float32)
    baseline = np.asarray(baseline, np.float32)
    alphas = ((np.arange(steps) + offset) / steps).astype(np.float32)
    path = baseline + alphas[:, None, None, None] * (image - baseline)
    return image, baseline, _input_gradients(model, path, class_index)


def ig_without_difference(model, image, class_index, baseline=0.0, steps=32):
    _, _, gradients = _path_gradients(model, image, class_index, baseline, steps)
    return gradients.mean(axis=0)


def ig_left_riemann(model, image, class_index, baseline=0.0, steps=32):
    image, baseline, gradients = _path_gradients(model, image, class_index, baseline, steps, offset=0.0)
    return (image - baseline) * gradients.mean(axis=0)


def ig_summed_gradients(model, image, class_index, baseline=0.0, steps=32):
    image, baseline, gradients = _path_gradients(model, image, class_index, baseline, steps)
    return (image - baseline) * gradients.sum(axis=0)


# ----------------------------------------------------------------- lime_weights
def _weighted_ridge(masks, scores, weights, ridge, intercept=True):
    masks, scores = np.asarray(masks, float), np.asarray(scores, float)
    mean_mask = weights @ masks / weights.sum() if intercept else np.zeros(masks.shape[1])
    mean_score = weights @ scores / weights.sum() if intercept else 0.0
    centred = masks - mean_mask
    gram = centred.T @ (weights[:, None] * centred) + ridge * np.eye(masks.shape[1])
    coefficients = np.linalg.lstsq(gram, centred.T @ (weights * (scores - mean_score)), rcond=None)[0]
    return coefficients, float(mean_score - mean_mask @ coefficients)


def _cosine_distance(masks):
    masks = np.asarray(masks, float)
    norms = np.linalg.norm(masks, axis=1) * np.sqrt(masks.shape[1])
    return 1 - np.divide(masks.sum(axis=1), norms, out=np.zeros(len(masks)), where=norms > 0)


def lime_unweighted(masks, scores, kernel_width=0.25, ridge=1.0):
    return _weighted_ridge(masks, scores, np.ones(len(masks)), ridge)


def lime_without_intercept(masks, scores, kernel_width=0.25, ridge=1.0):
    weights = np.exp(-_cosine_distance(masks) ** 2 / kernel_width**2)
    return _weighted_ridge(masks, scores, weights, ridge, intercept=False)


def lime_euclidean_distance(masks, scores, kernel_width=0.25, ridge=1.0):
    distance = np.linalg.norm(1 - np.asarray(masks, float), axis=1)
    return _weighted_ridge(masks, scores, np.exp(-distance**2 / kernel_width**2), ridge)


def lime_kernel_not_squared(masks, scores, kernel_width=0.25, ridge=1.0):
    return _weighted_ridge(masks, scores, np.exp(-_cosine_distance(masks) / kernel_width), ridge)


# ---------------------------------------------------------------- fooling_image
def _fool(model, image, target_class, epsilon, max_steps, clip=True, direction=1.0,
          untargeted=False, ignore_budget=False):
    original = np.asarray(image, np.float32)
    x = original.copy()
    true_class = int(np.argmax(np.asarray(model(x[None], training=False))[0]))
    for _ in range(3 * max_steps + 3 if ignore_budget else max_steps):  # a fixed loop, too long
        tensor = tf.convert_to_tensor(x[None])
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            logits = model(tensor, training=False)
            if untargeted:
                score = -tf.nn.log_softmax(logits)[0, true_class]
            else:
                score = tf.nn.log_softmax(logits)[0, target_class]
        if int(np.argmax(logits[0])) == target_class and not ignore_budget:
            break
        x = x + direction * epsilon / 4 * np.sign(tape.gradient(score, tensor)[0].numpy())
        x = np.clip(x, original - epsilon, original + epsilon)
        if clip:
            x = np.clip(x, 0.0, 1.0)
    return x


def fooling_unbounded_step(model, image, target_class, epsilon=0.05, max_steps=20):
    """Gradient ascent with unit-L2 steps (a well-known assignment's recipe): no bound on the size."""
    x = np.asarray(image, np.float32).copy()
    for _ in range(max_steps):
        tensor = tf.convert_to_tensor(x[None])
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            logits = model(tensor, training=False)
            score = logits[0, target_class]
        if int(np.argmax(logits[0])) == target_class:
            break
        gradient = tape.gradient(score, tensor)[0].numpy()
        x = np.clip(x + gradient / np.linalg.norm(gradient), 0.0, 1.0)
    return x


def fooling_untargeted(model, image, target_class, epsilon=0.05, max_steps=20):
    return _fool(model, image, target_class, epsilon, max_steps, untargeted=True)


def fooling_gradient_descent(model, image, target_class, epsilon=0.05, max_steps=20):
    return _fool(model, image, target_class, epsilon, max_steps, direction=-1.0)


def fooling_ignores_budget(model, image, target_class, epsilon=0.05, max_steps=20):
    return _fool(model, image, target_class, epsilon, max_steps, ignore_budget=True)


def fooling_not_clipped(model, image, target_class, epsilon=0.05, max_steps=20):
    return _fool(model, image, target_class, epsilon, max_steps, clip=False)


WRONG_IMPLEMENTATIONS = {
    "saliency_map": [saliency_of_softmax, saliency_of_loss, saliency_without_abs,
                     saliency_sum_over_channels],
    "occlusion_map": [occlusion_transposed, occlusion_sign_flipped, occlusion_overhanging_patches,
                      occlusion_of_probability],
    "class_activation_map": [cam_with_relu, cam_with_bias, cam_unweighted_mean, cam_normalised],
    "grad_cam": [grad_cam_max_of_gradients, grad_cam_relu_before_sum, grad_cam_nan_when_negative,
                 grad_cam_of_softmax],
    "integrated_gradients": [ig_without_difference, ig_left_riemann, ig_summed_gradients],
    "lime_weights": [lime_unweighted, lime_without_intercept, lime_euclidean_distance,
                     lime_kernel_not_squared],
    "fooling_image": [fooling_unbounded_step, fooling_untargeted, fooling_gradient_descent,
                      fooling_ignores_budget, fooling_not_clipped],
}
