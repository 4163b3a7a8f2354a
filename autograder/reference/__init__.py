"""Reference computations the checks compare against: TensorFlow ops and reference Keras models."""
