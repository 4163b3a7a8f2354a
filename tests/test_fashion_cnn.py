"""Tests for cnnvision.fashion_cnn: cache key, cache reuse, and the trained model's accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnvision import fashion_cnn

pytestmark = pytest.mark.xdist_group("fashion_cnn")


def _other_builder():
    """A different architecture (its source differs from build_fashion_cnn's)."""
    import keras

    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10)])


def test_cache_key_changes_with_the_builder_source(monkeypatch):
    original = fashion_cnn.cache_key()
    assert fashion_cnn.cache_key() == original  # stable
    monkeypatch.setattr(fashion_cnn, "build_fashion_cnn", _other_builder)
    assert fashion_cnn.cache_key() != original


@pytest.mark.parametrize("field, value", [("epochs", 1), ("batch_size", 64), ("seed", 1),
                                          ("optimizer", "sgd"), ("steps_per_execution", 1)])
def test_cache_key_changes_with_the_training_config(field, value):
    config = dict(fashion_cnn.TRAINING_CONFIG, **{field: value})
    assert fashion_cnn.cache_key(config) != fashion_cnn.cache_key()


def test_builder_outputs_ten_logits():
    model = fashion_cnn.build_fashion_cnn()
    out = model(np.zeros((2, 28, 28, 1), np.float32), training=False)
    assert tuple(out.shape) == (2, 10)


@pytest.fixture()
def fake_training(monkeypatch, tmp_path):
    """An empty cache folder and a 'training' that only builds the model (instant)."""
    monkeypatch.setenv("CNNVISION_CACHE", str(tmp_path))
    calls = []

    def fake_train_and_cache(key, verbose=2):
        calls.append(key)
        model = fashion_cnn.compile_fashion_cnn(fashion_cnn.build_fashion_cnn())
        history = {"loss": [1.0], "accuracy": [0.5], "val_loss": [1.1], "val_accuracy": [0.4]}
        fashion_cnn.save_trained(fashion_cnn.TrainedCNN(model, history, {"test_accuracy": 0.5}), key)

    monkeypatch.setattr(fashion_cnn, "train_and_cache", fake_train_and_cache)
    return calls


def test_a_cached_model_loads_without_retraining(fake_training):
    first = fashion_cnn.load_fashion_cnn(verbose=0)
    assert len(fake_training) == 1
    weights_path, record_path = fashion_cnn.cache_paths(fashion_cnn.cache_key())
    assert weights_path.is_file() and record_path.is_file()
    assert json.loads(record_path.read_text())["history"]["loss"] == [1.0]

    second = fashion_cnn.load_fashion_cnn(verbose=0)
    assert len(fake_training) == 1  # no second training
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert second.history == first.history
    assert second.metrics["test_accuracy"] == 0.5


def test_a_cached_model_loads_without_taking_the_lock(fake_training):
    """A grading kernel reads the grader's cache but may write nothing there: no lock file."""
    fashion_cnn.load_fashion_cnn(verbose=0)
    lock = fashion_cnn.cache_paths(fashion_cnn.cache_key())[0].with_suffix(".lock")
    lock.unlink()
    loaded = fashion_cnn.load_fashion_cnn(verbose=0)
    assert len(fake_training) == 1 and loaded.metrics["test_accuracy"] == 0.5
    assert not lock.exists()


def test_grading_kernels_read_the_graders_course_cache(monkeypatch, tmp_path):
    from autograder.grading import sandbox

    monkeypatch.setenv("CNNVISION_CACHE", str(tmp_path / "cache"))
    slot = sandbox.Slot.create(tmp_path / "slot0")
    env = sandbox.kernel_env(slot)
    assert env["CNNVISION_CACHE"] == str(tmp_path / "cache") and env["HOME"] == str(slot.home)


def test_a_changed_builder_retrains(fake_training, monkeypatch):
    fashion_cnn.load_fashion_cnn(verbose=0)
    monkeypatch.setattr(fashion_cnn, "build_fashion_cnn", _other_builder)
    fashion_cnn.load_fashion_cnn(verbose=0)
    assert len(fake_training) == 2


def test_missing_cache_without_training_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNVISION_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="train_if_missing=True"):
        fashion_cnn.load_fashion_cnn(train_if_missing=False)


@pytest.mark.slow
def test_trained_model_reaches_91_percent_on_the_test_set():
    """Trains once per CI run when the cache is empty (minutes on 2 CPU cores), then reuses it."""
    model, history, metrics = fashion_cnn.load_fashion_cnn(verbose=0)
    _, _, (x_test, y_test) = fashion_cnn.fashion_mnist_arrays()
    logits = model.predict(x_test, batch_size=1000, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    assert accuracy >= 0.91, f"test accuracy {accuracy:.4f}"
    assert abs(accuracy - metrics["test_accuracy"]) < 1e-3  # the record matches the weights
    assert len(history["loss"]) == fashion_cnn.TRAINING_CONFIG["epochs"]
