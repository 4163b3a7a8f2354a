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
