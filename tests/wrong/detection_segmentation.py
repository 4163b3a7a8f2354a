"""Deliberately wrong implementations for the chapter "Beyond classification: detection and
segmentation".

Each is a classic mistake: an overlap not clamped at 0 (disjoint boxes overlap), the +1 pixel
convention, a union that forgets to subtract the intersection, a loop over the pairs; NMS with
>= at the threshold, in input order, with ties to the higher index, without max_output; box
offsets with x and y swapped, divided by the box's size, without the logarithm; smooth L1 as L1,
without its 0.5, with its kink at 0.5, summed; Dice without smoothing (NaN on empty masks), over
the whole batch, as IoU, in numpy; mean IoU averaged per image, with absent classes as 0,
without background, as pixel accuracy; a flipped kernel, "same" cropped at the end, the full
output for "same"; a U-Net without skip connections, with one level, with linear outputs, at
half resolution; a segmenter compiled but not trained, or trained with a tiny learning rate.
``tests/test_chapter_contracts.py`` checks that every one scores < 1.0 on the hidden checks, or is
refused outright.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers


# ------------------------------------------------------------------------------- iou
def _boxes(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    for boxes in (a, b):
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError("(n, 4)")
        if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
            raise ValueError("x1 <= x2, y1 <= y2")
    return a[:, None, :], b[None, :, :]


def _iou(a, b, clamp=True, plus=0.0, subtract=True):
    a, b = _boxes(a, b)
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + plus
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + plus
    if clamp:
        w, h = np.clip(w, 0, None), np.clip(h, 0, None)
    inter = w * h
    union = ((a[..., 2] - a[..., 0] + plus) * (a[..., 3] - a[..., 1] + plus)
             + (b[..., 2] - b[..., 0] + plus) * (b[..., 3] - b[..., 1] + plus) - (inter if subtract else 0))
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_not_clamped(boxes_a, boxes_b):
    return _iou(boxes_a, boxes_b, clamp=False)


def iou_plus_one(boxes_a, boxes_b):
    return _iou(boxes_a, boxes_b, plus=1.0)


def iou_union_keeps_intersection(boxes_a, boxes_b):
    return _iou(boxes_a, boxes_b, subtract=False)


def iou_loop_over_pairs(boxes_a, boxes_b):
    a, b = np.asarray(boxes_a, np.float64), np.asarray(boxes_b, np.float64)
    out = np.zeros((len(a), len(b)))
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = _iou(a[i:i + 1], b[j:j + 1])[0, 0]
    return out


def iou_zero_area_nan(boxes_a, boxes_b):
    a, b = _boxes(boxes_a, boxes_b)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    with np.errstate(all="ignore"):
        return inter / ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
                        + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter)


def iou_without_checks(boxes_a, boxes_b):
    a = np.asarray(boxes_a, np.float64)
    b = np.asarray(boxes_b, np.float64)
    a, b = np.sort(a.reshape(-1, 2, 2), axis=1).reshape(-1, 4), np.sort(b.reshape(-1, 2, 2), axis=1).reshape(-1, 4)
    return _iou(a, b)


# ---------------------------------------------------------------- non_max_suppression
def _nms(boxes, scores, iou_threshold, max_output, order=None, keep=lambda v, t: v <= t, limit=True):
    boxes, scores = np.asarray(boxes, np.float64), np.asarray(scores, np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.shape != (len(boxes),):
        raise ValueError("shapes")
    if not 0 <= iou_threshold <= 1 or max_output < 0:
        raise ValueError("arguments")
    order = np.argsort(-scores, kind="stable") if order is None else order(scores)
    overlaps = _iou(boxes, boxes)
    kept = []
    for index in order:
        if limit and len(kept) == max_output:
            break
        if all(keep(overlaps[index, other], iou_threshold) for other in kept):
            kept.append(index)
    return np.array(kept, np.int64)


def nms_suppresses_at_threshold(boxes, scores, iou_threshold, max_output):
    return _nms(boxes, scores, iou_threshold, max_output, keep=lambda v, t: v < t)


def nms_input_order(boxes, scores, iou_threshold, max_output):
    return _nms(boxes, scores, iou_threshold, max_output, order=lambda s: np.arange(len(s)))


def nms_ties_to_higher_index(boxes, scores, iou_threshold, max_output):
    return _nms(boxes, scores, iou_threshold, max_output,
                order=lambda s: len(s) - 1 - np.argsort(-s[::-1], kind="stable"))


def nms_ignores_max_output(boxes, scores, iou_threshold, max_output):
    return _nms(boxes, scores, iou_threshold, max_output, limit=False)


def nms_sorted_by_index(boxes, scores, iou_threshold, max_output):
    return np.sort(_nms(boxes, scores, iou_threshold, max_output))


def nms_with_tensorflow(boxes, scores, iou_threshold, max_output):
    boxes = np.asarray(boxes, np.float32)
    return tf.image.non_max_suppression(boxes[:, [1, 0, 3, 2]], scores, max_output, iou_threshold).numpy()


# --------------------------------------------------------------------- encode/decode
def _pairs(first, anchors):
    first, anchors = np.asarray(first, np.float64), np.asarray(anchors, np.float64)
    if first.ndim != 2 or first.shape[1] != 4 or anchors.shape != first.shape:
        raise ValueError("(n, 4)")
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    if (aw <= 0).any() or (ah <= 0).any():
        raise ValueError("anchor size")
    return first, anchors, aw, ah


def _encode(boxes, anchors, by_box=False, log=True, corners=False):
    boxes, anchors, aw, ah = _pairs(boxes, anchors)
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if (bw <= 0).any() or (bh <= 0).any():
        raise ValueError("box size")
    if corners:
        dx, dy = boxes[:, 0] - anchors[:, 0], boxes[:, 1] - anchors[:, 1]
    else:
        dx = boxes[:, 0] + bw / 2 - anchors[:, 0] - aw / 2
        dy = boxes[:, 1] + bh / 2 - anchors[:, 1] - ah / 2
    sw, sh = (bw, bh) if by_box else (aw, ah)
    size = (np.log(bw / aw), np.log(bh / ah)) if log else (bw / aw, bh / ah)
    return np.stack([dx / sw, dy / sh, *size], axis=1)


def encode_xy_swapped(boxes, anchors):
    return _encode(boxes, anchors)[:, [1, 0, 3, 2]]


def encode_divided_by_box(boxes, anchors):
    return _encode(boxes, anchors, by_box=True)


def encode_without_log(boxes, anchors):
    return _encode(boxes, anchors, log=False)


def encode_corner_offsets(boxes, anchors):
    return _encode(boxes, anchors, corners=True)


def _decode(deltas, anchors, exp=True, swap=False, centre_size=False):
    deltas, anchors, aw, ah = _pairs(deltas, anchors)
    if swap:
        deltas = deltas[:, [1, 0, 3, 2]]
    cx = anchors[:, 0] + aw / 2 + deltas[:, 0] * aw
    cy = anchors[:, 1] + ah / 2 + deltas[:, 1] * ah
    w, h = (aw * np.exp(deltas[:, 2]), ah * np.exp(deltas[:, 3])) if exp else \
        (aw * (1 + deltas[:, 2]), ah * (1 + deltas[:, 3]))
    if centre_size:
        return np.stack([cx, cy, w, h], axis=1)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def decode_without_exp(deltas, anchors):
    return _decode(deltas, anchors, exp=False)


def decode_xy_swapped(deltas, anchors):
    return _decode(deltas, anchors, swap=True)


def decode_centre_size(deltas, anchors):
    return _decode(deltas, anchors, centre_size=True)


# ----------------------------------------------------------------------- smooth_l1
def _smooth(y_true, y_pred, rule):
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise ValueError("shapes")
    return rule(tf.abs(y_true - y_pred))


def smooth_l1_as_l1(y_true, y_pred):
    return _smooth(y_true, y_pred, tf.reduce_mean)


def smooth_l1_without_half(y_true, y_pred):
    return _smooth(y_true, y_pred, lambda e: tf.reduce_mean(tf.where(e < 1, 0.5 * e**2, e)))


def smooth_l1_kink_at_half(y_true, y_pred):
    return _smooth(y_true, y_pred, lambda e: tf.reduce_mean(tf.where(e < 0.5, 0.5 * e**2, e - 0.125)))


def smooth_l1_summed(y_true, y_pred):
    return _smooth(y_true, y_pred, lambda e: tf.reduce_sum(tf.where(e < 1, 0.5 * e**2, e - 0.5)))


def smooth_l1_in_numpy(y_true, y_pred):
    e = np.abs(np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64))
    if np.shape(y_true) != np.shape(y_pred):
        raise ValueError("shapes")
    return np.float32(np.mean(np.where(e < 1, 0.5 * e**2, e - 0.5)))


# ------------------------------------------------------------------------ dice_loss
def _dice(y_true, y_pred, smooth, rule):
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise ValueError("shapes")
    axes = list(range(1, len(y_pred.shape)))
    return rule(tf.reduce_sum(y_true * y_pred, axes), tf.reduce_sum(y_true, axes) + tf.reduce_sum(y_pred, axes),
                smooth)


def dice_without_smoothing(y_true, y_pred, smooth=1.0):
    return _dice(y_true, y_pred, smooth, lambda i, t, s: tf.reduce_mean(1 - 2 * i / t))


def dice_over_the_batch(y_true, y_pred, smooth=1.0):
    return _dice(y_true, y_pred, smooth,
                 lambda i, t, s: 1 - (2 * tf.reduce_sum(i) + s) / (tf.reduce_sum(t) + s))


def dice_as_iou(y_true, y_pred, smooth=1.0):
    return _dice(y_true, y_pred, smooth, lambda i, t, s: tf.reduce_mean(1 - (i + s) / (t - i + s)))


def dice_smooth_in_numerator_only(y_true, y_pred, smooth=1.0):
    return _dice(y_true, y_pred, smooth, lambda i, t, s: tf.reduce_mean(1 - (2 * i + s) / t))


def dice_in_numpy(y_true, y_pred, smooth=1.0):
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if t.shape != p.shape:
        raise ValueError("shapes")
    axes = tuple(range(1, t.ndim))
    return np.float32(np.mean(1 - (2 * (t * p).sum(axes) + smooth) / (t.sum(axes) + p.sum(axes) + smooth)))


# ------------------------------------------------------------------------- mean_iou
def _ids(y_true, y_pred, n_classes):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError("shapes")
    for ids in (y_true, y_pred):
        if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= n_classes:
            raise ValueError("class ids")
    confusion = np.bincount(n_classes * y_true.ravel() + y_pred.ravel(),
                            minlength=n_classes**2).reshape(n_classes, n_classes)
    tp = np.diag(confusion)
    return y_true, y_pred, confusion, tp, confusion.sum(0) + confusion.sum(1) - tp


def miou_per_image(y_true, y_pred, n_classes):
    y_true, y_pred, *_ = _ids(y_true, y_pred, n_classes)
    if y_true.ndim < 2:
        return miou_absent_as_zero(y_true, y_pred, n_classes)
    scores = []
    for t, p in zip(y_true, y_pred, strict=True):
        _, _, _, tp, union = _ids(t, p, n_classes)
        scores.append(np.mean(tp[union > 0] / union[union > 0]))
    return float(np.mean(scores))


def miou_absent_as_zero(y_true, y_pred, n_classes):
    *_, tp, union = _ids(y_true, y_pred, n_classes)
    return float(np.sum(tp[union > 0] / union[union > 0]) / n_classes)


def miou_without_background(y_true, y_pred, n_classes):
    *_, tp, union = _ids(y_true, y_pred, n_classes)
    present = union[1:] > 0
    return float(np.mean(tp[1:][present] / union[1:][present])) if present.any() else 0.0


def miou_pixel_accuracy(y_true, y_pred, n_classes):
    *_, confusion, tp, _ = _ids(y_true, y_pred, n_classes)
    return float(tp.sum() / confusion.sum())


def miou_accepts_probabilities(y_true, y_pred, n_classes):
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == np.ndim(y_true) + 1:
        y_pred = y_pred.argmax(-1)
    *_, tp, union = _ids(np.asarray(y_true), y_pred.astype(int), n_classes)
    return float(np.mean(tp[union > 0] / union[union > 0]))


# ------------------------------------------------------------------- conv_transpose
def _convt(x, kernel, stride, padding, flip=False, crop=None):
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    if x.ndim != 3 or kernel.ndim != 4 or kernel.shape[3] != x.shape[2] or stride < 1 \
            or padding not in ("valid", "same"):
        raise ValueError("arguments")
    if flip:
        kernel = kernel[::-1, ::-1]
    height, width, _ = x.shape
    kh, kw, c_out, _ = kernel.shape
    full = np.zeros(((height - 1) * stride + kh, (width - 1) * stride + kw, c_out))
    for i in range(height):
        for j in range(width):
            full[i * stride:i * stride + kh, j * stride:j * stride + kw] += kernel @ x[i, j]
    if padding == "valid" or crop == "none":
        return full
    out_h, out_w = height * stride, width * stride
    pad_h, pad_w = max(kh - stride, 0), max(kw - stride, 0)
    top, left = {"start": (pad_h // 2, pad_w // 2), "end": (0, 0),
                 "extra first": (pad_h - pad_h // 2, pad_w - pad_w // 2)}[crop or "start"]
    out = np.zeros((out_h, out_w, c_out))
    piece = full[top:top + out_h, left:left + out_w]
    out[:piece.shape[0], :piece.shape[1]] = piece
    return out


def convt_flipped_kernel(x, kernel, stride, padding):
    return _convt(x, kernel, stride, padding, flip=True)


def convt_same_cropped_at_end(x, kernel, stride, padding):
    return _convt(x, kernel, stride, padding, crop="end")


def convt_same_extra_at_start(x, kernel, stride, padding):
    return _convt(x, kernel, stride, padding, crop="extra first")


def convt_same_is_full(x, kernel, stride, padding):
    return _convt(x, kernel, stride, padding, crop="none")


def convt_with_tensorflow(x, kernel, stride, padding):
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    h, w = x.shape[:2]
    shape = (1, h * stride, w * stride, kernel.shape[2]) if padding == "same" else \
        (1, (h - 1) * stride + kernel.shape[0], (w - 1) * stride + kernel.shape[1], kernel.shape[2])
    return tf.nn.conv2d_transpose(x[None], kernel, shape, stride, padding.upper())[0].numpy()


# ----------------------------------------------------------------------- build_unet
def _block(x, filters):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return layers.Conv2D(filters, 3, padding="same", activation="relu")(x)


def unet_without_skips(input_shape, n_classes, base_filters=8):
    inputs = keras.Input(shape=input_shape)
    x = _block(inputs, base_filters)
    x = _block(layers.MaxPooling2D()(x), 2 * base_filters)
    x = _block(layers.MaxPooling2D()(x), 4 * base_filters)
    x = _block(layers.Conv2DTranspose(2 * base_filters, 2, strides=2)(x), 2 * base_filters)
    x = _block(layers.Conv2DTranspose(base_filters, 2, strides=2)(x), base_filters)
    return keras.Model(inputs, layers.Conv2D(n_classes, 1, activation="softmax")(x))


def unet_one_level(input_shape, n_classes, base_filters=8):
    inputs = keras.Input(shape=input_shape)
    skip = _block(inputs, base_filters)
    x = _block(layers.MaxPooling2D()(skip), 2 * base_filters)
    x = layers.Concatenate()([layers.Conv2DTranspose(base_filters, 2, strides=2)(x), skip])
    x = layers.Concatenate()([_block(x, base_filters), skip])
    return keras.Model(inputs, layers.Conv2D(n_classes, 1, activation="softmax")(x))


def _unet(input_shape, n_classes, base_filters, activation="softmax", last_up=True, filters=None):
    base = filters or base_filters
    inputs = keras.Input(shape=input_shape)
    skip1 = _block(inputs, base)
    skip2 = _block(layers.MaxPooling2D()(skip1), 2 * base)
    x = _block(layers.MaxPooling2D()(skip2), 4 * base)
    x = _block(layers.Concatenate()([layers.Conv2DTranspose(2 * base, 2, strides=2)(x), skip2]), 2 * base)
    if last_up:
        x = _block(layers.Concatenate()([layers.Conv2DTranspose(base, 2, strides=2)(x), skip1]), base)
    else:
        x = layers.Concatenate()([x, layers.MaxPooling2D()(skip1)])
    return keras.Model(inputs, layers.Conv2D(n_classes, 1, activation=activation)(x))


def unet_linear_outputs(input_shape, n_classes, base_filters=8):
    return _unet(input_shape, n_classes, base_filters, activation=None)


def unet_half_resolution(input_shape, n_classes, base_filters=8):
    return _unet(input_shape, n_classes, base_filters, last_up=False)


def unet_ignores_base_filters(input_shape, n_classes, base_filters=8):
    return _unet(input_shape, n_classes, base_filters, filters=8)


# ------------------------------------------------------------------ train_segmenter
def train_compiled_not_fitted(model, images, masks):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")


def train_tiny_learning_rate(model, images, masks):
    model.compile(optimizer=keras.optimizers.Adam(1e-6), loss="sparse_categorical_crossentropy")
    model.fit(images[:200], masks[:200], batch_size=50, epochs=1, verbose=0)


def train_on_one_hot_loss(model, images, masks):
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(images, masks, batch_size=50, epochs=1, verbose=0)


WRONG_IMPLEMENTATIONS = {
    "iou": [iou_not_clamped, iou_plus_one, iou_union_keeps_intersection, iou_loop_over_pairs,
            iou_zero_area_nan, iou_without_checks],
    "non_max_suppression": [nms_suppresses_at_threshold, nms_input_order, nms_ties_to_higher_index,
                            nms_ignores_max_output, nms_sorted_by_index, nms_with_tensorflow],
    "encode_boxes": [encode_xy_swapped, encode_divided_by_box, encode_without_log, encode_corner_offsets],
    "decode_boxes": [decode_without_exp, decode_xy_swapped, decode_centre_size],
    "smooth_l1": [smooth_l1_as_l1, smooth_l1_without_half, smooth_l1_kink_at_half, smooth_l1_summed,
                  smooth_l1_in_numpy],
    "dice_loss": [dice_without_smoothing, dice_over_the_batch, dice_as_iou, dice_smooth_in_numerator_only,
                  dice_in_numpy],
    "mean_iou": [miou_per_image, miou_absent_as_zero, miou_without_background, miou_pixel_accuracy,
                 miou_accepts_probabilities],
    "conv_transpose": [convt_flipped_kernel, convt_same_cropped_at_end, convt_same_extra_at_start,
                       convt_same_is_full, convt_with_tensorflow],
    "build_unet": [unet_without_skips, unet_one_level, unet_linear_outputs, unet_half_resolution,
                   unet_ignores_base_filters],
    "train_segmenter": [train_compiled_not_fitted, train_tiny_learning_rate, train_on_one_hot_loss],
}
