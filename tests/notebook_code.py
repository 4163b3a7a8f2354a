"""Load the code of a chapter's notebook into a namespace, for unit tests.

The solution notebooks are the one source of the reference solutions: the
tests execute their code cells (not the test cells) instead of keeping a copy.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def notebook_path(chapter: str, version: str = "solutions") -> Path:
    """``solutions/<chapter>/<chapter>.ipynb`` or ``notebooks/<chapter>/<chapter>.ipynb``."""
    return REPO_ROOT / version / chapter / f"{chapter}.ipynb"


def solution_cells(chapter: str, version: str = "solutions") -> list[str]:
    """Source of the cells nbgrader marks as solution cells (student answers)."""
    notebook = json.loads(notebook_path(chapter, version).read_text())
    cells = []
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution") and not meta.get("grade"):
            cells.append("".join(cell["source"]))
    return cells


def load_namespace(chapter: str, version: str = "solutions", prelude: str = "") -> dict:
    """Execute ``prelude`` then the solution cells; return the resulting namespace.

    IPython magics (lines starting with ``%`` or ``!``) are skipped.
    """
    namespace: dict = {"__name__": f"notebook_{chapter}"}
    exec(compile(prelude, "<prelude>", "exec"), namespace)
    for index, source in enumerate(solution_cells(chapter, version)):
        code = "\n".join(
            line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        exec(compile(code, f"<{version}/{chapter} cell {index}>", "exec"), namespace)
    return namespace


def hidden_report(chapter: str, exercise: str, wrong_name: str, capsys) -> str:
    """What the hidden check of ``exercise`` says about the wrong implementation ``wrong_name``
    of ``tests/wrong/<chapter>.py``: its printed report when some group passes, else the
    failure's message."""
    import importlib

    from autograder import core

    checks = importlib.import_module(f"autograder.checks.{chapter}")
    wrong = getattr(importlib.import_module(f"wrong.{chapter}"), wrong_name)
    try:
        getattr(checks, f"hidden_{exercise}")(wrong)
        return capsys.readouterr().out
    except core.CheckFailure as failure:
        return str(failure)
