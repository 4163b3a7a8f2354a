"""pytest configuration shared by every test module."""

import os
import shutil
import sys
from pathlib import Path

import matplotlib
import pytest

import cnnvision  # noqa: F401 - silences TensorFlow before any test imports it

matplotlib.use("Agg")  # headless; book kernels keep their inline backend

# One instructor secret for every test cohort: the salted random cases of the checks that run
# in the grading worker are then the same on every run (tests of the secret file unset it).
os.environ.setdefault("AUTOGRADER_SECRET", "course-test-suite")

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))

# Block the network in this process too when the test command asks for it.
if os.environ.get("CNNVISION_BLOCK_NETWORK") == "1":
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_netguard", TESTS_DIR / "netguard" / "sitecustomize.py"
    )
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.fixture(scope="session")
def grading_template(tmp_path_factory):
    """``build_template`` once per chapter and source version; each workspace gets a copy.

    A template in a new workspace costs nbgrader's first gradebook there (alembic, 5-10 s):
    the grading tests of every module share one build of each chapter's template.
    """
    from autograder.grading import template

    cache = tmp_path_factory.mktemp("templates")

    def build(source_root: Path, chapter: str, workspace: Path) -> Path:
        built = template.build_template(source_root, chapter, cache)
        copy = workspace / ".templates" / built.name
        if not copy.is_dir():
            shutil.copytree(built, copy)
        return copy

    return build


@pytest.fixture(scope="session")
def graded(tmp_path_factory, grading_template):
    """The fixture cohort of tests/test_grading_cohort.py, graded once by the local pool:
    (cohort, submissions, release, cases, summary). The cluster tests compare with it."""
    from test_grading_cohort import grade_fixture_cohort

    return grade_fixture_cohort(tmp_path_factory.mktemp("workspace"),
                                tmp_path_factory.mktemp("submissions"), grading_template)
