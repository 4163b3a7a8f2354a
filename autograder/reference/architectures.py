"""Reference Keras models and blocks for the chapter on CNN architectures.

The checks build these next to the student's version, copy the same weights
into both and compare outputs, so every correct way of writing a block
(fused activations, separate activation layers, Sequential or functional)
passes.  The exact specifications are stated in the exercise notebook.
"""

from __future__ import annotations

import keras
from keras import layers

# LeNet-5 as specified in the notebook: tanh activations, 2x2 average pooling,
# "same" padding in the first convolution only, logits out.
LENET5_FILTERS = (6, 16)
LENET5_UNITS = (120, 84)


def reference_lenet5(input_shape, n_classes):
    """LeNet-5: conv 6@5x5 same, avgpool 2, conv 16@5x5 valid, avgpool 2, dense 120, 84, logits."""
    return keras.Sequential(
        [
            keras.Input(tuple(input_shape)),
            layers.Conv2D(LENET5_FILTERS[0], 5, padding="same", activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Conv2D(LENET5_FILTERS[1], 5, padding="valid", activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(LENET5_UNITS[0], activation="tanh"),
            layers.Dense(LENET5_UNITS[1], activation="tanh"),
            layers.Dense(n_classes),
        ],
        name="reference_lenet5",
    )


def lenet5_stage_shapes(input_shape, n_classes):
    """The output shape (without batch axis) after each stage of :func:`reference_lenet5`."""
    height, width, _ = input_shape
    h1, w1 = height // 2, width // 2
    h2, w2 = h1 - 4, w1 - 4
    return [
        (height, width, 6),
        (h1, w1, 6),
        (h2, w2, 16),
        (h2 // 2, w2 // 2, 16),
        ((h2 // 2) * (w2 // 2) * 16,),
        (120,),
        (84,),
        (n_classes,),
    ]


def reference_vgg_block(x, filters, n_convs):
    """``n_convs`` x (3x3 conv, "same", ReLU), then 2x2 max pooling with stride 2."""
    for _ in range(n_convs):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return layers.MaxPooling2D(2, strides=2)(x)


def reference_residual_block(x, filters, stride):
    """ResNet basic block (v1): two 3x3 conv-BN, projection shortcut when shapes change.

    main:     conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN
    shortcut: identity, or conv1x1(stride) -> BN when stride != 1 or channels change
    output:   ReLU(main + shortcut)
    Convolutions have no bias: the BatchNormalization that follows has its own offset.
    """
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def reference_separable_block(x, filters, stride=1):
    """MobileNet (v1) block: depthwise 3x3 (stride) -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU."""
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 1, use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    return layers.ReLU()(y)


def reference_separable_param_counts(kernel_size, in_channels, out_channels):
    """(standard, separable) weight counts without biases, counted on real Keras layers."""
    inputs = keras.Input((kernel_size + 1, kernel_size + 1, in_channels))
    standard = keras.Model(
        inputs, layers.Conv2D(out_channels, kernel_size, use_bias=False)(inputs)
    ).count_params()
    depthwise = layers.DepthwiseConv2D(kernel_size, use_bias=False)(inputs)
    pointwise = layers.Conv2D(out_channels, 1, use_bias=False)(depthwise)
    separable = keras.Model(inputs, pointwise).count_params()
    return int(standard), int(separable)


def reference_integer_label_loss(labels, logits):
    """Mean sparse cross-entropy from logits, computed by TensorFlow directly."""
    import tensorflow as tf

    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.convert_to_tensor(labels, tf.int64), logits=tf.convert_to_tensor(logits)
    )
    return tf.reduce_mean(per_example)


def reference_small_cnn():
    """A small CNN that clears the training exercise's threshold with a margin."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10),
        ]
    )
