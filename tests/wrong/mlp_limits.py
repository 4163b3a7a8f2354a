"""Plausible wrong answers to the "Why MLPs are not enough" exercises.

Each function is a complete implementation with one classic mistake, named in
its docstring. ``tests/test_mlp_limits.py`` requires that the hidden check
scores every one of them below 1.0 (or raises ``CheckFailure``).
"""

from __future__ import annotations

import math

import keras
import numpy as np


# ------------------------------------------------------------------------ sigmoid
def sigmoid_sign_flipped(s, a=1.0):
    """exp(+a s) instead of exp(-a s): computes 1 - sigmoid."""
    return 1.0 / (1.0 + np.exp(np.clip(a * np.asarray(s, float), -500, 500)))


def sigmoid_ignores_slope(s, a=1.0):
    """Forgets the slope a."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(s, float)))


def sigmoid_overflows(s, a=1.0):
    """The textbook formula: np.exp(1000) overflows (a RuntimeWarning on stderr)."""
    return 1.0 / (1.0 + np.exp(-a * np.asarray(s, float)))


def sigmoid_tanh(s, a=1.0):
    """Uses tanh, whose range is (-1, 1), not (0, 1)."""
    return np.tanh(a * np.asarray(s, float))


# ------------------------------------------------------------- perceptron_predict
def perceptron_sign(x, w, b):
    """np.sign: outputs -1/+1 (and 0 on the line) instead of 0/1."""
    return np.sign(x @ w + b).astype(int)


def perceptron_no_bias(x, w, b):
    """Forgets the bias b."""
    return (x @ w >= 0).astype(int)


def perceptron_strict(x, w, b):
    """s > 0 instead of s >= 0: points on the line become 0."""
    return (x @ w + b > 0).astype(int)


def perceptron_returns_score(x, w, b):
    """Returns the score s, without the step."""
    return x @ w + b


# -------------------------------------------------------------- dense_param_count
def count_no_bias(input_shape, units, bias=True):
    """Never counts the biases."""
    return math.prod(input_shape) * units


def count_always_bias(input_shape, units, bias=True):
    """Counts the biases even when bias=False."""
    return math.prod(input_shape) * units + units


def count_ignores_channels(input_shape, units, bias=True):
    """Uses H x W only, forgetting the channels of a colour image."""
    return math.prod(input_shape[:2]) * units + (units if bias else 0)


def count_bias_per_input(input_shape, units, bias=True):
    """One bias per input instead of one per unit."""
    n_inputs = math.prod(input_shape)
    return n_inputs * units + (n_inputs if bias else 0)


# ------------------------------------------------------------------- shift_images
def _slices(n, d):
    return slice(max(d, 0), n + min(d, 0)), slice(max(-d, 0), n + min(-d, 0))


def _correct_shift(x, dx, dy):
    x = np.asarray(x)
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    (r_to, r_from), (c_to, c_from) = _slices(h, dy), _slices(w, dx)
    out[:, r_to, c_to] = x[:, r_from, c_from]
    return out


def shift_wraps_around(x, dx, dy):
    """np.roll: the pixels that leave on one side come back on the other."""
    return np.roll(x, (dy, dx), axis=(1, 2))


def shift_swapped(x, dx, dy):
    """dx moves the rows and dy the columns."""
    return _correct_shift(x, dy, dx)


def shift_wrong_direction(x, dx, dy):
    """A positive dx moves the content left, a positive dy up."""
    return _correct_shift(x, -dx, -dy)


def shift_off_by_one(x, dx, dy):
    """Shifts one pixel too far to the right whenever dx is not 0."""
    return _correct_shift(x, dx + int(np.sign(dx)), dy)


def shift_in_place(x, dx, dy):
    """Writes the result into the input array."""
    shifted = _correct_shift(x, dx, dy)
    x[...] = shifted
    return x


def shift_as_float(x, dx, dy):
    """Returns float64 whatever the input dtype (uint8 images change type)."""
    return _correct_shift(x, dx, dy).astype(np.float64)


def shift_no_validation(x, dx, dy):
    """Right shifts, but a 2-D or 5-D x is not refused: no ValueError."""
    x = np.asarray(x)
    if x.ndim < 3:
        return np.zeros_like(x)
    return _correct_shift(x, dx, dy)


# ---------------------------------------------------------------------- build_mlp
def mlp_softmax_output(input_shape, hidden_units, n_classes, activation="relu"):
    """Softmax on the last layer: returns probabilities, not logits."""
    model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten()])
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation=activation))
    model.add(keras.layers.Dense(n_classes, activation="softmax"))
    return model


def mlp_first_hidden_only(input_shape, hidden_units, n_classes, activation="relu"):
    """Builds only the first hidden layer."""
    model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten()])
    for units in hidden_units[:1]:
        model.add(keras.layers.Dense(units, activation=activation))
    model.add(keras.layers.Dense(n_classes))
    return model


def mlp_always_relu(input_shape, hidden_units, n_classes, activation="relu"):
    """Ignores the activation argument."""
    model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten()])
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation="relu"))
    model.add(keras.layers.Dense(n_classes))
    return model


def mlp_no_flatten(input_shape, hidden_units, n_classes, activation="relu"):
    """No Flatten: Dense acts on the last axis only, one output per row of the image."""
    model = keras.Sequential([keras.Input(input_shape)])
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation=activation))
    model.add(keras.layers.Dense(n_classes))
    return model


def mlp_activation_on_logits(input_shape, hidden_units, n_classes, activation="relu"):
    """Applies the activation to the output layer too (relu logits are never negative)."""
    model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten()])
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation=activation))
    model.add(keras.layers.Dense(n_classes, activation=activation))
    return model


# ----------------------------------------------------------- accuracy_under_shift
def _predict(model, x):
    return np.asarray(model(x, training=False)).argmax(axis=-1)


def accuracy_not_shifted(model, x, y, shifts):
    """Forgets to shift: every entry is the accuracy on the original images."""
    accuracy = float(np.mean(_predict(model, x) == y))
    return {(dx, dy): accuracy for dx, dy in shifts}


def accuracy_swapped_shift(model, x, y, shifts):
    """Calls the shift with (dy, dx)."""
    return {(dx, dy): float(np.mean(_predict(model, _correct_shift(x, dy, dx)) == y)) for dx, dy in shifts}


def accuracy_error_rate(model, x, y, shifts):
    """Returns the error rate instead of the accuracy."""
    return {(dx, dy): float(np.mean(_predict(model, _correct_shift(x, dx, dy)) != y)) for dx, dy in shifts}


def accuracy_counts(model, x, y, shifts):
    """Returns the number of correct predictions, not the fraction."""
    return {(dx, dy): float(np.sum(_predict(model, _correct_shift(x, dx, dy)) == y)) for dx, dy in shifts}


def accuracy_wraps_around(model, x, y, shifts):
    """Shifts with np.roll (wrap-around)."""
    return {(dx, dy): float(np.mean(_predict(model, np.roll(x, (dy, dx), axis=(1, 2))) == y))
            for dx, dy in shifts}


WRONG_IMPLEMENTATIONS = {
    "sigmoid": [sigmoid_sign_flipped, sigmoid_ignores_slope, sigmoid_overflows, sigmoid_tanh],
    "perceptron_predict": [perceptron_sign, perceptron_no_bias, perceptron_strict, perceptron_returns_score],
    "dense_param_count": [count_no_bias, count_always_bias, count_ignores_channels, count_bias_per_input],
    "shift_images": [shift_wraps_around, shift_swapped, shift_wrong_direction, shift_off_by_one,
                     shift_in_place, shift_as_float, shift_no_validation],
    "build_mlp": [mlp_softmax_output, mlp_first_hidden_only, mlp_always_relu, mlp_no_flatten,
                  mlp_activation_on_logits],
    "accuracy_under_shift": [accuracy_not_shifted, accuracy_swapped_shift, accuracy_error_rate,
                             accuracy_counts, accuracy_wraps_around],
}
