"""Course library for *Convolutional Neural Networks for Computer Vision*.

Import it before TensorFlow: it silences TensorFlow's start-up messages.
"""

from ._quiet import quiet_environment, quiet_python_loggers

quiet_environment()
quiet_python_loggers()

__version__ = "0.1.0"

__all__ = ["__version__"]
