"""Reference helpers shared by chapters, run where the student's code runs (a graded kernel
gets them by name, see :mod:`autograder.grading.wire`)."""

from __future__ import annotations


def seed_training(seed: int) -> None:
    """``keras.utils.set_random_seed(seed)``: the seed of a training the student's function does."""
    import keras

    keras.utils.set_random_seed(seed)


def block_model(block, input_shape, *args):
    """``keras.Model(inputs, block(inputs, *args))`` on ``keras.Input(input_shape)``.

    Raises ``TypeError`` when the block does not return a tensor and ``ValueError`` when Keras
    cannot build a model to the tensor it returned (the messages say what to change); the
    block's own errors pass through."""
    import keras

    inputs = keras.Input(input_shape)
    outputs = block(inputs, *args)
    if outputs is None or not hasattr(outputs, "shape"):
        raise TypeError("should return the output tensor of the block (the result of calling the "
                        f"last layer on a tensor), got {type(outputs).__name__}.")
    try:
        return keras.Model(inputs, outputs)
    except Exception as error:  # noqa: BLE001 - explain what keras refused
        raise ValueError(f"could not build a model from keras.Input{tuple(input_shape)} to the "
                         f"tensor you returned ({type(error).__name__}: {error}). Return a tensor "
                         "computed from `x`.") from None


def counting_model(model):
    """``model`` wrapped so that every call is counted (``wrapper.calls``), already built (its
    build call not counted)."""
    import keras

    class CountingModel(keras.Model):
        def __init__(self, inner):
            super().__init__(name=f"counted_{inner.name}")
            self.inner = inner
            self.calls = 0

        def call(self, inputs, training=False):
            self.calls += 1
            return self.inner(inputs, training=training)

    counted = CountingModel(model)
    counted.build(tuple(model.inputs[0].shape))
    counted.calls = 0
    return counted


def call_counting_model_calls(function, model, args: tuple, kwargs: dict):
    """``function(counted, *args, **kwargs)``, ``counted`` the model wrapped by
    :func:`counting_model`: ``(result, calls of the model, whether the function changed an array
    it was given)``."""
    import numpy as np

    counted = counting_model(model)
    originals = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]
    result = function(counted, *args, **kwargs)
    changed = any(original is not None and not np.array_equal(original, arg)
                  for original, arg in zip(originals, args, strict=True))
    return result, counted.calls, changed


def same_object(first, second) -> bool:
    """``first is second``, asked where both live (a function that must return the model it was
    given)."""
    return first is second
