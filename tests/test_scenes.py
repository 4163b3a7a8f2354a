"""The synthetic scene generator: exact labels, determinism, clear errors."""

import numpy as np
import pytest

from cnnvision.scenes import CLASS_NAMES, make_scenes, xyxy_to_yxyx


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(200, size=48, min_objects=0, max_objects=3, min_size=6, max_size=14,
                       seed=3)


def test_shapes_and_dtypes(scenes):
    assert scenes.images.shape == (200, 48, 48, 3) and scenes.images.dtype == np.float32
    assert scenes.boxes.shape == (200, 3, 4)
    assert scenes.class_ids.shape == (200, 3)
    assert scenes.semantic.shape == scenes.instances.shape == (200, 48, 48)
    assert 0.0 <= scenes.images.min() and scenes.images.max() <= 1.0
    assert len(scenes) == 200


def test_counts_cover_the_range(scenes):
    assert set(np.unique(scenes.counts())) == {0, 1, 2, 3}


def test_every_box_is_the_extent_of_its_mask(scenes):
    for i in range(len(scenes)):
        boxes, ids = scenes.objects(i)
        assert scenes.instances[i].max() == len(boxes)
        for k, (box, class_id) in enumerate(zip(boxes, ids, strict=True)):
            rows, cols = np.nonzero(scenes.instances[i] == k + 1)
            assert box.tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            assert (scenes.semantic[i][rows, cols] == class_id).all()
            assert 1 <= class_id <= len(CLASS_NAMES)
        assert ((scenes.semantic[i] > 0) == (scenes.instances[i] > 0)).all()


def test_boxes_are_at_least_one_pixel_apart():
    scenes = make_scenes(500, seed=4)  # the default size and objects: disks and triangles
    for i in range(len(scenes)):
        boxes, _ = scenes.objects(i)
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                gap_x = max(boxes[a][0], boxes[b][0]) - min(boxes[a][2], boxes[b][2])
                gap_y = max(boxes[a][1], boxes[b][1]) - min(boxes[a][3], boxes[b][3])
                assert max(gap_x, gap_y) >= 1, (i, boxes[a], boxes[b])


def test_padding_rows(scenes):
    pad = scenes.class_ids < 0
    assert (scenes.class_ids[pad] == -1).all()
    assert (scenes.boxes[pad] == 0).all()


def test_sizes_within_request():
    s = make_scenes(100, size=64, min_size=10, max_size=12, seed=0)
    for i in range(len(s)):
        boxes, _ = s.objects(i)
        sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        assert ((sides >= 9) & (sides <= 12)).all(), sides  # a disk or triangle may lose an edge row


def test_all_classes_drawn_and_distinct_shapes():
    s = make_scenes(300, seed=1)
    fill = {c: [] for c in range(1, len(CLASS_NAMES) + 1)}
    for i in range(len(s)):
        boxes, ids = s.objects(i)
        for k, (box, c) in enumerate(zip(boxes, ids, strict=True)):
            area = (box[2] - box[0]) * (box[3] - box[1])
            fill[c].append((s.instances[i] == k + 1).sum() / area)
    means = {CLASS_NAMES[c - 1]: np.mean(v) for c, v in fill.items()}
    assert means["square"] == 1.0
    assert 0.7 < means["disk"] < 0.85  # pi / 4 = 0.785 for an ideal disk
    assert 0.4 < means["triangle"] < 0.65


def test_deterministic_for_a_seed_and_different_across_seeds():
    a, b, c = make_scenes(10, seed=5), make_scenes(10, seed=5), make_scenes(10, seed=6)
    for field in ("images", "boxes", "class_ids", "semantic", "instances"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.images, c.images)


def test_zero_scenes_and_zero_objects():
    assert len(make_scenes(0)) == 0
    empty = make_scenes(3, min_objects=0, max_objects=0)
    assert (empty.semantic == 0).all() and empty.boxes.shape == (3, 0, 4)


@pytest.mark.parametrize("kwargs, words", [
    (dict(min_objects=2, max_objects=1), "below min_objects"),
    (dict(size=32, max_size=40), "do not fit"),
    (dict(min_size=15, max_size=12), "larger than max_size"),
    (dict(max_objects=20, max_size=20), "half of the"),
    (dict(n=-1), "at least 0"),
    (dict(noise=2.0), "noise"),
    (dict(min_size=2), "at least 4"),
])
def test_impossible_requests_raise_clear_errors(kwargs, words):
    kwargs = {"n": 2, **kwargs}
    with pytest.raises(ValueError, match=words):
        make_scenes(**kwargs)


def test_non_integer_request():
    with pytest.raises(TypeError, match="integer"):
        make_scenes(2.5)


def test_xyxy_to_yxyx_round_trip():
    boxes = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert xyxy_to_yxyx(boxes).tolist() == [[2, 1, 4, 3], [6, 5, 8, 7]]
    assert np.array_equal(xyxy_to_yxyx(xyxy_to_yxyx(boxes)), boxes)
    with pytest.raises(ValueError, match="dimension of 4"):
        xyxy_to_yxyx(np.zeros((2, 3)))
