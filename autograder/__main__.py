"""``python -m autograder grade CHAPTER [SUBMISSIONS]``: see :mod:`autograder.grading.cli`."""

import sys

import cnnvision  # noqa: F401 - quiet TensorFlow before anything imports it
from autograder.grading.cli import main

sys.exit(main())
