"""Deliberately wrong implementations for the chapter "Transfer learning".

Each is a mistake students (and published courses) make: the wrong preprocessing (/ 255,
[-1, 1] with 127.5, nearest neighbours, one channel), a Dense layer straight on the feature
map, a softmax on the logits, a copy of the base; the part to freeze left trainable, the new
head frozen too, no recompilation after changing ``trainable``, BatchNormalization trained,
``model.trainable = True`` trusted to unfreeze layers frozen one by one, the default learning
rate; features before pooling, in training mode, or all at once; the first n x k labels;
fine-tuning at the head's learning rate. ``tests/test_chapter_contracts.py`` checks that every
one scores < 1.0 on the hidden checks, or is refused outright.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


# --------------------------------------------------------------------- prepare_images
def _prepare(images, size, method="bilinear", scale=lambda x: (x - 127.0) / 128.0, repeat=True):
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or size < 1:
        raise ValueError("uint8 (N, H, W[, C]) images and a positive size")
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] not in (1, 3):
        raise ValueError("1 or 3 channels")
    x = tf.image.resize(images.astype("float32"), (size, size), method=method).numpy()
    if repeat and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return scale(x).astype("float32")


def prepare_divided_by_255(images, size):
    return _prepare(images, size, scale=lambda x: x / 255.0)


def prepare_minus_one_to_one(images, size):
    return _prepare(images, size, scale=lambda x: x / 127.5 - 1.0)


def prepare_nearest(images, size):
    return _prepare(images, size, method="nearest")


def prepare_one_channel(images, size):
    return _prepare(images, size, repeat=False)


# --------------------------------------------------------------------- add_classifier
def _check_classes(base, n_classes):
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError("n_classes >= 2")
    if len(base.output.shape) != 4:
        raise ValueError("a feature map")


def classifier_dense_on_the_map(base, n_classes):
    """The lecture's code: a Dense layer on the 7x7x512 map, without Flatten or pooling."""
    _check_classes(base, n_classes)
    return keras.Model(base.input, keras.layers.Dense(n_classes)(base.output))


def classifier_flatten(base, n_classes):
    _check_classes(base, n_classes)
    flat = keras.layers.Flatten()(base.output)
    return keras.Model(base.input, keras.layers.Dense(n_classes)(flat))


def classifier_softmax(base, n_classes):
    _check_classes(base, n_classes)
    pooled = keras.layers.GlobalAveragePooling2D()(base.output)
    return keras.Model(base.input, keras.layers.Dense(n_classes, activation="softmax")(pooled))


def classifier_on_a_copy_of_the_base(base, n_classes):
    _check_classes(base, n_classes)
    copy = keras.models.clone_model(base)
    pooled = keras.layers.GlobalAveragePooling2D()(copy.output)
    return keras.Model(copy.input, keras.layers.Dense(n_classes)(pooled))


# ----------------------------------------------------------------------- set_strategy
def _strategy_args(base, strategy, learning_rate, n_frozen):
    if strategy not in ("all", "head", "first_k") or not 0 <= n_frozen <= len(base.layers):
        raise ValueError("strategy or n_frozen")
    if not learning_rate > 0:
        raise ValueError("learning rate")


def _compile(model, learning_rate=None):
    optimizer = keras.optimizers.Adam(learning_rate) if learning_rate else keras.optimizers.Adam()
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


def _freeze(model, base, strategy, n_frozen, keep_bn_frozen=True, head_too=False,
            freeze_value=False):
    model.trainable = False
    model.trainable = True
    frozen = {"head": base.layers, "first_k": base.layers[:n_frozen], "all": []}[strategy]
    for layer in base.layers:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        if layer in frozen or (keep_bn_frozen and is_bn):
            layer.trainable = freeze_value
    if head_too and strategy == "head":
        model.trainable = False


def strategy_base_left_trainable(model, base, strategy, learning_rate, n_frozen=0):
    """`trainable = True` written on the part to freeze."""
    _strategy_args(base, strategy, learning_rate, n_frozen)
    _freeze(model, base, strategy, n_frozen, freeze_value=True)
    _compile(model, learning_rate)
    return model


def strategy_head_frozen_too(model, base, strategy, learning_rate, n_frozen=0):
    """The lecture's "strategy 2": the new classifier is frozen with the base, nothing trains."""
    _strategy_args(base, strategy, learning_rate, n_frozen)
    _freeze(model, base, strategy, n_frozen, head_too=True)
    _compile(model, learning_rate)
    return model


def strategy_not_recompiled(model, base, strategy, learning_rate, n_frozen=0):
    _strategy_args(base, strategy, learning_rate, n_frozen)
    _freeze(model, base, strategy, n_frozen)
    if not model.compiled:
        _compile(model, learning_rate)
    return model


def strategy_batch_norm_trained(model, base, strategy, learning_rate, n_frozen=0):
    _strategy_args(base, strategy, learning_rate, n_frozen)
    _freeze(model, base, strategy, n_frozen, keep_bn_frozen=False)
    _compile(model, learning_rate)
    return model


def strategy_trusts_model_trainable(model, base, strategy, learning_rate, n_frozen=0):
    """`model.trainable = True` to unfreeze: a no-op when the model's own flag is already True."""
    _strategy_args(base, strategy, learning_rate, n_frozen)
    model.trainable = True
    frozen = {"head": base.layers, "first_k": base.layers[:n_frozen], "all": []}[strategy]
    for layer in base.layers:
        if layer in frozen or isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    _compile(model, learning_rate)
    return model


def strategy_default_learning_rate(model, base, strategy, learning_rate, n_frozen=0):
    _strategy_args(base, strategy, learning_rate, n_frozen)
    _freeze(model, base, strategy, n_frozen)
    _compile(model)
    return model


# ------------------------------------------------------------------- extract_features
def _feature_args(base, images, batch_size, layer_name):
    if tuple(images.shape[1:]) != tuple(base.input.shape[1:]) or batch_size < 1:
        raise ValueError("images or batch_size")
    if layer_name is not None:
        if layer_name not in [layer.name for layer in base.layers]:
            raise ValueError("unknown layer")
        return keras.Model(base.input, base.get_layer(layer_name).output)
    return base


def features_before_pooling(base, images, batch_size=32, layer_name=None):
    model = _feature_args(base, images, batch_size, layer_name)
    return model.predict(images, batch_size=batch_size, verbose=0)


def features_in_training_mode(base, images, batch_size=32, layer_name=None):
    model = _feature_args(base, images, batch_size, layer_name)
    channels = model.output.shape[-1]
    parts = [np.asarray(model(images[i:i + batch_size], training=True)).mean(axis=(1, 2))
             for i in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, channels), "float32")


def features_all_at_once(base, images, batch_size=32, layer_name=None):
    model = _feature_args(base, images, batch_size, layer_name)
    if len(images) == 0:
        return np.zeros((0, model.output.shape[-1]), "float32")
    return np.asarray(model(images, training=False)).mean(axis=(1, 2))


def features_max_pooled(base, images, batch_size=32, layer_name=None):
    model = _feature_args(base, images, batch_size, layer_name)
    if len(images) == 0:
        return np.zeros((0, model.output.shape[-1]), "float32")
    return model.predict(images, batch_size=batch_size, verbose=0).max(axis=(1, 2))


# -------------------------------------------------------------------- first_per_class
def _subset_args(labels, n_per_class):
    labels = np.asarray(labels)
    if labels.ndim != 1 or n_per_class < 1:
        raise ValueError("labels or n_per_class")
    for label in np.unique(labels):
        if (labels == label).sum() < n_per_class:
            raise ValueError("a class is too small")
    return labels


def subset_first_n_times_k(labels, n_per_class):
    labels = _subset_args(labels, n_per_class)
    return np.arange(n_per_class * len(np.unique(labels)))


def subset_class_by_class(labels, n_per_class):
    labels = _subset_args(labels, n_per_class)
    return np.concatenate([np.flatnonzero(labels == c)[:n_per_class] for c in np.unique(labels)])


def subset_random(labels, n_per_class):
    labels = _subset_args(labels, n_per_class)
    rng = np.random.default_rng(0)
    chosen = [rng.choice(np.flatnonzero(labels == c), n_per_class, replace=False)
              for c in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


# -------------------------------------------------------------------------- fine_tune
def _fine_args(head_lr, fine_lr, head_epochs, fine_epochs):
    if not (head_lr > 0 and fine_lr > 0) or fine_lr > head_lr or min(head_epochs, fine_epochs) < 0:
        raise ValueError("learning rates or epochs")


def _phase(model, base, strategy, learning_rate, images, labels, epochs, batch_size, **freeze):
    _freeze(model, base, strategy, 0, **freeze)
    _compile(model, learning_rate)
    if epochs:
        model.fit(images, labels, epochs=epochs, batch_size=batch_size, verbose=0)


def fine_tune_at_head_lr(model, base, images, labels, head_lr, fine_lr, head_epochs, fine_epochs,
                         batch_size=32):
    _fine_args(head_lr, fine_lr, head_epochs, fine_epochs)
    _phase(model, base, "head", head_lr, images, labels, head_epochs, batch_size)
    _phase(model, base, "all", head_lr, images, labels, fine_epochs, batch_size)
    return model


def fine_tune_not_recompiled(model, base, images, labels, head_lr, fine_lr, head_epochs,
                             fine_epochs, batch_size=32):
    """The Keras 3 notebook that "fine-tuned" with its base still frozen."""
    _fine_args(head_lr, fine_lr, head_epochs, fine_epochs)
    _phase(model, base, "head", head_lr, images, labels, head_epochs, batch_size)
    _freeze(model, base, "all", 0)
    if fine_epochs:
        model.fit(images, labels, epochs=fine_epochs, batch_size=batch_size, verbose=0)
    return model


def fine_tune_batch_norm_trained(model, base, images, labels, head_lr, fine_lr, head_epochs,
                                 fine_epochs, batch_size=32):
    _fine_args(head_lr, fine_lr, head_epochs, fine_epochs)
    _phase(model, base, "head", head_lr, images, labels, head_epochs, batch_size)
    _phase(model, base, "all", fine_lr, images, labels, fine_epochs, batch_size,
           keep_bn_frozen=False)
    return model


def fine_tune_base_never_frozen(model, base, images, labels, head_lr, fine_lr, head_epochs,
                                fine_epochs, batch_size=32):
    _fine_args(head_lr, fine_lr, head_epochs, fine_epochs)
    _phase(model, base, "all", head_lr, images, labels, head_epochs, batch_size)
    _phase(model, base, "all", fine_lr, images, labels, fine_epochs, batch_size)
    return model


WRONG_IMPLEMENTATIONS = {
    "prepare_images": [prepare_divided_by_255, prepare_minus_one_to_one, prepare_nearest,
                       prepare_one_channel],
    "add_classifier": [classifier_dense_on_the_map, classifier_flatten, classifier_softmax,
                       classifier_on_a_copy_of_the_base],
    "set_strategy": [strategy_base_left_trainable, strategy_head_frozen_too,
                     strategy_not_recompiled, strategy_batch_norm_trained,
                     strategy_trusts_model_trainable, strategy_default_learning_rate],
    "extract_features": [features_before_pooling, features_in_training_mode, features_all_at_once,
                         features_max_pooled],
    "first_per_class": [subset_first_n_times_k, subset_class_by_class, subset_random],
    "fine_tune": [fine_tune_at_head_lr, fine_tune_not_recompiled, fine_tune_batch_norm_trained,
                  fine_tune_base_never_frozen],
}
