"""Synthetic scenes with exact labels for detection and segmentation.

No detection or segmentation dataset installs from a package, so the course
draws its own: coloured shapes (squares, disks, triangles) on a noisy
background, drawn with :mod:`skimage.draw`.  Every scene comes with the
labels of each task: the class of each object, its box, a semantic mask and
an instance mask.  The same seed always gives the same scenes.

Conventions
-----------
* Images are ``float32`` in [0, 1], shape ``(n, size, size, 3)``.
* Boxes are ``[x1, y1, x2, y2]`` in pixel *edges* (Keras' ``"xyxy"``): an
  object covering columns 3..7 has ``x1 = 3`` and ``x2 = 8``, so
  ``x2 - x1`` is its width in pixels.  TensorFlow's ``tf.image`` functions
  want ``[y1, x1, y2, x2]``: use :func:`xyxy_to_yxyx`.
* Class ids start at 1 (``CLASS_NAMES[id - 1]``); 0 is the background in the
  semantic mask.  In the instance mask, object ``k`` (0-based, in the order of
  ``boxes``) has the value ``k + 1``.
* Objects never overlap: their boxes are at least one pixel apart, so every
  box is exactly the extent of its mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASS_NAMES = ("square", "disk", "triangle")
BACKGROUND = 0
_MAX_PLACEMENT_TRIES = 200


@dataclass(frozen=True)
class Scenes:
    """A batch of scenes and their labels (see the module's conventions).

    ``boxes`` and ``class_ids`` are padded to ``max_objects`` per scene:
    padded rows have class id ``-1`` and box ``[0, 0, 0, 0]``.
    """

    images: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray
    semantic: np.ndarray
    instances: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def objects(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The boxes ``(k, 4)`` and class ids ``(k,)`` of scene ``index``, without padding."""
        keep = self.class_ids[index] > 0
        return self.boxes[index][keep], self.class_ids[index][keep]

    def counts(self) -> np.ndarray:
        """The number of objects in each scene."""
        return (self.class_ids > 0).sum(axis=1)


def xyxy_to_yxyx(boxes) -> np.ndarray:
    """Swap ``[x1, y1, x2, y2]`` boxes to TensorFlow's ``[y1, x1, y2, x2]`` (and back)."""
    boxes = np.asarray(boxes)
    if boxes.shape[-1:] != (4,):
        raise ValueError(f"boxes must end with a dimension of 4, got shape {boxes.shape}")
    return boxes[..., [1, 0, 3, 2]]


def _check_request(n, size, min_objects, max_objects, min_size, max_size, noise) -> None:
    def whole(name, value, low):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{name} must be at least {low}, got {value}")

    whole("n", n, 0)
    whole("size", size, 8)
    whole("min_objects", min_objects, 0)
    whole("max_objects", max_objects, 0)
    whole("min_size", min_size, 4)
    whole("max_size", max_size, 4)
    if max_objects < min_objects:
        raise ValueError(f"max_objects ({max_objects}) is below min_objects ({min_objects}): "
                         "no scene can satisfy both")
    if min_size > max_size:
        raise ValueError(f"min_size ({min_size}) is larger than max_size ({max_size})")
    if max_size > size - 2:
        raise ValueError(f"objects of max_size {max_size} px do not fit on a {size}x{size} canvas "
                         f"with a 1-pixel margin: use max_size <= {size - 2}")
    # Disjoint boxes with a one-pixel gap: each object needs (side + 1)^2 of the canvas.
    needed = max_objects * (max_size + 1) ** 2
    if needed > 0.5 * size * size:
        raise ValueError(f"{max_objects} objects of up to {max_size} px need {needed} px^2, more than "
                         f"half of the {size}x{size} canvas: lower max_objects or max_size, "
                         "or raise size")
    if not 0 <= float(noise) <= 0.5:
        raise ValueError(f"noise must be a standard deviation in [0, 0.5], got {noise}")


def _shape_pixels(class_id: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a shape drawn in a ``side x side`` box whose top-left is (0, 0)."""
    from skimage import draw

    name = CLASS_NAMES[class_id - 1]
    if name == "square":
        return draw.rectangle((0, 0), extent=(side, side))
    if name == "disk":
        radius = side / 2
        return draw.disk((radius - 0.5, radius - 0.5), radius, shape=(side, side))
    # triangle: apex at the top centre, base on the bottom row
    rows = np.array([0, side - 1, side - 1])
    cols = np.array([(side - 1) / 2, 0, side - 1])
    return draw.polygon(rows, cols, shape=(side, side))


def _free(occupied: np.ndarray, top: int, left: int, side: int) -> bool:
    """True when the square and a one-pixel ring around it touch no square placed before."""
    return not occupied[max(top - 1, 0):top + side + 1, max(left - 1, 0):left + side + 1].any()


def _place(rng, occupied, size, min_size, max_size):
    for _ in range(_MAX_PLACEMENT_TRIES):
        side = int(rng.integers(min_size, max_size + 1))
        top, left = (int(v) for v in rng.integers(1, size - side, size=2))
        if _free(occupied, top, left, side):
            return top, left, side
    raise RuntimeError("could not place an object without overlap after "
                       f"{_MAX_PLACEMENT_TRIES} tries: lower max_objects or max_size")


def _draw_scene(rng, size, n_objects, min_size, max_size, noise):
    background = rng.uniform(0.0, 0.35, size=3)
    image = np.broadcast_to(background, (size, size, 3)).astype(np.float32).copy()
    semantic = np.zeros((size, size), np.int32)
    instances = np.zeros((size, size), np.int32)
    occupied = np.zeros((size, size), bool)  # the squares drawn in: boxes stay apart
    boxes, class_ids = [], []
    for k in range(n_objects):
        top, left, side = _place(rng, occupied, size, min_size, max_size)
        occupied[top:top + side, left:left + side] = True
        class_id = int(rng.integers(1, len(CLASS_NAMES) + 1))
        rows, cols = _shape_pixels(class_id, side)
        rows, cols = np.asarray(rows) + top, np.asarray(cols) + left
        image[rows, cols] = rng.uniform(0.5, 1.0, size=3)
        semantic[rows, cols] = class_id
        instances[rows, cols] = k + 1
        boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
        class_ids.append(class_id)
    image += rng.normal(0.0, noise, size=image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0), boxes, class_ids, semantic, instances


def make_scenes(n: int, size: int = 64, min_objects: int = 1, max_objects: int = 3,
                min_size: int = 10, max_size: int = 20, noise: float = 0.05,
                seed: int = 0) -> Scenes:
    """Draw ``n`` scenes of ``size x size`` pixels with ``min_objects..max_objects`` shapes each.

    Each shape's side is drawn uniformly in ``min_size..max_size`` pixels, its class
    uniformly among :data:`CLASS_NAMES`, its colour brighter than the background.
    Gaussian noise of standard deviation ``noise`` is added and the image clipped
    to [0, 1].  Impossible requests raise ``ValueError`` before any drawing.
    """
    _check_request(n, size, min_objects, max_objects, min_size, max_size, noise)
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.float32)
    semantic = np.zeros((n, size, size), np.int32)
    instances = np.zeros((n, size, size), np.int32)
    boxes = np.zeros((n, max_objects, 4), np.float32)
    class_ids = np.full((n, max_objects), -1, np.int32)
    for i in range(n):
        n_objects = int(rng.integers(min_objects, max_objects + 1))
        image, scene_boxes, scene_ids, sem, inst = _draw_scene(
            rng, size, n_objects, min_size, max_size, noise)
        images[i], semantic[i], instances[i] = image, sem, inst
        if n_objects:
            boxes[i, :n_objects] = scene_boxes
            class_ids[i, :n_objects] = scene_ids
    return Scenes(images, boxes, class_ids, semantic, instances)
