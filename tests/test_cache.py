"""cnnvision.cache: the keys of cached results, and training once."""

from __future__ import annotations

import numpy as np
import pytest

from cnnvision.cache import cached_training, code_key


def _double(x):
    return 2 * x


def _triple(x):
    return 3 * x


def test_code_key_changes_with_the_code_and_the_config():
    key = code_key((_double,), {"a": 1})
    assert key == code_key((_double,), {"a": 1})
    assert key != code_key((_triple,), {"a": 1})
    assert key != code_key((_double,), {"a": 2})
    assert code_key((_double,), {"a": 1, "b": 2}) == code_key((_double,), {"b": 2, "a": 1})


def _build(config):
    import keras

    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(config["units"])])


TRAINED = []


def _train(config):
    model = _build(config)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(np.ones((8, 3)), np.zeros((8, config["units"])), epochs=2, verbose=0)
    TRAINED.append(config["units"])
    return model, history.history["loss"]


def _train_pair(config):
    model, history = _train(config)
    return {"a": model, "b": _build(config)}, history


def _build_pair(config):
    return {"a": _build(config), "b": _build(config)}


@pytest.mark.parametrize(("train", "build"), [(_train, _build), (_train_pair, _build_pair)])
def test_cached_training_trains_once_then_loads_the_same_weights(tmp_path, train, build):
    TRAINED.clear()
    config = {"units": 2, "seed": 0}
    first, record = cached_training(tmp_path, "toy", train, build, config)
    again, record_again = cached_training(tmp_path, "toy", train, build, config)
    assert TRAINED == [2] and record == record_again and len(record["history"]) == 2
    pairs = zip(*(m.values() if isinstance(m, dict) else [m] for m in (first, again)), strict=True)
    for model, loaded in pairs:
        for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
            assert np.array_equal(a, b)
    cached_training(tmp_path, "toy", train, build, {**config, "units": 3})
    assert TRAINED == [2, 3]


def test_an_interrupted_entry_trains_again(tmp_path):
    TRAINED.clear()
    config = {"units": 2, "seed": 0}
    cached_training(tmp_path, "toy", _train, _build, config)
    next(tmp_path.glob("toy-*.json")).unlink()  # the record marks a complete entry
    cached_training(tmp_path, "toy", _train, _build, config)
    assert TRAINED == [2, 2]
