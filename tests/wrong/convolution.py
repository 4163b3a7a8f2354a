"""Plausible wrong answers to the "Convolution" exercises.

Each function is a complete implementation with one classic mistake, named in
its docstring. ``tests/test_convolution.py`` requires that the hidden check
scores every one of them below 1.0 (or raises ``CheckFailure``).
"""

from __future__ import annotations

import math

import numpy as np


# ------------------------------------------------------------- helpers (correct)
def _pair(value):
    return (value, value) if isinstance(value, int | np.integer) else tuple(value)


def _tf_pads(n, f, s, padding):
    """Correct TensorFlow padding (before, after) along one axis."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = max((math.ceil(n / s) - 1) * s + f - n, 0)
        return total // 2, total - total // 2
    return padding, padding


def _loop_conv2d(xp, w, b, sh, sw, n_rows=None, n_cols=None):
    """Cross-correlate an already padded input, loop over positions (correct by default)."""
    kh, kw, _, c_out = w.shape
    n_rows = (xp.shape[1] - kh) // sh + 1 if n_rows is None else n_rows
    n_cols = (xp.shape[2] - kw) // sw + 1 if n_cols is None else n_cols
    y = np.zeros((xp.shape[0], n_rows, n_cols, c_out), dtype=np.float32)
    for i in range(n_rows):
        for j in range(n_cols):
            y[:, i, j, :] = np.tensordot(xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :], w, axes=3)
    return y if b is None else y + b


def _pad_tf(x, w, stride, padding):
    (sh, sw), (kh, kw) = _pair(stride), w.shape[:2]
    rows, cols = _tf_pads(x.shape[1], kh, sh, padding), _tf_pads(x.shape[2], kw, sw, padding)
    return np.pad(x, ((0, 0), rows, cols, (0, 0))), sh, sw


# --------------------------------------------------------------- conv_output_size
def size_no_floor(n, f, stride=1, padding="valid"):
    """Forgets the floor: returns (n + 2p - f) / s + 1 as a float (the slide's 125.5 -> 126.5)."""
    if padding == "same":
        return math.ceil(n / stride)
    p = 0 if padding == "valid" else padding
    return (n + 2 * p - f) / stride + 1


def size_same_floor(n, f, stride=1, padding="valid"):
    """'same' computed as floor(n / s) instead of ceil(n / s)."""
    if padding == "same":
        return n // stride
    p = 0 if padding == "valid" else padding
    return (n + 2 * p - f) // stride + 1


def size_ignores_int_padding(n, f, stride=1, padding="valid"):
    """Treats an integer padding as 'valid' (p forgotten in the formula)."""
    if padding == "same":
        return math.ceil(n / stride)
    return (n - f) // stride + 1


def size_no_validation(n, f, stride=1, padding="valid"):
    """Right formula, but bad arguments (padding='full', stride 0, ...) pass silently."""
    if padding == "same":
        return -(-n // stride) if stride else n
    p = padding if isinstance(padding, int) else 0
    return (n + 2 * p - f) // stride + 1 if stride else n


def size_rejects_large_kernel(n, f, stride=1, padding="valid"):
    """Raises ValueError whenever f > n, even when the padding ('same', p) makes the kernel fit."""
    if f > n:
        raise ValueError("the kernel is larger than the input")
    if padding == "same":
        return math.ceil(n / stride)
    p = 0 if padding == "valid" else padding
    return (n + 2 * p - f) // stride + 1


def size_same_symmetric(n, f, stride=1, padding="valid"):
    """'same' taken as the integer padding p = (f - 1) // 2 on each side: wrong for even kernels."""
    if stride < 1 or not (padding in ("valid", "same") or isinstance(padding, int) and padding >= 0):
        raise ValueError("bad arguments")
    p = (f - 1) // 2 if padding == "same" else (0 if padding == "valid" else padding)
    if f > n + 2 * p:
        raise ValueError("the kernel is larger than the padded input")
    return (n + 2 * p - f) // stride + 1


# ----------------------------------------------------------------------- zero_pad
def _pad_spec(pad):
    return ((pad, pad), (pad, pad)) if isinstance(pad, int | np.integer) else pad


def zero_pad_all_axes(x, pad):
    """Pads the batch and channel axes too (np.pad(x, p) with an int)."""
    if isinstance(pad, int | np.integer):
        return np.pad(x, pad)
    (top, bottom), (left, right) = pad
    return np.pad(x, ((top, bottom), (top, bottom), (left, right), (left, right)))


def zero_pad_swapped(x, pad):
    """Reads the pair as ((left, right), (top, bottom)): rows and columns swapped."""
    (top, bottom), (left, right) = _pad_spec(pad)
    return np.pad(x, ((0, 0), (left, right), (top, bottom), (0, 0)))


def zero_pad_float64(x, pad):
    """Builds the output with np.zeros(shape) and so always returns float64."""
    (top, bottom), (left, right) = _pad_spec(pad)
    n, h, w, c = x.shape
    out = np.zeros((n, h + top + bottom, w + left + right, c))
    out[:, top:top + h, left:left + w, :] = x
    return out


def zero_pad_negative_slice(x, pad):
    """Copies into out[:, p:-p, p:-p]: breaks for pad 0 (empty slice) and asymmetric pads."""
    (top, bottom), (left, right) = _pad_spec(pad)
    n, h, w, c = x.shape
    out = np.zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    out[:, top:-bottom, left:-right, :] = x
    return out


# ------------------------------------------------------------------------- conv1d
def conv1d_flipped(x, w, stride=1):
    """Uses np.convolve: the true convolution, with the kernel flipped."""
    return np.convolve(x, w, mode="valid")[::stride]


def conv1d_missing_stride(x, w, stride=1):
    """Ignores the stride: always slides one position at a time."""
    return np.array([x[i:i + len(w)] @ w for i in range(len(x) - len(w) + 1)])


def conv1d_off_by_one(x, w, stride=1):
    """range((L - k) // s) drops the last window."""
    return np.array([x[i * stride:i * stride + len(w)] @ w for i in range((len(x) - len(w)) // stride)])


def conv1d_uses_tensorflow(x, w, stride=1):
    """Hands in tf.nn.conv1d's work."""
    import tensorflow as tf

    return tf.nn.conv1d(x[None, :, None], w[:, None, None], stride, "VALID").numpy()[0, :, 0]


# ------------------------------------------------------------------------- conv2d
def conv2d_missing_stride(x, w, b=None, stride=1, padding="valid"):
    """Pads correctly but slides one pixel at a time whatever the stride."""
    xp, _, _ = _pad_tf(x, w, stride, padding)
    return _loop_conv2d(xp, w, b, 1, 1)


def conv2d_flipped_kernel(x, w, b=None, stride=1, padding="valid"):
    """The mathematical convolution: flips the kernel before sliding it."""
    xp, sh, sw = _pad_tf(x, w, stride, padding)
    return _loop_conv2d(xp, w[::-1, ::-1], b, sh, sw)


def conv2d_same_symmetric_padding(x, w, b=None, stride=1, padding="valid"):
    """'same' puts the extra zero at the top/left (ceil before, floor after)."""
    (sh, sw), (kh, kw) = _pair(stride), w.shape[:2]
    pads = []
    for n, f, s in ((x.shape[1], kh, sh), (x.shape[2], kw, sw)):
        before, after = _tf_pads(n, f, s, padding)
        pads.append((after, before))
    return _loop_conv2d(np.pad(x, ((0, 0), *pads, (0, 0))), w, b, sh, sw)


def conv2d_ignores_padding(x, w, b=None, stride=1, padding="valid"):
    """Never pads: every padding behaves like 'valid'."""
    (sh, sw) = _pair(stride)
    return _loop_conv2d(x, w, b, sh, sw)


def conv2d_forgets_bias(x, w, b=None, stride=1, padding="valid"):
    """Computes the sums but never adds b."""
    xp, sh, sw = _pad_tf(x, w, stride, padding)
    return _loop_conv2d(xp, w, None, sh, sw)


def conv2d_off_by_one(x, w, b=None, stride=1, padding="valid"):
    """Output size (H - kh) // s instead of (H - kh) // s + 1: the last row/column is lost."""
    xp, sh, sw = _pad_tf(x, w, stride, padding)
    kh, kw = w.shape[:2]
    return _loop_conv2d(xp, w, b, sh, sw, (xp.shape[1] - kh) // sh, (xp.shape[2] - kw) // sw)


def conv2d_same_stride1_padding(x, w, b=None, stride=1, padding="valid"):
    """'same' pads kh - 1 rows and kw - 1 columns (the stride-1 rule) whatever the stride.

    The output shape is right (ceil(n / s)), and so are the values whenever
    (kh - 1) // 2 equals TensorFlow's pad_total // 2: every odd kernel at stride 1,
    and some strided cases (n = 7, f = 3, s = 2), but not n = 6, f = 3, s = 2.
    """
    (sh, sw), (kh, kw) = _pair(stride), w.shape[:2]
    if padding != "same":
        xp, sh, sw = _pad_tf(x, w, stride, padding)
        return _loop_conv2d(xp, w, b, sh, sw)
    rows, cols = ((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2)
    return _loop_conv2d(np.pad(x, ((0, 0), rows, cols, (0, 0))), w, b, sh, sw,
                        math.ceil(x.shape[1] / sh), math.ceil(x.shape[2] / sw))


def conv2d_same_unclamped(x, w, b=None, stride=1, padding="valid"):
    """pad_total = (ceil(n/s) - 1) * s + f - n without max(., 0): negative when the stride
    skips the last values (n = 8, f = 1, s = 3), and np.pad refuses a negative width."""
    (sh, sw), (kh, kw) = _pair(stride), w.shape[:2]
    if padding != "same":
        xp, sh, sw = _pad_tf(x, w, stride, padding)
        return _loop_conv2d(xp, w, b, sh, sw)
    pads = []
    for n, f, s in ((x.shape[1], kh, sh), (x.shape[2], kw, sw)):
        total = (math.ceil(n / s) - 1) * s + f - n
        pads.append((total // 2, total - total // 2))
    return _loop_conv2d(np.pad(x, ((0, 0), *pads, (0, 0))), w, b, sh, sw)


def conv2d_rejects_large_kernel(x, w, b=None, stride=1, padding="valid"):
    """Raises ValueError when the kernel is larger than the input, before padding it."""
    if w.shape[0] > x.shape[1] or w.shape[1] > x.shape[2]:
        raise ValueError("the kernel is larger than the input")
    xp, sh, sw = _pad_tf(x, w, stride, padding)
    return _loop_conv2d(xp, w, b, sh, sw)


def conv2d_uses_tensorflow(x, w, b=None, stride=1, padding="valid"):
    """Hands in tf.nn.conv2d's work."""
    import tensorflow as tf

    xp, sh, sw = _pad_tf(x, w, stride, padding)
    y = tf.nn.conv2d(xp, w, [1, sh, sw, 1], "VALID").numpy()
    return y if b is None else y + b


# -------------------------------------------------------------------- conv2d_fast
def _windows(x, w, stride, padding):
    xp, sh, sw = _pad_tf(x, w, stride, padding)
    return np.lib.stride_tricks.sliding_window_view(xp, w.shape[:2], axis=(1, 2)), sh, sw


def conv2d_fast_im2col_wrong_order(x, w, b=None, stride=1, padding="valid"):
    """im2col columns in (C_in, kh, kw) order multiplied by w.reshape(-1, C_out) in (kh, kw, C_in) order."""
    windows, sh, sw = _windows(x, w, stride, padding)
    windows = windows[:, ::sh, ::sw]
    n, ho, wo = windows.shape[:3]
    y = windows.reshape(n * ho * wo, -1) @ w.reshape(-1, w.shape[3])
    y = y.reshape(n, ho, wo, -1)
    return y if b is None else y + b


def conv2d_fast_missing_stride(x, w, b=None, stride=1, padding="valid"):
    """Keeps every window: the stride slicing [::s] is forgotten."""
    windows, _, _ = _windows(x, w, stride, padding)
    y = np.einsum("nhwcij,ijco->nhwo", windows, w)
    return y if b is None else y + b


def conv2d_fast_flipped(x, w, b=None, stride=1, padding="valid"):
    """einsum against w[::-1, ::-1]: the flipped (mathematical) convolution."""
    windows, sh, sw = _windows(x, w, stride, padding)
    y = np.einsum("nhwcij,ijco->nhwo", windows[:, ::sh, ::sw], w[::-1, ::-1])
    return y if b is None else y + b


def conv2d_fast_forgets_bias(x, w, b=None, stride=1, padding="valid"):
    """Vectorised correctly, but b is never added."""
    windows, sh, sw = _windows(x, w, stride, padding)
    return np.einsum("nhwcij,ijco->nhwo", windows[:, ::sh, ::sw], w)


def conv2d_fast_loops(x, w, b=None, stride=1, padding="valid"):
    """A copy of the loop version: right values, but a Python loop over every output position."""
    xp, sh, sw = _pad_tf(x, w, stride, padding)
    return _loop_conv2d(xp, w, b, sh, sw)


def conv2d_fast_row_loop(x, w, b=None, stride=1, padding="valid"):
    """Vectorised along each row, but a Python loop over the output rows."""
    windows, sh, sw = _windows(x, w, stride, padding)
    windows = windows[:, ::sh, ::sw]
    y = np.stack([np.einsum("nwcij,ijco->nwo", windows[:, i], w) for i in range(windows.shape[1])], axis=1)
    return y if b is None else y + b


# -------------------------------------------------------------- count_conv_params
def params_forgets_channels(f, c_in, c_out, bias=True):
    """Counts kh * kw weights per filter, as if every filter saw one channel."""
    kh, kw = _pair(f)
    return kh * kw * c_out + (c_out if bias else 0)


def params_one_bias(f, c_in, c_out, bias=True):
    """Counts a single bias for the layer instead of one per filter."""
    kh, kw = _pair(f)
    return kh * kw * c_in * c_out + (1 if bias else 0)


def params_square_only(f, c_in, c_out, bias=True):
    """Uses f[0] ** 2 for a (kh, kw) pair: rectangular kernels counted as squares."""
    k = f if isinstance(f, int) else f[0]
    return k * k * c_in * c_out + (c_out if bias else 0)


def params_ignores_bias_flag(f, c_in, c_out, bias=True):
    """Always adds the biases, even with bias=False."""
    kh, kw = _pair(f)
    return (kh * kw * c_in + 1) * c_out


WRONG_IMPLEMENTATIONS = {
    "conv_output_size": [size_no_floor, size_same_floor, size_ignores_int_padding, size_no_validation,
                         size_rejects_large_kernel, size_same_symmetric],
    "zero_pad": [zero_pad_all_axes, zero_pad_swapped, zero_pad_float64, zero_pad_negative_slice],
    "conv1d": [conv1d_flipped, conv1d_missing_stride, conv1d_off_by_one, conv1d_uses_tensorflow],
    "conv2d": [conv2d_missing_stride, conv2d_flipped_kernel, conv2d_same_symmetric_padding,
               conv2d_ignores_padding, conv2d_forgets_bias, conv2d_off_by_one, conv2d_uses_tensorflow,
               conv2d_same_stride1_padding, conv2d_same_unclamped, conv2d_rejects_large_kernel],
    "conv2d_fast": [conv2d_fast_im2col_wrong_order, conv2d_fast_missing_stride, conv2d_fast_flipped,
                    conv2d_fast_forgets_bias, conv2d_uses_tensorflow, conv2d_fast_loops,
                    conv2d_fast_row_loop],
    "count_conv_params": [params_forgets_channels, params_one_bias, params_square_only,
                          params_ignores_bias_flag],
}
