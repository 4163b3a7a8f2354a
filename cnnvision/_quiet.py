"""Keep TensorFlow silent on stderr.

nbgrader scores a test cell 0 when anything reaches stderr, and TensorFlow
prints log lines when it is imported on a CPU.  The variables below must be
set *before* TensorFlow is imported, which is why ``import cnnvision`` comes
first in every notebook.
"""

import logging
import os
import warnings

QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    "KERAS_BACKEND": "tensorflow",
}


def quiet_environment():
    """Set the variables that silence TensorFlow (keeps values set by the user)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def quiet_python_loggers():
    """Silence the Python-side loggers and warnings TensorFlow and Keras emit."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="tensorflow")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
