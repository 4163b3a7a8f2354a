"""Deliberately wrong pooling implementations: each one must lose points.

They are the mistakes students make (windows side by side only, the stride
ignored, padding counted in the average, zeros instead of -inf, the extra
padding row on the wrong side, the lecture's size formula rounded down, NCHW
axes, TensorFlow instead of numpy).  ``tests/test_pooling.py`` checks that
every one scores < 1.0 on the hidden checks, or is refused outright.
"""

from __future__ import annotations

import numpy as np


# --------------------------------------------------------------- pool_output_size
def _validate_size(n, pool, stride, padding):
    for name, value in (("n", n), ("pool", pool), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if padding not in ("valid", "same"):
        raise ValueError(f"bad padding {padding!r}")
    if padding == "valid" and pool > n:
        raise ValueError("window larger than input")


def size_lecture_formula_floor(n, pool, stride, padding):
    """(n - pool + 1) // stride: right only where stride divides n - pool + 1."""
    _validate_size(n, pool, stride, padding)
    return (n - pool + 1) // stride if padding == "valid" else -(-n // stride)


def size_lecture_formula_float(n, pool, stride, padding):
    """(n - pool + 1) / stride and n / stride, as written on the slide: floats."""
    _validate_size(n, pool, stride, padding)
    return (n - pool + 1) / stride if padding == "valid" else n / stride


def size_missing_plus_one(n, pool, stride, padding):
    _validate_size(n, pool, stride, padding)
    return (n - pool) // stride if padding == "valid" else -(-n // stride)


def size_same_rounds_down(n, pool, stride, padding):
    _validate_size(n, pool, stride, padding)
    return (n - pool) // stride + 1 if padding == "valid" else n // stride


def size_window_as_large_raises(n, pool, stride, padding):
    """Refuses a 'valid' window as large as the input (pool >= n instead of pool > n)."""
    _validate_size(n, pool, stride, padding)
    if padding == "valid" and pool >= n:
        raise ValueError("window larger than input")
    return (n - pool) // stride + 1 if padding == "valid" else -(-n // stride)


def size_no_validation(n, pool, stride, padding):
    """Right formulas, but no ValueError: anything that is not "same" counts as "valid"."""
    return -(-n // stride) if padding == "same" else (n - pool) // stride + 1


def size_uses_tensorflow(n, pool, stride, padding):
    import tensorflow as tf

    out = tf.nn.max_pool2d(tf.zeros((1, n, 1, 1)), (pool, 1), (stride, 1), padding.upper())
    return int(out.shape[1])


# -------------------------------------------------------------------------- pool2d
def _pair(value):
    return (value, value) if isinstance(value, int | np.integer) else tuple(value)


def _pool(x, pool_size, stride, padding, mode, *, pad_value=-np.inf, count_padding=False,
          extra_first=False, validate=True, drop_last=False, validate_width=True):
    """A correct numpy pooling, with knobs that switch on one mistake each."""
    x = np.asarray(x, dtype=np.float64)
    if validate and (x.ndim != 4 or mode not in ("max", "avg") or padding not in ("valid", "same")):
        raise ValueError("bad arguments")
    (ph, pw), (sh, sw) = _pair(pool_size), _pair(stride)
    n, h, w, c = x.shape
    if padding == "same":
        out_h, out_w = -(-h // sh), -(-w // sw)
    else:
        if validate and (ph > h or (validate_width and pw > w)):
            raise ValueError("window larger than input")
        out_h, out_w = (h - ph) // sh + 1, (w - pw) // sw + 1
    total_h = max((out_h - 1) * sh + ph - h, 0)
    total_w = max((out_w - 1) * sw + pw - w, 0)
    top = (total_h + 1) // 2 if extra_first else total_h // 2
    left = (total_w + 1) // 2 if extra_first else total_w // 2
    fill = pad_value if mode == "max" else 0.0
    padded = np.full((n, h + total_h, w + total_w, c), fill)
    padded[:, top:top + h, left:left + w] = x
    inside = np.zeros(padded.shape[1:3])
    inside[top:top + h, left:left + w] = 1
    out = np.zeros((n, out_h, out_w, c))
    for i in range(out_h - int(drop_last)):
        for j in range(out_w):
            window = padded[:, i * sh:i * sh + ph, j * sw:j * sw + pw]
            count = ph * pw if count_padding else inside[i * sh:i * sh + ph, j * sw:j * sw + pw].sum()
            out[:, i, j] = window.max(axis=(1, 2)) if mode == "max" else window.sum(axis=(1, 2)) / count
    return out


def pool_reshape_trick(x, pool_size, stride=None, padding="valid", mode="max"):
    """Windows side by side only: crop, reshape, reduce (stride and padding ignored)."""
    x = np.asarray(x, dtype=np.float64)
    ph, pw = _pair(pool_size)
    n, h, w, c = x.shape
    cropped = x[:, : h // ph * ph, : w // pw * pw]
    blocks = cropped.reshape(n, h // ph, ph, w // pw, pw, c)
    return blocks.max(axis=(2, 4)) if mode == "max" else blocks.mean(axis=(2, 4))


def pool_stride_ignored(x, pool_size, stride=None, padding="valid", mode="max"):
    return _pool(x, pool_size, 1, padding, mode)


def pool_default_stride_one(x, pool_size, stride=None, padding="valid", mode="max"):
    """stride=None taken as 1 instead of pool_size."""
    return _pool(x, pool_size, 1 if stride is None else stride, padding, mode)


def pool_avg_counts_padding(x, pool_size, stride=None, padding="valid", mode="max"):
    return _pool(x, pool_size, stride or pool_size, padding, mode, count_padding=True)


def pool_max_pads_zeros(x, pool_size, stride=None, padding="valid", mode="max"):
    return _pool(x, pool_size, stride or pool_size, padding, mode, pad_value=0.0)


def pool_symmetric_same(x, pool_size, stride=None, padding="valid", mode="max"):
    """The extra padding row/column on the top/left instead of the bottom/right."""
    return _pool(x, pool_size, stride or pool_size, padding, mode, extra_first=True)


def pool_last_row_dropped(x, pool_size, stride=None, padding="valid", mode="max"):
    """Off by one: the loop over output rows stops one row early (that row stays 0)."""
    return _pool(x, pool_size, stride or pool_size, padding, mode, drop_last=True)


def pool_checks_height_only(x, pool_size, stride=None, padding="valid", mode="max"):
    """'valid' refuses a window taller than the input, but not one wider than it
    (it then returns an empty output)."""
    return _pool(x, pool_size, stride or pool_size, padding, mode, validate_width=False)


def pool_no_validation(x, pool_size, stride=None, padding="valid", mode="max"):
    """Right values, but an unknown mode quietly averages and nothing else is checked."""
    mode = "max" if mode == "max" else "avg"
    return _pool(x, pool_size, stride or pool_size, padding, mode, validate=False)


def pool_uses_tensorflow(x, pool_size, stride=None, padding="valid", mode="max"):
    import tensorflow as tf

    op = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    x = np.asarray(x, dtype=np.float32)
    return op(x, pool_size, stride or pool_size, padding.upper()).numpy()


# ------------------------------------------------------------- global_average_pool
def gap_nchw_axes(x):
    return np.asarray(x).mean(axis=(2, 3))


def gap_sum(x):
    return np.asarray(x).sum(axis=(1, 2))


def gap_global_max(x):
    return np.asarray(x).max(axis=(1, 2))


def gap_averages_channels_too(x):
    return np.asarray(x).mean(axis=(1, 2, 3))


def gap_no_validation(x):
    return np.asarray(x).mean(axis=(1, 2))


def gap_uses_keras(x):
    import keras

    return keras.ops.convert_to_numpy(keras.layers.GlobalAveragePooling2D()(np.asarray(x)))


WRONG_IMPLEMENTATIONS = {
    "pool_output_size": [
        size_lecture_formula_floor,
        size_lecture_formula_float,
        size_missing_plus_one,
        size_same_rounds_down,
        size_window_as_large_raises,
        size_no_validation,
        size_uses_tensorflow,
    ],
    "pool2d": [
        pool_reshape_trick,
        pool_stride_ignored,
        pool_default_stride_one,
        pool_avg_counts_padding,
        pool_max_pads_zeros,
        pool_symmetric_same,
        pool_last_row_dropped,
        pool_checks_height_only,
        pool_no_validation,
        pool_uses_tensorflow,
    ],
    "global_average_pool": [
        gap_nchw_axes,
        gap_sum,
        gap_global_max,
        gap_averages_channels_too,
        gap_no_validation,
        gap_uses_keras,
    ],
}

# The hint each mistake must trigger in the public checks (a substring of the message).
EXPECTED_HINTS = {
    size_lecture_formula_floor: "lecture's formula",
    size_lecture_formula_float: "expected an int",
    size_missing_plus_one: "forget the + 1",
    size_same_rounds_down: "Round up",
    size_window_as_large_raises: "but these arguments are valid",
    size_no_validation: "expected a ValueError",
    size_uses_tensorflow: "calls TensorFlow",
    pool_reshape_trick: "side by side",
    pool_stride_ignored: "stride 1",
    pool_default_stride_one: "defaults to pool_size",
    pool_avg_counts_padding: "count the padded zeros",
    pool_max_pads_zeros: "pads with zeros",
    pool_symmetric_same: "smaller half first",
    pool_last_row_dropped: "First wrong position",
    pool_checks_height_only: "expected a ValueError",
    pool_no_validation: "expected a ValueError",
    pool_uses_tensorflow: "calls TensorFlow",
    gap_nchw_axes: "NCHW",
    gap_sum: "divide by H * W",
    gap_global_max: "global max pooling",
    gap_averages_channels_too: "keep axis 3",
    gap_no_validation: "expected a ValueError",
    gap_uses_keras: "calls TensorFlow",
}
