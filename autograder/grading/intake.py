"""Find, unpack and check submissions before any code runs.

Accepted layouts (``ROOT`` is a folder or a ``.zip``):

* nbgrader's: ``ROOT/<student>/<chapter>/<chapter>.ipynb`` (+ any files)
* one folder per student: ``ROOT/<student>/<anything>.ipynb``
  (LMS folder names such as ``Ada Lovelace_123_assignsubmission_file_`` are
  shortened to ``Ada_Lovelace_123``)
* flat LMS files: ``ROOT/<student>_<anything>.ipynb`` (Canvas style)

Each submission is copied to ``workspace/submitted/<student>/<chapter>/`` with
its notebook named ``<chapter>.ipynb``. Problems are recorded, and repaired
where a fair grade is still possible (wrong file name, duplicated cells,
deleted or edited test cells); a file that is no notebook at all is *fatal*:
the student gets 0 and the reason, without running anything.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_ZIP_BYTES = 2 * 2**30
_LMS_SUFFIX = re.compile(r"_(assignsubmission|onlinetext)_.*$", re.IGNORECASE)


@dataclass
class Submission:
    student: str
    origin: Path
    folder: Path | None = None
    problems: list[str] = field(default_factory=list)
    fatal: str | None = None


def student_id(name: str) -> str:
    """A safe student id from a folder or file name."""
    name = _LMS_SUFFIX.sub("", name)
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")
    return cleaned or "unknown"


def unpack_zip(archive: Path, target: Path) -> Path:
    """Extract an LMS bulk download safely (no absolute paths, no ``..``, size-capped)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with zipfile.ZipFile(archive) as bundle:
        total = sum(info.file_size for info in bundle.infolist())
        if total > MAX_ZIP_BYTES:
            raise ValueError(f"{archive}: {total} bytes uncompressed, more than {MAX_ZIP_BYTES}")
        for info in bundle.infolist():
            parts = Path(info.filename).parts
            if info.is_dir() or not parts or Path(info.filename).is_absolute() or ".." in parts:
                continue
            if parts[0] == "__MACOSX":
                continue
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink)
    entries = [p for p in target.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and not any(
            p.suffix == ".ipynb" for p in entries[0].iterdir()):
        return entries[0]  # a zip that wraps everything in one top folder
    return target


def discover(root: Path, chapter: str) -> list[tuple[str, Path]]:
    """``(student, folder or file)`` for every submission under ``root``."""
    found: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            inner = entry / chapter
            found[student_id(entry.name)] = inner if inner.is_dir() else entry
        elif entry.is_file():
            found.setdefault(student_id(entry.name.split("_")[0] if "_" in entry.name
                                        else entry.stem), entry)
    return sorted(found.items())


def _choose_notebook(origin: Path, chapter: str, sub: Submission) -> Path | None:
    if origin.is_file():
        notebooks = [origin]
    else:
        notebooks = sorted(p for p in origin.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    expected = [p for p in notebooks if p.name == f"{chapter}.ipynb"]
    if expected:
        return expected[0]
    if not notebooks:
        sub.fatal = "missing notebook: no .ipynb file in the submission"
        return None
    chosen = max(notebooks, key=lambda p: (chapter in p.name.lower(), p.stat().st_size))
    sub.problems.append(f"wrong file name: graded {chosen.name} as {chapter}.ipynb")
    return chosen


def _read_notebook(path: Path, sub: Submission):
    raw = path.read_bytes()
    if not raw.strip():
        sub.fatal = f"empty file: {path.name} has no content"
        return None
    try:
        json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        sub.fatal = f"invalid JSON in {path.name}: {str(error)[:120]}"
        return None
    try:
        nb = nbformat.reads(raw.decode(), as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - nbformat raises several kinds
        sub.fatal = f"not a valid notebook: {path.name}: {str(error).splitlines()[0][:160]}"
        return None
    return nb


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def repair_cells(nb, release, sub: Submission) -> None:
    """Record deleted/edited/duplicated nbgrader cells; drop the copies' metadata."""
    release_cells = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    seen: set[str] = set()
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if grade_id is None:
            continue
        if grade_id in seen:
            sub.problems.append(f"duplicated cell {grade_id}: the copy is ignored")
            del cell.metadata["nbgrader"]
            continue
        seen.add(grade_id)
        original = release_cells.get(grade_id)
        locked = original is not None and original.metadata["nbgrader"].get("locked")
        if locked and cell.source.strip() != original.source.strip():
            sub.problems.append(f"edited locked cell {grade_id}: restored from the source")
    for grade_id, original in release_cells.items():
        if grade_id not in seen:
            kind = "test cell" if original.metadata["nbgrader"].get("grade") else "cell"
            sub.problems.append(f"deleted {kind} {grade_id}: restored from the source")


def prepare(origin: Path, student: str, chapter: str, release_nb, target_root: Path) -> Submission:
    """Check one submission and copy it, repaired, to ``target_root/<student>/<chapter>/``."""
    sub = Submission(student=student, origin=origin)
    notebook = _choose_notebook(origin, chapter, sub)
    if notebook is None:
        return sub
    nb = _read_notebook(notebook, sub)
    if nb is None:
        return sub
    repair_cells(nb, release_nb, sub)
    folder = target_root / student / chapter
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if origin.is_dir():
        for path in origin.rglob("*"):
            if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in path.parts:
                destination = folder / path.relative_to(origin)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
    nbformat.write(nb, folder / f"{chapter}.ipynb")
    sub.folder = folder
    return sub
