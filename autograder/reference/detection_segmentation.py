"""Reference implementations for the chapter "Beyond classification: detection and
segmentation".

TensorFlow ops and Keras, from the definitions the exercises state.  Boxes are
``[x1, y1, x2, y2]`` (Keras' ``"xyxy"``) unless a name says otherwise:

* IoU, pairwise: intersection / union with the overlap clamped at 0, and 0 when the union is
  empty (Keras' ``compute_iou`` does the same, in float32; this one keeps float64);
* NMS: ``tf.image.non_max_suppression`` on ``[y1, x1, y2, x2]`` boxes: sorted by decreasing
  score (ties: the lower index first), a box is dropped when its IoU with a kept box is
  strictly greater than the threshold;
* box encoding against anchors: ``keras.utils.bounding_boxes.encode_box_to_deltas`` /
  ``decode_deltas_to_boxes`` with ``"center_xywh"``: [tx, ty, tw, th] =
  [(cx - cxa) / wa, (cy - cya) / ha, log(w / wa), log(h / ha)];
* smooth L1: ``keras.losses.Huber(delta=1.0)``, the mean over all elements;
* Dice loss: per sample 1 - (2 sum(t p) + s) / (sum(t) + sum(p) + s), averaged over the batch;
* mean IoU: from the confusion matrix accumulated over all pixels (``tf.math.confusion_matrix``),
  equal to ``keras.metrics.MeanIoU(n_classes)`` on class ids: a class absent from truth and
  prediction is left out of the mean;
* transposed convolution: ``tf.nn.conv2d_transpose`` (filters ``(kh, kw, C_out, C_in)``).
"""

from __future__ import annotations

import numpy as np


def _tf():
    import tensorflow as tf

    return tf


def iou(boxes_a, boxes_b):
    """(n, 4), (m, 4) -> (n, m) float64 with TF ops."""
    tf = _tf()
    a = tf.convert_to_tensor(np.asarray(boxes_a, np.float64))[:, None, :]
    b = tf.convert_to_tensor(np.asarray(boxes_b, np.float64))[None, :, :]
    width = tf.maximum(tf.minimum(a[..., 2], b[..., 2]) - tf.maximum(a[..., 0], b[..., 0]), 0.0)
    height = tf.maximum(tf.minimum(a[..., 3], b[..., 3]) - tf.maximum(a[..., 1], b[..., 1]), 0.0)
    intersection = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - intersection
    return tf.math.divide_no_nan(intersection, union)


def keras_iou(boxes_a, boxes_b) -> np.ndarray:
    """Keras' own pairwise IoU (float32)."""
    from keras.utils import bounding_boxes

    return np.asarray(bounding_boxes.compute_iou(np.asarray(boxes_a, np.float32),
                                                 np.asarray(boxes_b, np.float32),
                                                 bounding_box_format="xyxy"))


def non_max_suppression(boxes, scores, iou_threshold: float, max_output: int) -> np.ndarray:
    """Indices kept by ``tf.image.non_max_suppression`` (boxes given as xyxy)."""
    tf = _tf()
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    selected = tf.image.non_max_suppression(boxes[:, [1, 0, 3, 2]], np.asarray(scores, np.float32),
                                            max_output_size=int(max_output),
                                            iou_threshold=float(iou_threshold))
    return selected.numpy().astype(np.int64)


def encode_boxes(boxes, anchors) -> np.ndarray:
    from keras.utils import bounding_boxes

    return np.asarray(bounding_boxes.encode_box_to_deltas(
        np.asarray(anchors, np.float32), np.asarray(boxes, np.float32), anchor_format="xyxy",
        box_format="xyxy", encoding_format="center_xywh"))


def decode_boxes(deltas, anchors) -> np.ndarray:
    from keras.utils import bounding_boxes

    return np.asarray(bounding_boxes.decode_deltas_to_boxes(
        np.asarray(anchors, np.float32), np.asarray(deltas, np.float32), anchor_format="xyxy",
        box_format="xyxy", encoded_format="center_xywh"))


def encode_boxes_float64(boxes, anchors):
    """The same encoding in float64 TF ops (the Keras one computes in float32)."""
    tf = _tf()
    b = tf.convert_to_tensor(np.asarray(boxes, np.float64))
    a = tf.convert_to_tensor(np.asarray(anchors, np.float64))
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    return tf.stack([(b[:, 0] + bw / 2 - a[:, 0] - aw / 2) / aw,
                     (b[:, 1] + bh / 2 - a[:, 1] - ah / 2) / ah,
                     tf.math.log(bw / aw), tf.math.log(bh / ah)], axis=1)


def decode_boxes_float64(deltas, anchors):
    tf = _tf()
    d = tf.convert_to_tensor(np.asarray(deltas, np.float64))
    a = tf.convert_to_tensor(np.asarray(anchors, np.float64))
    aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    cx, cy = a[:, 0] + aw / 2 + d[:, 0] * aw, a[:, 1] + ah / 2 + d[:, 1] * ah
    w, h = aw * tf.exp(d[:, 2]), ah * tf.exp(d[:, 3])
    return tf.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def smooth_l1(y_true, y_pred):
    """``keras.losses.Huber(delta=1.0)`` on the flattened arrays: the mean over all elements."""
    import keras

    tf = _tf()
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
    return keras.losses.Huber(delta=1.0)(tf.reshape(y_true, (1, -1)), tf.reshape(y_pred, (1, -1)))


def dice_loss(y_true, y_pred, smooth: float = 1.0):
    """Mean over the batch of 1 - (2 sum(t p) + s) / (sum(t) + sum(p) + s), sums per sample."""
    tf = _tf()
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
    axes = tf.range(1, tf.rank(y_pred))
    intersection = tf.reduce_sum(y_true * y_pred, axis=axes)
    total = tf.reduce_sum(y_true, axis=axes) + tf.reduce_sum(y_pred, axis=axes)
    smooth = tf.cast(smooth, y_pred.dtype)
    return tf.reduce_mean(1.0 - (2.0 * intersection + smooth) / (total + smooth))


def keras_dice(y_true, y_pred) -> np.ndarray:
    """``keras.losses.dice`` per sample (no smoothing, epsilon 1e-7 in the denominator)."""
    import keras

    y_true = np.asarray(y_true, np.float32)
    return np.asarray(keras.losses.dice(y_true, np.asarray(y_pred, np.float32),
                                        axis=tuple(range(1, y_true.ndim))))


def mean_iou(y_true, y_pred, n_classes: int):
    """Mean IoU over the classes present, from ``tf.math.confusion_matrix`` (float64)."""
    tf = _tf()
    confusion = tf.math.confusion_matrix(np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1),
                                         num_classes=int(n_classes), dtype=tf.float64)
    true_positive = tf.linalg.diag_part(confusion)
    union = tf.reduce_sum(confusion, 0) + tf.reduce_sum(confusion, 1) - true_positive
    present = union > 0
    return tf.reduce_mean(tf.boolean_mask(true_positive, present) / tf.boolean_mask(union, present))


def keras_mean_iou(y_true, y_pred, n_classes: int) -> float:
    """``keras.metrics.MeanIoU`` on flattened class ids (float32)."""
    import keras

    metric = keras.metrics.MeanIoU(num_classes=int(n_classes))
    metric.update_state(np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1))
    return float(metric.result())


def conv_transpose(x, kernel, stride: int, padding: str):
    """``tf.nn.conv2d_transpose`` of one image (H, W, C_in) with filters (kh, kw, C_out, C_in)."""
    tf = _tf()
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    height, width = x.shape[:2]
    kh, kw, c_out = kernel.shape[:3]
    if padding.lower() == "same":
        out_h, out_w = height * stride, width * stride
    else:
        out_h, out_w = (height - 1) * stride + kh, (width - 1) * stride + kw
    y = tf.nn.conv2d_transpose(x[None], kernel, (1, out_h, out_w, c_out), stride, padding.upper())
    return y[0]


def conv2d(y, kernel, stride: int, padding: str):
    """The convolution whose adjoint :func:`conv_transpose` is: (H', W', C_out) -> (H, W, C_in)."""
    tf = _tf()
    return tf.nn.conv2d(np.asarray(y, np.float64)[None], np.asarray(kernel, np.float64), stride,
                        padding.upper())[0]


def unet(input_shape, n_classes: int, base_filters: int = 8):
    """The grader's small U-Net (two levels down, two skip connections), softmax outputs."""
    import keras
    from keras import layers

    def block(x, filters):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        return layers.Conv2D(filters, 3, padding="same", activation="relu")(x)

    inputs = keras.Input(shape=input_shape)
    skip1 = block(inputs, base_filters)
    skip2 = block(layers.MaxPooling2D()(skip1), 2 * base_filters)
    bottom = block(layers.MaxPooling2D()(skip2), 4 * base_filters)
    x = layers.Conv2DTranspose(2 * base_filters, 2, strides=2, padding="same")(bottom)
    x = block(layers.Concatenate()([x, skip2]), 2 * base_filters)
    x = layers.Conv2DTranspose(base_filters, 2, strides=2, padding="same")(x)
    x = block(layers.Concatenate()([x, skip1]), base_filters)
    return keras.Model(inputs, layers.Conv2D(n_classes, 1, activation="softmax")(x))
