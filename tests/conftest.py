"""pytest configuration shared by every test module."""

import os
import sys
from pathlib import Path

import matplotlib

import cnnvision  # noqa: F401 - silences TensorFlow before any test imports it

matplotlib.use("Agg")  # headless; book kernels keep their inline backend

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))

# Block the network in this process too when the test command asks for it.
if os.environ.get("CNNVISION_BLOCK_NETWORK") == "1":
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_netguard", TESTS_DIR / "netguard" / "sitecustomize.py"
    )
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
