"""Every graded exercise of every chapter, proven against its checks.

For each chapter in solutions/ (exercises = the notebook's graded cells):
the solution passes the public check and scores full marks on the hidden one;
the untouched student stub fails both with a readable "not implemented";
every deliberately wrong implementation in tests/wrong/<chapter>.py loses points;
and each test cell hands nbgrader its own points (nbgrader reads the number a
test cell ends with as the points earned).  Chapter-specific behaviour (hints,
references, invariants) is tested in tests/test_<chapter>.py.
"""

from __future__ import annotations

import functools
import importlib
import json
import re

import pytest
from notebook_code import load_namespace, notebook_path

from autograder import core

# What each notebook's setup cell (not a solution cell) imports for the solution cells.
PRELUDES = {
    "mlp_limits": "import math\nimport numpy as np\nimport keras\n",
    "convolution": "import math\nimport numpy as np\n",
    "pooling": "import numpy as np\n",
    "architectures": "import numpy as np\nimport keras\nfrom keras import layers\n",
    "introspection": "import numpy as np\nimport keras\nimport tensorflow as tf\n",
    "transfer_learning": "import numpy as np\nimport keras\nimport tensorflow as tf\n",
    "texture_style_colour": (
        "import numpy as np\nimport keras\nimport tensorflow as tf\n"
        "XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],"
        " [0.019334, 0.119193, 0.950227]])\nWHITE_D65 = np.array([0.95047, 1.0, 1.08883])\n"
    ),
    "generative": "import numpy as np\nimport keras\nimport tensorflow as tf\n",
    "detection_segmentation": "import numpy as np\nimport keras\nimport tensorflow as tf\n",
}
# Exercises whose full-marks check trains a model: tested once in their chapter's file.
TRAINING_EXERCISES = {("architectures", "train_on_subset"), ("detection_segmentation", "train_segmenter")}
HIDDEN_CALL = re.compile(r"checks\.hidden_(\w+)\((\w+), points=(\d+(?:\.\d+)?)\)[^\n]*\s*### END HIDDEN TESTS")


def graded_cells(chapter: str) -> list[dict]:
    cells = json.loads(notebook_path(chapter).read_text())["cells"]
    return [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]


def exercises(chapter: str) -> list[str]:
    return [c["metadata"]["nbgrader"]["grade_id"].removeprefix("test_") for c in graded_cells(chapter)]


@functools.cache
def namespace(chapter: str, version: str) -> dict:
    return load_namespace(chapter, version, prelude=PRELUDES[chapter])


def checks_of(chapter: str):
    return importlib.import_module(f"autograder.checks.{chapter}")


def wrong_of(chapter: str) -> dict:
    return importlib.import_module(f"wrong.{chapter}").WRONG_IMPLEMENTATIONS


def _params(items, ids):
    return [pytest.param(*item, id=ident, marks=pytest.mark.xdist_group(item[0]))
            for item, ident in zip(items, ids, strict=True)]


EXERCISES = [(ch, ex) for ch in PRELUDES for ex in exercises(ch)]
WRONG = [(ch, ex, fn) for ch in PRELUDES for ex, fns in wrong_of(ch).items() for fn in fns]


def test_every_chapter_is_covered():
    chapters = {path.parent.name for path in notebook_path("x").parents[1].glob("*/*.ipynb")}
    assert chapters == set(PRELUDES), "add the new chapter's prelude to PRELUDES"


@pytest.mark.parametrize("chapter", PRELUDES)
def test_every_exercise_has_three_wrong_implementations(chapter):
    wrong = wrong_of(chapter)
    assert set(wrong) == set(exercises(chapter))
    for exercise, functions in wrong.items():
        assert len(functions) >= 3, exercise


@pytest.mark.parametrize("chapter", PRELUDES)
def test_each_test_cell_hands_nbgrader_its_points(chapter):
    for cell in graded_cells(chapter):
        meta = cell["metadata"]["nbgrader"]
        call = HIDDEN_CALL.search("".join(cell["source"]))
        assert call, f"{meta['grade_id']}: the cell must end with checks.hidden_<fn>(<fn>, points=N)"
        assert f"test_{call[1]}" == meta["grade_id"] and call[1] == call[2], meta["grade_id"]
        assert float(call[3]) == meta["points"], meta["grade_id"]


@pytest.mark.parametrize(("chapter", "exercise"), _params(EXERCISES, [f"{c}-{e}" for c, e in EXERCISES]))
def test_solution_passes_public_and_scores_full_marks(chapter, exercise, capsys):
    if (chapter, exercise) in TRAINING_EXERCISES:
        pytest.skip("trains a model: tested in its chapter's test file")
    checks, solution = checks_of(chapter), namespace(chapter, "solutions")[exercise]
    getattr(checks, f"public_{exercise}")(solution)
    assert getattr(checks, f"hidden_{exercise}")(solution, points=3) == 3.0
    assert "[FAIL]" not in capsys.readouterr().out


@pytest.mark.parametrize(("chapter", "exercise"), _params(EXERCISES, [f"{c}-{e}" for c, e in EXERCISES]))
@pytest.mark.parametrize("kind", ["public", "hidden"])
def test_student_stub_fails_readably(chapter, exercise, kind):
    stub = namespace(chapter, "notebooks")[exercise]
    with pytest.raises(core.CheckFailure, match="not implemented"):
        getattr(checks_of(chapter), f"{kind}_{exercise}")(stub)


@pytest.mark.parametrize(
    ("chapter", "exercise", "wrong"), _params(WRONG, [f"{c}-{f.__name__}" for c, _, f in WRONG])
)
def test_wrong_implementation_loses_points(chapter, exercise, wrong):
    try:
        score = getattr(checks_of(chapter), f"hidden_{exercise}")(wrong)
    except core.CheckFailure:
        return  # no group passes, or TensorFlow was used: no points
    assert score < 1.0, f"{wrong.__name__} scored {score}"
