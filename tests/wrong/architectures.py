"""Deliberately wrong implementations for the chapter on CNN architectures.

Each is a mistake students make: max instead of average pooling, ReLU instead
of tanh, a softmax on the logits, "valid" padding everywhere, no projection
shortcut, ReLU before the addition, the stride ignored, a missing BatchNorm,
the standard conv counted with biases, from_logits forgotten, an untrained
model.  ``tests/test_architectures.py`` checks that every one scores < 1.0 on
the hidden checks, or is refused outright.
"""

from __future__ import annotations

import keras
from keras import layers


# ------------------------------------------------------------------ build_lenet5
def _lenet(input_shape, n_classes, activation="tanh", pool=layers.AveragePooling2D,
           first_padding="same", last_activation=None):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(6, 5, padding=first_padding, activation=activation),
            pool(2),
            layers.Conv2D(16, 5, activation=activation),
            pool(2),
            layers.Flatten(),
            layers.Dense(120, activation=activation),
            layers.Dense(84, activation=activation),
            layers.Dense(n_classes, activation=last_activation),
        ]
    )


def lenet_max_pooling(input_shape, n_classes):
    return _lenet(input_shape, n_classes, pool=layers.MaxPooling2D)


def lenet_relu(input_shape, n_classes):
    return _lenet(input_shape, n_classes, activation="relu")


def lenet_softmax_output(input_shape, n_classes):
    return _lenet(input_shape, n_classes, last_activation="softmax")


def lenet_valid_padding(input_shape, n_classes):
    """The 32x32 original everywhere: a 28x28 input shrinks to 4x4 before Flatten."""
    return _lenet(input_shape, n_classes, first_padding="valid")


def lenet_ten_classes_always(input_shape, n_classes):
    return _lenet(input_shape, 10)


# -------------------------------------------------------------------- vgg_block
def vgg_no_pooling(x, filters, n_convs):
    for _ in range(n_convs):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return x


def vgg_valid_padding(x, filters, n_convs):
    for _ in range(n_convs):
        x = layers.Conv2D(filters, 3, padding="valid", activation="relu")(x)
    return layers.MaxPooling2D(2)(x)


def vgg_one_conv_only(x, filters, n_convs):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return layers.MaxPooling2D(2)(x)


def vgg_relu_after_pool(x, filters, n_convs):
    for _ in range(n_convs):
        x = layers.Conv2D(filters, 3, padding="same")(x)
    return layers.ReLU()(layers.MaxPooling2D(2)(x))  # one ReLU for the whole block


# --------------------------------------------------------------- residual_block
def _main_path(x, filters, stride):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    return layers.BatchNormalization()(y)


def _projection(x, filters, stride):
    shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
    return layers.BatchNormalization()(shortcut)


def residual_no_projection(x, filters, stride):
    """Always the identity shortcut: breaks as soon as the shapes change."""
    return layers.ReLU()(layers.Add()([_main_path(x, filters, stride), x]))


def residual_relu_before_add(x, filters, stride):
    y = layers.ReLU()(_main_path(x, filters, stride))
    shortcut = x if stride == 1 and x.shape[-1] == filters else _projection(x, filters, stride)
    return layers.Add()([y, shortcut])


def residual_stride_ignored(x, filters, stride):
    shortcut = x if x.shape[-1] == filters else _projection(x, filters, 1)
    return layers.ReLU()(layers.Add()([_main_path(x, filters, 1), shortcut]))


def residual_always_projection(x, filters, stride):
    y = _main_path(x, filters, stride)
    return layers.ReLU()(layers.Add()([y, _projection(x, filters, stride)]))


def residual_no_batchnorm_on_shortcut(x, filters, stride):
    y = _main_path(x, filters, stride)
    if stride != 1 or x.shape[-1] != filters:
        x = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
    return layers.ReLU()(layers.Add()([y, x]))


# -------------------------------------------------------------- separable_block
def separable_keras_layer(x, filters, stride=1):
    """keras.layers.SeparableConv2D: no BN and ReLU between depthwise and pointwise."""
    y = layers.SeparableConv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    return layers.ReLU()(layers.BatchNormalization()(y))


def separable_stride_on_pointwise(x, filters, stride=1):
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(y)
    return layers.ReLU()(layers.BatchNormalization()(y))


def separable_standard_conv(x, filters, stride=1):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    return layers.ReLU()(layers.BatchNormalization()(y))


def separable_no_final_relu(x, filters, stride=1):
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv2D(filters, 1, use_bias=False)(y)
    return layers.BatchNormalization()(y)


# ------------------------------------------------------- separable_param_saving
def _positive(*sizes):
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"sizes must be positive ints, got {size!r}")


def saving_with_biases(kernel_size, in_channels, out_channels):
    _positive(kernel_size, in_channels, out_channels)
    standard = kernel_size**2 * in_channels * out_channels + out_channels
    separable = kernel_size**2 * in_channels + in_channels + in_channels * out_channels + out_channels
    return standard, separable, separable / standard


def saving_depthwise_times_out(kernel_size, in_channels, out_channels):
    """Counts a full k*k*in*out in the depthwise step (no saving at all)."""
    _positive(kernel_size, in_channels, out_channels)
    standard = kernel_size**2 * in_channels * out_channels
    separable = standard + in_channels * out_channels
    return standard, separable, separable / standard


def saving_inverted_ratio(kernel_size, in_channels, out_channels):
    _positive(kernel_size, in_channels, out_channels)
    standard = kernel_size**2 * in_channels * out_channels
    separable = kernel_size**2 * in_channels + in_channels * out_channels
    return standard, separable, standard / separable


def saving_no_validation(kernel_size, in_channels, out_channels):
    standard = kernel_size**2 * in_channels * out_channels
    separable = kernel_size**2 * in_channels + in_channels * out_channels
    return standard, separable, separable / standard if standard else 0.0


# --------------------------------------------------- compile_for_integer_labels
def compile_probabilities_loss(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def compile_categorical_loss(model):
    model.compile(
        optimizer="adam",
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def compile_no_metric(model):
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def compile_returns_nothing(model):
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


# -------------------------------------------------------------- train_on_subset
def _small_model():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10),
        ]
    )


def train_untrained(x_train, y_train):
    return _small_model()


def train_shuffled_labels(x_train, y_train):
    import numpy as np

    model = _small_model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, np.random.default_rng(0).permutation(y_train), epochs=1, verbose=0)
    return model


def train_tiny_learning_rate(x_train, y_train):
    model = _small_model()
    model.compile(keras.optimizers.SGD(1e-5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=1, verbose=0)
    return model


WRONG_IMPLEMENTATIONS = {
    "build_lenet5": [lenet_max_pooling, lenet_relu, lenet_softmax_output, lenet_valid_padding,
                     lenet_ten_classes_always],
    "vgg_block": [vgg_no_pooling, vgg_valid_padding, vgg_one_conv_only, vgg_relu_after_pool],
    "residual_block": [residual_no_projection, residual_relu_before_add, residual_stride_ignored,
                       residual_always_projection, residual_no_batchnorm_on_shortcut],
    "separable_block": [separable_keras_layer, separable_stride_on_pointwise,
                        separable_standard_conv, separable_no_final_relu],
    "separable_param_saving": [saving_with_biases, saving_depthwise_times_out,
                               saving_inverted_ratio, saving_no_validation],
    "compile_for_integer_labels": [compile_probabilities_loss, compile_categorical_loss,
                                   compile_no_metric, compile_returns_nothing],
    "train_on_subset": [train_untrained, train_shuffled_labels, train_tiny_learning_rate],
}
