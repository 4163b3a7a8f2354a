"""Static integrity scan of the student's own cells (before anything runs).

The runtime guard (:mod:`autograder.grading.guard`) sees objects that were
*replaced*; this scan sees what the code *says*: imports of the grader's
package (reference implementations included), assignments or ``setattr`` on
numpy, builtins or the grader's modules, ``sys.modules`` surgery, ``ctypes``
and ``gc`` introspection. A finding zeroes every test cell that comes after
the offending cell and is flagged for the instructor.

Test code a student pastes into a cell of their own (to re-run a public check,
or a whole test cell copied with or without its nbgrader metadata) is not
tampering: a top-level statement identical (same syntax tree) to a statement of
one of the chapter's graded test cells is not scanned. The names such a copied
``import`` binds (``core``, ``checks``) may then be used in the same cell only
as the test cells use them (``checks.public_conv2d``, ``core.assert_close``):
``checks.ref`` or ``core.run_reference`` next to a copied import is a finding.
A test cell's own statements cannot do more than the test cell does.
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


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False)


def test_code(source_nb) -> dict:
    """What the graded test cells of the source notebook say: their top-level statements
    (syntax trees) and the ``name.attribute`` uses they make."""
    statements: set[str] = set()
    attributes: set[str] = set()
    for cell in source_nb.cells:
        if not is_test_cell(cell):
            continue
        try:
            tree = ast.parse(_code_of(cell))
        except SyntaxError:
            continue
        statements.update(_dump(node) for node in tree.body)
        attributes.update(f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
                          if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name))
    return {"statements": statements, "attributes": attributes}


def _grader_names(statements: list[ast.stmt]) -> set[str]:
    """Names bound by the grader-package imports among ``statements``."""
    names = set()
    for node in statements:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "autograder":
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names
                         if alias.name.split(".")[0] == "autograder")
    return names


def _findings_in_cell(tree: ast.Module, known: dict) -> list[str]:
    """Findings in a student cell, not counting the statements copied from the test cells."""
    if not known:
        return _findings_in(tree)
    copied = [node for node in tree.body if _dump(node) in known["statements"]]
    rest = ast.Module(body=[node for node in tree.body if node not in copied], type_ignores=[])
    found = _findings_in(rest)
    names = _grader_names(copied)
    if names:
        parents = {child: node for node in ast.walk(rest) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(rest):
            if isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load):
                parent = parents.get(node)
                use = f"{node.id}.{parent.attr}" if isinstance(parent, ast.Attribute) else node.id
                if use not in known["attributes"]:
                    found.append(f"uses {use} of the grader's package")
    return list(dict.fromkeys(found))


def _code_of(cell) -> str:
    lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def scan_notebook(nb, locked_ids: set[str], known: dict | None = None) -> dict[str, list[str]]:
    """Findings per test cell ``grade_id`` affected (every test cell after the finding).

    ``known``: :func:`test_code` of the source notebook (copied test code is not a finding).
    """
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
        pending += [f"cell {index}: {text}" for text in _findings_in_cell(tree, known)]
    return affected
