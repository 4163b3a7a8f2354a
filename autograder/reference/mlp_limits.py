"""Reference implementations for the "Why MLPs are not enough" chapter.

* ``sigmoid`` and ``perceptron_predict``: the linear unit of the lectures,
  computed with TensorFlow ops (``tf.sigmoid``, ``tf.linalg.matvec``).
* ``dense_param_count``: read from a real ``keras.layers.Dense`` built on the
  flattened input (``dense_param_count_formula`` for sizes too large to
  allocate; the unit tests check that both agree).
* ``shift_images``: ``scipy.ndimage.shift`` with ``order=0`` and ``cval=0``
  (nearest neighbour, zero fill, no wrap-around).
* ``build_mlp``: the reference Keras model (Flatten, Dense hidden layers, logits).
* ``accuracy_under_shift``: the reference shift, ``model.predict``, argmax.

Conventions: images are (N, H, W) or (N, H, W, C); a positive ``dx`` moves
the content right (towards larger column indices), a positive ``dy`` moves it
down (towards larger row indices).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

ACTIVATIONS = ("relu", "tanh", "sigmoid")


# ------------------------------------------------------------------ validation
def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return int(value)


def _shape_tuple(shape, name: str) -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"{name} must be a tuple of positive ints, got {shape!r}.") from None
    if not dims:
        raise ValueError(f"{name} must have at least one dimension, got {shape!r}.")
    return tuple(_positive_int(d, f"every entry of {name}") for d in dims)


def _integer_shift(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int (a number of pixels), got {value!r}.")
    return int(value)


def _image_batch(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"x must be a batch of images of shape (N, H, W) or (N, H, W, C), got shape {x.shape}."
        )
    return x


# ---------------------------------------------------------------- linear unit
def sigmoid(s, a: float = 1.0):
    """``1 / (1 + exp(-a s))`` with ``tf.sigmoid`` (stable for large |s|)."""
    import tensorflow as tf

    s = np.asarray(s, dtype=np.float64)
    return tf.sigmoid(tf.constant(a * s, dtype=tf.float64))


def perceptron_predict(x, w, b):
    """``1`` where ``w . x + b >= 0``, else ``0``: x (N, m), w (m,), b a number."""
    import tensorflow as tf

    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if x.ndim != 2 or w.ndim != 1 or x.shape[1] != w.shape[0]:
        raise ValueError(f"expected x (N, m) and w (m,), got x {x.shape} and w {w.shape}.")
    s = tf.linalg.matvec(tf.constant(x), tf.constant(w)) + float(b)
    return tf.cast(s >= 0, tf.int64)


# ------------------------------------------------------------ parameter count
def dense_param_count_formula(input_shape, units, bias: bool = True) -> int:
    """``prod(input_shape) * units + units`` (the bias term only when ``bias``)."""
    dims = _shape_tuple(input_shape, "input_shape")
    units = _positive_int(units, "units")
    return math.prod(dims) * units + (units if bias else 0)


def dense_param_count(input_shape, units, bias: bool = True) -> int:
    """Parameters of ``keras.layers.Dense(units)`` applied to the flattened input.

    Builds the layer (its weights are allocated: keep ``prod(input_shape) * units``
    below a few million) and counts its weights.
    """
    import keras

    dims = _shape_tuple(input_shape, "input_shape")
    units = _positive_int(units, "units")
    layer = keras.layers.Dense(units, use_bias=bool(bias))
    layer.build((None, math.prod(dims)))
    return int(layer.count_params())


# --------------------------------------------------------------------- shifts
def shift_images(x, dx: int, dy: int) -> np.ndarray:
    """Shift every image by ``dx`` columns (right) and ``dy`` rows (down), zero fill.

    ``scipy.ndimage.shift`` with ``order=0`` (integer shifts, no interpolation)
    and ``mode="constant", cval=0`` (what leaves the frame is lost, what enters is 0).
    """
    from scipy import ndimage

    x = _image_batch(x)
    dx, dy = _integer_shift(dx, "dx"), _integer_shift(dy, "dy")
    offsets = (0, dy, dx) + ((0,) if x.ndim == 4 else ())
    return ndimage.shift(x, offsets, order=0, mode="constant", cval=0)


# ---------------------------------------------------------------------- models
def build_mlp(input_shape, hidden_units, n_classes: int, activation: str = "relu"):
    """Flatten, one ``Dense(h, activation)`` per entry of ``hidden_units``, ``Dense(n_classes)`` logits."""
    import keras

    dims = _shape_tuple(input_shape, "input_shape")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}.")
    layers = [keras.Input(dims), keras.layers.Flatten()]
    for units in hidden_units:
        layers.append(keras.layers.Dense(_positive_int(units, "hidden units"), activation=activation))
    layers.append(keras.layers.Dense(_positive_int(n_classes, "n_classes")))
    return keras.Sequential(layers)


def accuracy_under_shift(model, x, y, shifts) -> dict:
    """``{(dx, dy): accuracy}``: the fraction of ``shift_images(x, dx, dy)`` classified as ``y``.

    Calls the model directly (one batch): faster than ``model.predict`` on the
    small arrays the checks use, and the same predictions.
    """
    x = _image_batch(x)
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must hold one label per image, shape ({x.shape[0]},), got {y.shape}.")
    accuracies = {}
    for dx, dy in shifts:
        scores = np.asarray(model(shift_images(x, dx, dy), training=False))
        accuracies[(int(dx), int(dy))] = float(np.mean(scores.argmax(axis=-1) == y))
    return accuracies
