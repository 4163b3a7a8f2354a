"""Reference implementations for the chapter "Transfer learning".

Keras 3 public APIs and TensorFlow ops only: ``tf.image.resize`` for the images,
``GlobalAveragePooling2D`` + ``Dense`` for the new classifier, ``layer.trainable``
and a fresh ``compile`` for the freezing strategies, ``Model.predict`` (inference
mode) for the features.

The conventions the exercises state:

* images for EfficientNet-Lite0: uint8 in [0, 255], resized bilinearly to
  ``size`` x ``size``, greyscale repeated on three channels, then (x - 127) / 128;
* the base's BatchNormalization layers stay frozen in every strategy (so they run
  in inference mode and keep their moving statistics);
* ``"all"`` trains everything else, ``"head"`` only the layers that are not the
  base's, ``"first_k"`` everything but ``base.layers[:n_frozen]``;
* every strategy compiles ``Adam(learning_rate)`` with the sparse categorical
  cross-entropy on logits and the accuracy metric.
"""

from __future__ import annotations

import numpy as np

STRATEGIES = ("all", "head", "first_k")
LITE0_CENTRE = 127.0
LITE0_SCALE = 128.0


def _keras():
    import keras

    return keras


def prepare_images(images, size: int) -> np.ndarray:
    """uint8 (N, H, W[, 1 or 3]) -> float32 (N, size, size, 3) in Lite0's input range."""
    import tensorflow as tf

    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    resized = tf.image.resize(tf.convert_to_tensor(x, tf.float32), (size, size), method="bilinear")
    if resized.shape[-1] == 1:
        resized = tf.repeat(resized, 3, axis=-1)
    return ((resized - LITE0_CENTRE) / LITE0_SCALE).numpy().astype(np.float32)


def add_classifier(base, n_classes: int):
    """base's input -> base -> global average pooling -> Dense(n_classes) logits."""
    keras = _keras()
    pooled = keras.layers.GlobalAveragePooling2D()(base.output)
    return keras.Model(base.input, keras.layers.Dense(n_classes)(pooled))


def frozen_layers(base, strategy: str, n_frozen: int = 0) -> list:
    """The base's layers whose weights a strategy keeps fixed (BatchNormalization always)."""
    keras = _keras()
    batch_norms = [layer for layer in base.layers
                   if isinstance(layer, keras.layers.BatchNormalization)]
    if strategy == "head":
        return list(base.layers)
    if strategy == "first_k":
        first = list(base.layers[:n_frozen])
        return first + [layer for layer in batch_norms if layer not in first]
    return batch_norms


def trainable_variable_ids(model, base, strategy: str, n_frozen: int = 0) -> set[int]:
    """ids of the model's variables that the strategy trains: every weight of a layer it does not
    freeze (BatchNormalization layers are always frozen, so their moving statistics never count)."""
    frozen = {id(v) for layer in frozen_layers(base, strategy, n_frozen) for v in layer.weights}
    return {id(v) for v in model.weights if id(v) not in frozen}


def compile_for_transfer(model, learning_rate: float) -> None:
    keras = _keras()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


def set_strategy(model, base, strategy: str, learning_rate: float, n_frozen: int = 0):
    """Set every layer's ``trainable`` for the strategy, then compile (always: see the module).

    ``model.trainable = True`` alone is not enough: Keras (TensorFlow backend) skips an
    assignment that does not change the model's own flag, so layers frozen one by one would
    stay frozen. Setting False then True reaches every layer, nested ones included.
    """
    model.trainable = False
    model.trainable = True
    for layer in frozen_layers(base, strategy, n_frozen):
        layer.trainable = False
    compile_for_transfer(model, learning_rate)
    return model


def feature_model(base, layer_name: str | None = None):
    """The base, or the sub-model from its input to the named layer's output."""
    if layer_name is None:
        return base
    keras = _keras()
    return keras.Model(base.input, base.get_layer(layer_name).output)


def extract_features(base, images, batch_size: int = 32, layer_name: str | None = None) -> np.ndarray:
    """Global average of the (layer's) feature maps, in inference mode: (N, channels)."""
    model = feature_model(base, layer_name)
    images = np.asarray(images, dtype=np.float32)
    channels = int(model.output.shape[-1])
    pooled = [np.asarray(model(images[start:start + batch_size], training=False)).mean(axis=(1, 2))
              for start in range(0, len(images), batch_size)]
    return np.concatenate(pooled).astype(np.float32) if pooled else np.zeros((0, channels), np.float32)


def first_per_class(labels, n_per_class: int) -> np.ndarray:
    """Indices (ascending) of the first ``n_per_class`` images of every class in ``labels``."""
    labels = np.asarray(labels)
    chosen = [np.flatnonzero(labels == label)[:n_per_class] for label in np.unique(labels)]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def fine_tune(model, base, images, labels, head_lr: float, fine_lr: float, head_epochs: int,
              fine_epochs: int, batch_size: int = 32):
    """Phase 1: the head alone at ``head_lr``; phase 2: everything (BatchNorm frozen) at ``fine_lr``."""
    set_strategy(model, base, "head", head_lr)
    if head_epochs:
        model.fit(images, labels, epochs=head_epochs, batch_size=batch_size, verbose=0)
    set_strategy(model, base, "all", fine_lr)
    if fine_epochs:
        model.fit(images, labels, epochs=fine_epochs, batch_size=batch_size, verbose=0)
    return model


def sparse_cross_entropy(labels, logits) -> float:
    """Mean cross-entropy of integer labels and logits, computed by TensorFlow."""
    import tensorflow as tf

    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.convert_to_tensor(np.asarray(labels), tf.int32),
        logits=tf.convert_to_tensor(np.asarray(logits), tf.float32))
    return float(tf.reduce_mean(losses))


# ------------------------------------------- the checks' models, where the student's code runs
# The checks build their models in the grading worker and send them to the kernel as
# architecture and weights; these functions rebuild there what one model cannot carry (a
# classifier sharing its base's layers, a base that counts its batch) and report on the
# kernel's models in plain data. Locally (a public check in the notebook) they run in place.
def classifier_model(base, n_classes: int, nested: bool = False):
    """The checks' classifier on ``base``: :func:`add_classifier`'s, or (``nested``) the base as
    one layer of a Sequential model, then global average pooling and a Dense layer "head"."""
    if not nested:
        return add_classifier(base, n_classes)
    keras = _keras()
    return keras.Sequential([keras.Input(tuple(base.input.shape[1:])), base,
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(n_classes, name="head")], name="nested")


def model_on(base, n_classes: int, nested: bool, weights, trained_before=None, images=None,
             labels=None):
    """``(model, base)``: :func:`classifier_model` on ``base`` with ``weights``; with
    ``trained_before``, compiled with that strategy (``n_frozen=1``) and trained one step on
    ``images``, ``labels`` first."""
    model = classifier_model(base, n_classes, nested)
    model.set_weights(list(weights))
    if trained_before:
        set_strategy(model, base, trained_before, 1e-3, 1)
        model.train_on_batch(images, labels)
    return model, base


def batch_limited(base, limit: int):
    """``base`` behind a layer that fails when it sees more than ``limit`` images at once (the
    base's own layers, shared: same weights)."""
    import tensorflow as tf

    keras = _keras()

    class BatchProbe(keras.layers.Layer):
        def call(self, x):
            check = tf.debugging.assert_less_equal(
                tf.shape(x)[0], limit,
                message=f"the base received more than batch_size={limit} images at once")
            with tf.control_dependencies([check]):
                return tf.identity(x)

    inputs = keras.Input(tuple(base.input.shape[1:]), name="image")
    x = BatchProbe(name="batch_probe")(inputs)
    for layer in base.layers[1:]:  # a chain after its input layer, as the checks' bases are
        x = layer(x)
    return keras.Model(inputs, x, name=base.name)


def weights_report(model, base=None) -> dict:
    """``model.weights`` in plain data: ``paths``, ``values``, ``trainable`` (each weight among
    ``model.trainable_weights``?) and ``in_base`` (its index in ``base.weights``, or -1)."""
    trainable = {id(v) for v in model.trainable_weights}
    in_base = {id(v): index for index, v in enumerate(base.weights)} if base is not None else {}
    return {"paths": [v.path for v in model.weights],
            "values": [v.numpy() for v in model.weights],
            "trainable": [id(v) in trainable for v in model.weights],
            "in_base": [in_base.get(id(v), -1) for v in model.weights]}


def assign_weights(model, values: dict) -> None:
    """``model.weights[i].assign(value)`` for each ``i: value``."""
    for index, value in values.items():
        model.weights[int(index)].assign(value)


def training_step_report(model, images, labels) -> dict:
    """One step of ``model`` as it is compiled (``train_on_batch``): the weights ``before`` and
    ``after``, the step's ``loss`` and the ``logits`` of ``images`` with the weights before.

    A model compiled again by the student's code has no training function yet: it runs eagerly
    (no tracing: milliseconds on the checks' models). A training function built before and kept
    (not compiled again) is left as it is: it is what the student's model would run."""
    if getattr(model, "train_function", None) is None:
        model.run_eagerly = True
    before = [v.numpy() for v in model.weights]
    loss = model.train_on_batch(images, labels)
    after = [v.numpy() for v in model.weights]
    for variable, value in zip(model.weights, before, strict=True):
        variable.assign(value)
    try:
        logits = np.asarray(model(images, training=False))
    finally:
        for variable, value in zip(model.weights, after, strict=True):
            variable.assign(value)
    loss = loss[0] if isinstance(loss, list | tuple) else loss
    return {"before": before, "after": after, "loss": float(np.asarray(loss)), "logits": logits}
