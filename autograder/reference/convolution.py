"""Reference convolutions: thin wrappers around TensorFlow ops.

Every function takes numpy arrays, validates them with a readable message,
and returns a TensorFlow tensor; run them through
:func:`autograder.core.run_reference` to get numpy back on the reference device.
Conventions are TensorFlow's: NHWC inputs, kernels (kh, kw, C_in, C_out),
cross-correlation (the kernel is not flipped).
"""

from __future__ import annotations

import numpy as np


def as_pair(value, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 1) -> (2, 1)``; anything else is a ValueError."""
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}.")
    return int(pair[0]), int(pair[1])


def tf_padding(padding):
    """``"valid"``/``"same"`` -> TF's string; int p -> explicit NHWC padding list."""
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        return padding.upper()
    if isinstance(padding, int | np.integer) and padding >= 0:
        p = int(padding)
        return [[0, 0], [p, p], [p, p], [0, 0]]
    raise ValueError(f'padding must be "valid", "same" or an int >= 0, got {padding!r}.')


def _require_ndim(array, ndim: int, name: str, layout: str) -> None:
    if np.ndim(array) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions {layout}, got shape {np.shape(array)}.")


def conv2d(x, w, b=None, stride=1, padding="valid"):
    """``tf.nn.conv2d(x, w) + b``: x (N, H, W, C_in), w (kh, kw, C_in, C_out), b (C_out,)."""
    import tensorflow as tf

    _require_ndim(x, 4, "x", "(N, H, W, C_in)")
    _require_ndim(w, 4, "w", "(kh, kw, C_in, C_out)")
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"x has {x.shape[3]} channels but w expects {w.shape[2]} (w.shape[2]).")
    y = tf.nn.conv2d(x, w, strides=[1, *as_pair(stride, "stride"), 1], padding=tf_padding(padding))
    if b is not None:
        y = y + tf.constant(b, dtype=y.dtype)
    return y


def conv1d(x, w, stride=1):
    """Valid 1D cross-correlation of a signal x (L,) with a kernel w (k,): ``tf.nn.conv1d``."""
    import tensorflow as tf

    _require_ndim(x, 1, "x", "(L,)")
    _require_ndim(w, 1, "w", "(k,)")
    y = tf.nn.conv1d(x[None, :, None], w[:, None, None], stride=int(stride), padding="VALID")
    return y[0, :, 0]


def zero_pad(x, pad):
    """``tf.pad`` of the H and W axes of x (N, H, W, C); pad an int or ((top, bottom), (left, right))."""
    import tensorflow as tf

    _require_ndim(x, 4, "x", "(N, H, W, C)")
    if isinstance(pad, int | np.integer):
        pad = ((pad, pad), (pad, pad))
    (top, bottom), (left, right) = pad
    return tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])


def output_size(n: int, f: int, stride: int = 1, padding="valid") -> int:
    """Output length along one axis, read from the shape ``tf.nn.conv2d`` returns."""
    import tensorflow as tf

    x = tf.zeros((1, n, 1, 1))
    w = tf.zeros((f, 1, 1, 1))
    return int(tf.nn.conv2d(x, w, strides=[1, stride, 1, 1], padding=tf_padding(padding)).shape[1])


def count_conv_params(f, c_in: int, c_out: int, bias: bool = True) -> int:
    """Parameters of ``keras.layers.Conv2D(c_out, f, use_bias=bias)`` on ``c_in`` channels."""
    import keras

    layer = keras.layers.Conv2D(c_out, as_pair(f, "f"), use_bias=bias)
    layer.build((None, None, None, c_in))
    return int(layer.count_params())
