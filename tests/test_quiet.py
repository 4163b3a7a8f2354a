"""Importing the course library, then TensorFlow, prints nothing to stderr.

nbgrader scores a test cell 0 on any stderr output, so this matters.
"""

import os
import subprocess
import sys

QUIET_VARIABLES = ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "TF_FORCE_GPU_ALLOW_GROWTH")


def _run_clean(code: str) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter without the variables the test command sets."""
    env = {k: v for k, v in os.environ.items() if k not in QUIET_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180
    )


def test_import_and_small_keras_work_print_nothing_to_stderr():
    code = (
        "import cnnvision\n"
        "import numpy as np, tensorflow as tf, keras\n"
        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
        "model.compile(optimizer='adam', loss='mse')\n"
        "model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=1, verbose=0)\n"
        "print(tf.nn.conv2d(tf.ones((1, 5, 5, 1)), tf.ones((3, 3, 1, 1)), 1, 'VALID').shape)\n"
    )
    result = _run_clean(code)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", f"stderr was not empty:\n{result.stderr}"
    assert "(1, 3, 3, 1)" in result.stdout


def test_the_library_sets_the_quiet_variables():
    code = "import os, cnnvision; print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    result = _run_clean(code)
    assert result.stdout.split() == ["3", "0"]


def test_user_settings_are_kept():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="1")
    code = "import os, cnnvision; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.stdout.strip() == "1"
