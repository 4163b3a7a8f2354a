"""Tests for the chapter "Transfer learning": references, the Keras facts the checks rely on.

The generic proofs (solution full marks, stub 0 with a readable message, every wrong
implementation loses points) are in tests/test_chapter_contracts.py and
tests/test_chapters_autograde.py. Here: the reference preprocessing is the course library's,
the reference strategies give the parameter counts worked out by hand, and the behaviours of
Keras 3 that the checks (and the notebook's text) rely on still hold, so that a Keras upgrade
that changes them fails here instead of silently changing what the checks grade.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from notebook_code import load_namespace

from autograder import core
from autograder.checks import transfer_learning as checks
from autograder.reference import transfer_learning as reference
from cnnvision import imagenet

pytestmark = pytest.mark.xdist_group("transfer_learning")

PRELUDE = "import numpy as np\nimport keras\nimport tensorflow as tf"

# The toy base of the checks, counted by hand: conv1 3*3*3*6, bn1 4*6 (gamma and beta train,
# the moving mean and variance never do), conv2 3*3*6*8, bn2 4*8, conv3 8*10 + 10; and the
# classifier for 4 classes: 10*4 + 4.
CONV, BATCH_NORM, HEAD = 162 + 432 + 90, 24 + 32, 44


@pytest.fixture(scope="module")
def solution():
    return load_namespace("transfer_learning", prelude=PRELUDE)


def _counts(model):
    return (sum(int(np.prod(v.shape)) for v in model.trainable_weights),
            sum(int(np.prod(v.shape)) for v in model.non_trainable_weights))


def test_reference_preprocessing_is_the_course_librarys():
    images = checks.uint8_images(0, (3, 16, 16, 3))
    np.testing.assert_allclose(reference.prepare_images(images, 16),
                               imagenet.preprocess_input(images), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("strategy", "n_frozen", "expected"), [
    ("all", 0, (CONV + HEAD, BATCH_NORM)),
    ("head", 0, (HEAD, CONV + BATCH_NORM)),
    ("first_k", 2, (CONV - 162 + HEAD, 162 + BATCH_NORM)),  # input layer and conv1
    ("first_k", 0, (CONV + HEAD, BATCH_NORM)),
])
def test_reference_strategies_give_the_counts_worked_out_by_hand(strategy, n_frozen, expected):
    for nested in (False, True):
        model, base = checks.toy_model(0, nested=nested)
        reference.set_strategy(model, base, "head", 1e-3)  # from another strategy first
        reference.set_strategy(model, base, strategy, 1e-3, n_frozen)
        assert _counts(model) == expected


def test_keras_skips_model_trainable_true_when_the_flag_is_already_true():
    """The trap the notebook warns about, and that a wrong implementation falls into."""
    model, base = checks.toy_model(1)
    for layer in base.layers:
        layer.trainable = False
    model.trainable = True
    assert _counts(model)[0] == HEAD
    model.trainable = False
    model.trainable = True
    assert _counts(model)[0] == CONV + 2 * 6 + 2 * 8 + HEAD  # BatchNorm gamma, beta train too


def test_without_compile_a_trained_model_keeps_its_training_function():
    """What the 'compiled again' groups detect: unfrozen weights stay fixed without compile."""
    model, base = checks.toy_model(2)
    images, labels = checks.batch(3)
    reference.set_strategy(model, base, "head", 1e-3)
    model.train_on_batch(images, labels)
    base.trainable = False
    base.trainable = True
    before = [np.array(v) for v in base.weights]
    model.train_on_batch(images, labels)
    assert all(np.array_equal(np.array(v), b) for v, b in zip(base.weights, before, strict=True))


def test_one_adam_step_moves_each_weight_by_at_most_the_learning_rate():
    model, base = checks.toy_model(3)
    reference.set_strategy(model, base, "all", 1e-3)
    images, labels = checks.batch(4)
    before = {id(v): np.array(v) for v in model.trainable_weights}
    model.train_on_batch(images, labels)
    changes = [np.abs(np.array(v) - before[id(v)]).max() for v in model.trainable_weights]
    assert 0.5e-3 <= max(changes) <= checks.STEP_SLACK * 1e-3
    assert min(changes) > 0  # every trained weight moves: no bias hidden behind a BatchNorm


def test_a_frozen_batch_norm_keeps_its_statistics_while_the_rest_trains():
    model, base = checks.toy_model(4)
    reference.set_strategy(model, base, "all", 1e-3)
    statistics = [np.array(v) for v in base.get_layer("bn1").weights]
    model.train_on_batch(*checks.batch(5))
    assert all(np.array_equal(np.array(v), s)
               for v, s in zip(base.get_layer("bn1").weights, statistics, strict=True))


def test_the_batch_probe_refuses_larger_batches():
    base = checks.toy_base(0, batch_limit=2)
    images, _ = checks.batch(0, 3)
    base.predict(images, batch_size=2, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch_size=2"):
        base.predict(images, batch_size=3, verbose=0)


def test_reference_features_are_the_pooled_maps_in_inference_mode():
    base = checks.toy_base(5, dropout=True)
    images, _ = checks.batch(6, 5)
    maps = base(images, training=False)
    np.testing.assert_allclose(reference.extract_features(base, images, 2),
                               np.asarray(maps).mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert reference.extract_features(base, images[:0], 2).shape == (0, 10)


def test_a_dense_layer_on_the_map_is_named_in_the_message():
    from wrong.transfer_learning import classifier_dense_on_the_map, classifier_flatten

    with pytest.raises(core.CheckFailure, match="pool the map before the Dense layer"):
        checks.check_classifier_case(classifier_dense_on_the_map, checks.ClassifierCase(3, 0))
    with pytest.raises(core.CheckFailure, match="GlobalAveragePooling2D"):
        checks.check_classifier_case(classifier_flatten, checks.ClassifierCase(3, 0))


def test_messages_name_the_preprocessing_mistake():
    from wrong.transfer_learning import prepare_divided_by_255, prepare_minus_one_to_one

    with pytest.raises(core.CheckFailure, match="divided by 255"):
        checks.check_prepare_case(prepare_divided_by_255, checks.PUBLIC_PREPARE[0])
    with pytest.raises(core.CheckFailure, match="127.5"):
        checks.check_prepare_case(prepare_minus_one_to_one, checks.PUBLIC_PREPARE[0])


def test_messages_say_to_compile_again(solution):
    from wrong.transfer_learning import fine_tune_not_recompiled, strategy_not_recompiled

    case = checks.StrategyCase("all", learning_rate=1e-3, seed=37, trained_before="head")
    with pytest.raises(core.CheckFailure, match="compile again"):
        checks.check_strategy_case(strategy_not_recompiled, case)
    with pytest.raises(core.CheckFailure, match="compile again"):
        checks.check_fine_tune_case(fine_tune_not_recompiled, checks.FineTuneCase(1, 1, 64, head_lr=3e-3))
    checks.check_strategy_case(solution["set_strategy"], case)


def test_notebook_states_the_conventions_the_checks_grade():
    import json

    from notebook_code import notebook_path

    text = "".join("".join(c["source"]) for c in
                   json.loads(notebook_path("transfer_learning").read_text())["cells"]
                   if c["cell_type"] == "markdown")
    for phrase in ("(x - 127) / 128", "bilinear", "BatchNormalization", "compiled again",
                   "Adam(learning_rate)", "from_logits=True", "base.layers[:n_frozen]",
                   "inference mode", "sorted in\nascending order", "fine_lr > head_lr"):
        assert phrase in text, phrase
