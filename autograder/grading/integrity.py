"""Static integrity scan of the student's own cells (before anything runs).

The runtime guard (:mod:`autograder.grading.guard`) sees objects that were
*replaced*; this scan sees what the code *says*: imports of the grader's
package (reference implementations included), assignments or ``setattr`` on
numpy, builtins or the grader's modules, ``sys.modules`` surgery, ``ctypes``
and ``gc`` introspection. A finding zeroes every test cell that comes after
the offending cell and is flagged for the instructor.
"""

from __future__ import annotations

import ast

from .preprocessors import is_test_cell

PROTECTED_ROOTS = {"np", "numpy", "npt", "testing", "builtins", "__builtins__", "autograder",
                   "core", "checks", "reference", "math", "tf", "tensorflow", "keras", "layers",
                   "ops"}
SUSPICIOUS_MODULES = {"ctypes": "loads ctypes (raw memory access)", "gc": "uses gc introspection"}


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001
        return "?"


def _findings_in(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for name in ([module] if module else names):
                top = (name or "").split(".")[0]
                if top == "autograder":
                    what = "the reference implementations" if "reference" in name or any(
                        "reference" in n for n in names) else "the grader's package"
                    found.append(f"imports {what} ({name})")
                elif top == "builtins":
                    found.append("imports builtins")
                elif top == "importlib":
                    found.append("imports a module dynamically (importlib)")
                elif top in SUSPICIOUS_MODULES:
                    found.append(SUSPICIOUS_MODULES[top])
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute | ast.Subscript) and _root_name(
                        target) in PROTECTED_ROOTS:
                    found.append(f"replaces {_dotted(target)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("setattr", "delattr") and node.args and _root_name(
                    node.args[0]) in PROTECTED_ROOTS:
                found.append(f"{node.func.id} on {_dotted(node.args[0])}")
            if node.func.id == "__import__":
                found.append("imports a module dynamically (__import__)")
        elif isinstance(node, ast.Attribute) and node.attr == "modules" and _root_name(node) == "sys":
            found.append("reaches into sys.modules")
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            found.append("touches __builtins__")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                "autograder" in node.value):
            found.append("names the grader's package in a string")
    return list(dict.fromkeys(found))


def _code_of(cell) -> str:
    lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def scan_notebook(nb, locked_ids: set[str]) -> dict[str, list[str]]:
    """Findings per test cell ``grade_id`` affected (every test cell after the finding)."""
    affected: dict[str, list[str]] = {}
    pending: list[str] = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if is_test_cell(cell) or meta.get("grade_id") in locked_ids:
            if is_test_cell(cell) and pending:
                affected[meta["grade_id"]] = list(pending)
            continue
        try:
            tree = ast.parse(_code_of(cell))
        except SyntaxError:
            continue
        pending += [f"cell {index}: {text}" for text in _findings_in(tree)]
    return affected
