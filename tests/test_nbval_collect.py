"""nbval still reads every solution notebook (``make nbval``, an instructor's CI).

``make test`` runs each solution notebook once, through the grader
(tests/test_chapters_autograde.py checks every cell ran without error or stderr), so nbval
does not execute them a second time; this test only proves that nbval collects every code
cell of every solution notebook, so ``pytest --nbval-lax solutions/`` keeps working.
"""

import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]


def test_nbval_collects_every_code_cell_of_every_solution_notebook():
    notebooks = sorted((REPO / "solutions").glob("*/*.ipynb"))
    assert notebooks
    expected = {}
    for path in notebooks:
        cells = nbformat.read(path, as_version=4).cells
        expected[path.relative_to(REPO).as_posix()] = sum(c.cell_type == "code" for c in cells)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval-lax",
         "-p", "no:cacheprovider", "-p", "no:xdist", "solutions/"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected: dict[str, int] = {}
    for line in done.stdout.splitlines():
        if "::Cell " in line:
            notebook = line.split("::", 1)[0]
            collected[notebook] = collected.get(notebook, 0) + 1
    assert collected == expected
