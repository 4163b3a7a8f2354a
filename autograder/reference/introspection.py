"""Reference introspection methods: ``tf.GradientTape`` on the student's own model.

Every reference runs the same Keras model on the same inputs as the student's
function, so nothing is frozen: the checks build tiny models (and load the
course's EfficientNet-Lite0) and compare.  Conventions, stated in the notebook:

* the class score is the model's **logit** for ``class_index`` (the models
  output logits; no softmax anywhere);
* saliency: ``max_c |d logit / d x[..., c]|``, one map (H, W) per image;
* occlusion: ``logit(image) - logit(image with a patch set to fill)``, patch
  top-left corners at ``0, stride, 2 stride, ...`` while the patch fits, so the
  map has ``(H - patch) // stride + 1`` rows (and the same rule for columns);
* CAM on a ``GlobalAveragePooling2D -> [Dropout] -> Dense`` head:
  ``sum_k w[k, c] A_k`` on the feature map A entering the pooling (no ReLU, no
  bias, no upsampling), so ``mean(CAM) + bias[c]`` is the logit;
* Grad-CAM: ``ReLU(sum_k alpha_k A_k)`` with ``alpha_k`` the spatial mean of
  ``d logit / d A_k``, divided by its maximum when that is > 0 (all zeros
  otherwise);
* integrated gradients, midpoint rule:
  ``(x - x0) * mean_k grad(x0 + (k + 1/2)/steps (x - x0))``;
* LIME regression: kernel ``exp(-d^2 / width^2)`` with ``d`` the cosine distance
  from each on/off mask to the all-ones mask (an all-off mask has distance 1),
  then a weighted ridge regression with an unpenalised intercept
  (scikit-learn's ``Ridge``, as the ``lime`` package uses);
* fooling image: targeted sign-gradient ascent on log softmax[target], steps of ``epsilon / 4``
  projected on the L-infinity ball of radius ``epsilon`` and on [0, 1].
"""

from __future__ import annotations

import numpy as np

FLOAT32 = np.float32


def _tf():
    import tensorflow as tf

    return tf


def _keras():
    import keras

    return keras


def logits_of(model, x) -> np.ndarray:
    """The model's outputs (logits) for a batch, in inference mode, as numpy."""
    return np.asarray(model(np.asarray(x, FLOAT32), training=False))


# ------------------------------------------------------------------- saliency
def input_gradients(model, images, class_index) -> np.ndarray:
    """``d logit[class_index] / d images`` for a batch (N, H, W, C)."""
    tf = _tf()
    x = tf.convert_to_tensor(np.asarray(images, FLOAT32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        score = tf.reduce_sum(logits[:, class_index])
    return tape.gradient(score, x).numpy()


def saliency_map(model, images, class_index) -> np.ndarray:
    """Max over channels of |gradient of the logit|: (N, H, W)."""
    return np.abs(input_gradients(model, images, class_index)).max(axis=-1)


# ------------------------------------------------------------------ occlusion
def occlusion_corners(size: int, patch: int, stride: int) -> list[int]:
    """Top-left corners along one axis: 0, stride, ... while the patch fits."""
    return list(range(0, size - patch + 1, stride))


def occluded_batch(image, patch: int, stride: int, fill) -> np.ndarray:
    """Every occluded copy of ``image`` (H, W, C), rows first: (rows * cols, H, W, C)."""
    image = np.asarray(image, FLOAT32)
    height, width = image.shape[:2]
    copies = []
    for top in occlusion_corners(height, patch, stride):
        for left in occlusion_corners(width, patch, stride):
            copy = image.copy()
            copy[top : top + patch, left : left + patch] = fill
            copies.append(copy)
    return np.stack(copies)


def occlusion_map(model, image, class_index, patch, stride, fill=0.0) -> np.ndarray:
    """Drop of the logit when each patch is filled: (rows, cols)."""
    image = np.asarray(image, FLOAT32)
    rows = len(occlusion_corners(image.shape[0], patch, stride))
    cols = len(occlusion_corners(image.shape[1], patch, stride))
    base = logits_of(model, image[None])[0, class_index]
    occluded = logits_of(model, occluded_batch(image, patch, stride, fill))[:, class_index]
    return (base - occluded).reshape(rows, cols).astype(FLOAT32)


def linear_occlusion_map(weights, image, patch, stride, fill=0.0) -> np.ndarray:
    """Closed form for a linear model (logit = sum w * x + b): sum over the patch of w (x - fill)."""
    contribution = np.asarray(weights, np.float64) * (np.asarray(image, np.float64) - fill)
    per_pixel = contribution.sum(axis=-1)
    height, width = per_pixel.shape
    return np.array(
        [[per_pixel[top : top + patch, left : left + patch].sum()
          for left in occlusion_corners(width, patch, stride)]
         for top in occlusion_corners(height, patch, stride)]
    )


# ------------------------------------------------------------------------ CAM
def gap_head(model):
    """The last GlobalAveragePooling2D layer and the final Dense layer of ``model``."""
    keras = _keras()
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    dense = model.layers[-1] if model.layers else None
    if not pools or not isinstance(dense, keras.layers.Dense):
        raise ValueError("the model must end with GlobalAveragePooling2D, (Dropout,) then Dense.")
    return pools[-1], dense


def class_activation_map(model, image, class_index) -> np.ndarray:
    """``sum_k w[k, c] A_k`` on the map entering the global average pooling: (H', W')."""
    keras = _keras()
    pool, dense = gap_head(model)
    features = keras.Model(model.inputs, pool.input)
    maps = np.asarray(features(np.asarray(image, FLOAT32)[None], training=False))[0]
    kernel = np.asarray(dense.kernel)
    return np.tensordot(maps, kernel[:, class_index], axes=([-1], [0])).astype(FLOAT32)


# ------------------------------------------------------------------- Grad-CAM
def _contains(model, layer_name: str) -> bool:
    return any(layer.name == layer_name for layer in model.layers)


def split_at_layer(model, layer_name: str):
    """A function x -> (A, logits), A the output of ``layer_name``, also inside a nested model.

    The layer is looked up in ``model`` first, then in the models it uses as layers (a
    backbone); in that case the layers of ``model`` are applied in order, as a chain.
    """
    keras = _keras()
    if _contains(model, layer_name):
        both = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.outputs[0]])
        return lambda x: both(x, training=False)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for position, inner in enumerate(layers):
        if isinstance(inner, keras.Model) and _contains(inner, layer_name):
            split = keras.Model(inner.inputs, [inner.get_layer(layer_name).output, inner.outputs[0]])
            before, after = layers[:position], layers[position + 1 :]

            def forward(x, split=split, before=before, after=after):
                for layer in before:
                    x = layer(x, training=False)
                maps, y = split(x, training=False)
                for layer in after:
                    y = layer(y, training=False)
                return maps, y

            return forward
    raise ValueError(f"no layer named {layer_name!r} in the model or in a model it contains.")


def grad_cam_weighted_sum(model, image, layer_name, class_index) -> np.ndarray:
    """``sum_k alpha_k A_k`` before the ReLU: (H', W')."""
    tf = _tf()
    forward = split_at_layer(model, layer_name)
    x = tf.convert_to_tensor(np.asarray(image, FLOAT32)[None])
    with tf.GradientTape() as tape:
        maps, logits = forward(x)
        score = logits[0, class_index]
    gradients = tape.gradient(score, maps)[0]
    alphas = tf.reduce_mean(gradients, axis=(0, 1))
    return tf.reduce_sum(maps[0] * alphas, axis=-1).numpy()


def grad_cam(model, image, layer_name, class_index) -> np.ndarray:
    """ReLU of the weighted sum, divided by its maximum when that is > 0: (H', W') in [0, 1]."""
    heat = np.maximum(grad_cam_weighted_sum(model, image, layer_name, class_index), 0.0)
    peak = float(heat.max()) if heat.size else 0.0
    return (heat / peak if peak > 0 else np.zeros_like(heat)).astype(FLOAT32)


# ------------------------------------------------------ integrated gradients
def integrated_gradients(model, image, class_index, baseline=0.0, steps=32) -> np.ndarray:
    """Midpoint rule: (x - x0) * mean of the gradients at x0 + (k + 1/2)/steps (x - x0)."""
    image = np.asarray(image, FLOAT32)
    start = np.broadcast_to(np.asarray(baseline, FLOAT32), image.shape)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(FLOAT32)
    path = start[None] + alphas[:, None, None, None] * (image - start)[None]
    gradients = input_gradients(model, path, class_index)
    return ((image - start) * gradients.mean(axis=0)).astype(FLOAT32)


# ------------------------------------------------------------------------ LIME
def cosine_distances(masks) -> np.ndarray:
    """1 - cos(mask, all-ones) per row; an all-off mask is at distance 1."""
    masks = np.asarray(masks, np.float64)
    kept = masks.sum(axis=1)
    norms = np.sqrt((masks**2).sum(axis=1)) * np.sqrt(masks.shape[1])
    similarity = np.divide(kept, norms, out=np.zeros_like(kept), where=norms > 0)
    return 1.0 - similarity


def lime_kernel(masks, kernel_width=0.25) -> np.ndarray:
    """Sample weights exp(-d^2 / width^2)."""
    return np.exp(-cosine_distances(masks) ** 2 / kernel_width**2)


def lime_weights(masks, scores, kernel_width=0.25, ridge=1.0):
    """Weighted ridge regression of the scores on the masks: (coefficients (K,), intercept)."""
    from sklearn.linear_model import Ridge

    masks = np.asarray(masks, np.float64)
    fit = Ridge(alpha=ridge, fit_intercept=True, solver="svd" if ridge == 0 else "auto")
    fit.fit(masks, np.asarray(scores, np.float64), sample_weight=lime_kernel(masks, kernel_width))
    return fit.coef_.astype(np.float64), float(fit.intercept_)


# ---------------------------------------------------------------- fooling image
def fooling_image(model, image, target_class, epsilon=0.05, max_steps=20) -> np.ndarray:
    """Targeted iterative sign-gradient ascent on log softmax[target], projected and clipped."""
    tf = _tf()
    original = np.asarray(image, FLOAT32)
    x = original.copy()
    step = epsilon / 4
    for _ in range(max_steps):
        tensor = tf.convert_to_tensor(x[None])
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            logits = model(tensor, training=False)
            score = tf.nn.log_softmax(logits)[0, target_class]
        if int(np.argmax(logits[0])) == target_class:
            break
        gradient = tape.gradient(score, tensor)[0].numpy()
        x = np.clip(x + step * np.sign(gradient), original - epsilon, original + epsilon)
        x = np.clip(x, 0.0, 1.0).astype(FLOAT32)
    return x
