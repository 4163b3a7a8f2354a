"""Reference pooling: thin wrappers around TensorFlow ops, plus the classic mistakes.

Every function takes numpy arrays and returns a TensorFlow tensor; run them
through :func:`autograder.core.run_reference` to get numpy back on the
reference device.  Conventions are TensorFlow's: NHWC inputs, ``"valid"`` or
``"same"`` padding, ``stride=None`` meaning ``stride = pool_size`` (as Keras).

TensorFlow's ``"same"`` pads ``max((ceil(n/s) - 1) * s + k - n, 0)`` values
along an axis, the smaller half on top/left; padded values never win a max
and are left out of an average.  :func:`pool2d_explicit` reproduces that with
explicit pads, which lets the checks build the classic wrong variants (zeros
instead of -inf, padding counted in the average, the extra pad on the wrong
side) and recognise them in a student's output.
"""

from __future__ import annotations

import numpy as np

from autograder.reference.convolution import as_pair

MODES = ("max", "avg")
PADDINGS = ("valid", "same")


def _check_mode_padding(mode, padding) -> None:
    if mode not in MODES:
        raise ValueError(f'mode must be "max" or "avg", got {mode!r}.')
    if padding not in PADDINGS:
        raise ValueError(f'padding must be "valid" or "same", got {padding!r}.')


def _as_float32_nhwc(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"x must have 4 dimensions (N, H, W, C), got shape {x.shape}.")
    return x


def pool2d(x, pool_size, stride=None, padding="valid", mode="max"):
    """``tf.nn.max_pool2d`` or ``tf.nn.avg_pool2d`` of x (N, H, W, C), in float32."""
    import tensorflow as tf

    _check_mode_padding(mode, padding)
    x = _as_float32_nhwc(x)
    ksize = as_pair(pool_size, "pool_size")
    strides = ksize if stride is None else as_pair(stride, "stride")
    op = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    return op(x, ksize=ksize, strides=strides, padding=padding.upper())


def pool_output_size(n: int, pool: int, stride: int, padding: str):
    """Output length along one axis, read from the shape ``tf.nn.max_pool2d`` returns.

    Raises ValueError where no window fits (``"valid"`` with ``pool > n``), where
    TensorFlow returns an empty output or refuses.
    """
    import tensorflow as tf

    _check_mode_padding("max", padding)
    try:
        out = tf.nn.max_pool2d(
            tf.zeros((1, n, 1, 1)), ksize=(pool, 1), strides=(stride, 1), padding=padding.upper()
        )
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(f"no {pool}-wide window fits in {n} values: {error.message}") from error
    if out.shape[1] < 1:
        raise ValueError(f"no {pool}-wide window fits in {n} values.")
    return tf.constant(out.shape[1])


def global_average_pool(x):
    """``keras.layers.GlobalAveragePooling2D`` of x (N, H, W, C): shape (N, C)."""
    import keras

    return keras.layers.GlobalAveragePooling2D()(_as_float32_nhwc(x))


# ------------------------------------------------------------- explicit padding
def same_pads(n: int, pool: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``"same"`` padding along one axis: (before, after), the extra one after."""
    total = max((-(-n // stride) - 1) * stride + pool - n, 0)
    return total // 2, total - total // 2


def pool2d_explicit(x, pool_size, stride, pads, mode="max", pad_value=-np.inf, count_padding=False):
    """Pool x (N, H, W, C) after padding it by ``pads = ((top, bottom), (left, right))``.

    ``pad_value`` fills the border for max pooling; for average pooling the border
    holds zeros and ``count_padding`` says whether it counts in the divisor.
    With TF's pads, -inf and ``count_padding=False`` this equals ``"same"`` pooling.
    """
    import tensorflow as tf

    _check_mode_padding(mode, "valid")
    x = _as_float32_nhwc(x)
    ksize = as_pair(pool_size, "pool_size")
    strides = as_pair(stride, "stride")
    paddings = [[0, 0], list(pads[0]), list(pads[1]), [0, 0]]
    if mode == "max":
        padded = tf.pad(x, paddings, constant_values=float(pad_value))
        return tf.nn.max_pool2d(padded, ksize=ksize, strides=strides, padding="VALID")
    mean_with_padding = tf.nn.avg_pool2d(tf.pad(x, paddings), ksize, strides, "VALID")
    if count_padding:
        return mean_with_padding
    inside = tf.pad(tf.ones_like(x), paddings)
    return mean_with_padding / tf.nn.avg_pool2d(inside, ksize, strides, "VALID")


def tf_same_pads(shape, pool_size, stride) -> tuple[tuple[int, int], tuple[int, int]]:
    """TF's ``"same"`` pads for an input of ``shape`` (N, H, W, C)."""
    (ph, pw), (sh, sw) = as_pair(pool_size, "pool_size"), as_pair(stride, "stride")
    return same_pads(shape[1], ph, sh), same_pads(shape[2], pw, sw)
