"""Find, unpack and check submissions before any code runs.

Accepted layouts (``ROOT`` is a folder or a ``.zip``):

* nbgrader's: ``ROOT/<student>/<chapter>/<chapter>.ipynb`` (+ any files)
* one folder per student: ``ROOT/<student>/<anything>.ipynb``
* Moodle's bulk download, with or without folders:
  ``ROOT/Ada Lovelace_123_assignsubmission_file_/<files>`` and
  ``ROOT/Ada Lovelace_123_assignsubmission_onlinetext_/onlinetext.html``, or
  ``ROOT/Ada Lovelace_123_assignsubmission_file_<file>``
* Canvas's: ``ROOT/<name>[_LATE]_<user id>_<attachment id>_<file>`` and
  ``ROOT/<name>[_LATE]_<user id>_text.html`` (online text entries)
* other flat files: ``ROOT/<student>_<anything>.ipynb``

An LMS student is keyed by the LMS's own id (Moodle's participant id, Canvas's
user id), never by the name alone: two students with the same name are two
students, and every folder and file of one student (file submission, online
text, several attachments) is considered together, so an online text never
hides the notebook. Their safe id (``<ascii name>_<lms id>``) names the
nbgrader student folder and the record; the real name and the LMS id travel
with it (:class:`StudentId`) into the grades CSV and the report. A student
whose entries are spread over several folders or files is gathered in a
staging folder (the grader's workspace; ``ROOT/.by-student/`` by default), file
submissions first, nothing overwritten.

Each submission is copied to ``workspace/submitted/<student>/<chapter>/`` with
its notebook named ``<chapter>.ipynb``. Problems are recorded, and repaired
where a fair grade is still possible (wrong file name, duplicated cells,
deleted or edited test cells); a file that is no notebook at all is *fatal*:
the student gets 0 and the reason, without running anything. Every student in
``ROOT`` gets a record, one with nothing gradeable (say, an online text only) 0
and the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_ZIP_BYTES = 2 * 2**30
STAGING = ".by-student"
_LMS_SUFFIX = re.compile(r"_(assignsubmission|onlinetext)_.*$", re.IGNORECASE)
# Moodle: "<full name>_<participant id>_assignsubmission_<plugin>_[<original file name>]"
_MOODLE = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_(?:assignsubmission_(?P<plugin>[a-z]+)"
                     r"|(?P<bare>onlinetext|file))_(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
# Canvas: "<name>[_LATE]_<user id>_<attachment id>_<original file name>" or "..._text.html"
_CANVAS = re.compile(r"^(?P<name>.+?)_(?:LATE_)?(?P<id>\d+)_(?:(?P<attachment>\d+)_(?P<rest>.+)"
                     r"|(?P<kind>text|link)\.html)$", re.DOTALL)


class StudentId(str):
    """A safe student id (nbgrader folder, record file name) that knows who it is.

    ``name`` is the student's name as the LMS wrote it (unicode kept), ``lms_id``
    the LMS's id for them (``moodle:123``, ``canvas:456``) or ``None``.
    """

    name: str
    lms_id: str | None

    def __new__(cls, safe: str, name: str | None = None, lms_id: str | None = None):
        made = super().__new__(cls, safe)
        made.name = name or str(safe)
        made.lms_id = lms_id
        return made


@dataclass
class Submission:
    student: str
    origin: Path
    folder: Path | None = None
    problems: list[str] = field(default_factory=list)
    fatal: str | None = None

    @property
    def name(self) -> str:
        return getattr(self.student, "name", str(self.student))

    @property
    def lms_id(self) -> str | None:
        return getattr(self.student, "lms_id", None)


_LETTERS = str.maketrans({"Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Ø": "O", "ø": "o",
                          "Ł": "L", "ł": "l", "Þ": "Th", "þ": "th", "ß": "ss", "Æ": "AE",
                          "æ": "ae", "Œ": "OE", "œ": "oe", "ı": "i"})


def _ascii(text: str) -> str:
    """ASCII letters for a name: accents dropped, letters without a decomposition mapped."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    return decomposed.encode("ascii", "ignore").decode()


def student_id(name: str) -> str:
    """A safe student id from a folder or file name (ASCII letters, digits, ``_.-``)."""
    name = _LMS_SUFFIX.sub("", name)
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", _ascii(name)).strip("._-")
    return cleaned or "unknown"


def _lms_safe_id(name: str, number: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", _ascii(name)).strip("._-")
    return f"{cleaned}_{number}" if cleaned else f"student_{number}"


def _is_lms_folder(name: str) -> bool:
    return bool(_MOODLE.match(name))


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
    if len(entries) == 1 and entries[0].is_dir() and not _is_lms_folder(entries[0].name) \
            and not any(p.suffix == ".ipynb" for p in entries[0].iterdir()):
        return entries[0]  # a zip that wraps everything in one top folder
    return target


@dataclass
class _Entry:
    path: Path
    key: tuple[str, str]  # who: ("moodle", participant id), ("canvas", user id), ("local", id)
    safe: str
    name: str
    lms_id: str | None = None
    rank: int = 0  # 0: a file submission, 1: anything else (online text, link)
    file_name: str | None = None  # a flat LMS file's original name


def _classify(entry: Path) -> _Entry:
    text = unicodedata.normalize("NFC", entry.name)
    moodle = _MOODLE.match(text)
    if moodle and (entry.is_dir() or moodle["rest"]):
        plugin = (moodle["plugin"] or moodle["bare"]).lower()
        name, number = moodle["name"].strip(), moodle["id"]
        return _Entry(entry, ("moodle", number), _lms_safe_id(name, number), name,
                      f"moodle:{number}", 0 if plugin == "file" else 1,
                      None if entry.is_dir() else moodle["rest"])
    canvas = _CANVAS.match(text) if entry.is_file() else None
    if canvas:
        name, number = canvas["name"], canvas["id"]
        return _Entry(entry, ("canvas", number), _lms_safe_id(name, number), name,
                      f"canvas:{number}", 1 if canvas["kind"] else 0,
                      canvas["rest"] or f"{canvas['kind']}.html")
    if entry.is_dir():
        return _Entry(entry, ("local", text), student_id(text), text)
    stem = text.split("_")[0] if "_" in text else Path(text).stem
    safe = student_id(stem)
    return _Entry(entry, ("local", safe), safe, stem)


def _unique_ids(groups: dict[tuple[str, str], list[_Entry]]) -> dict[tuple[str, str], str]:
    """One safe id per student; ids that would collide get a suffix from the student's key."""
    wanted = {key: entries[0].safe for key, entries in groups.items()}
    taken: dict[str, list[tuple[str, str]]] = {}
    for key, safe in wanted.items():
        taken.setdefault(safe.lower(), []).append(key)  # case-insensitive file systems too
    for keys in taken.values():
        if len(keys) > 1:
            for key in keys:
                if key[0] == "local" and key[1] == wanted[key]:
                    continue  # a folder already named exactly like its id keeps it
                digest = hashlib.sha1("\0".join(key).encode()).hexdigest()[:8]
                wanted[key] = f"{wanted[key]}-{digest}"
    return wanted


def _copy_new(source: Path, destination: Path) -> None:
    """Copy a file unless ``destination`` exists (then under the source's full name)."""
    if destination.exists():
        destination = destination.with_name(source.name)
        if destination.exists():
            return
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)


def _gather(entries: list[_Entry], chapter: str, folder: Path) -> Path:
    """All of one student's folders and files in ``folder``: file submissions first."""
    folder.mkdir(parents=True)
    for entry in sorted(entries, key=lambda e: (e.rank, e.path.name)):
        if entry.path.is_dir():
            inner = entry.path / chapter
            base = inner if inner.is_dir() else entry.path
            for path in sorted(base.rglob("*")):
                if path.is_file():
                    _copy_new(path, folder / path.relative_to(base))
        else:
            _copy_new(entry.path, folder / (entry.file_name or entry.path.name))
    return folder


def discover(root: Path, chapter: str, staging: Path | None = None) -> list[tuple[str, Path]]:
    """``(student, folder or file)`` for every student under ``root``, one pair each.

    ``student`` is a :class:`StudentId`. A student with several entries (Moodle's
    file and online-text folders, several Canvas files) or a flat LMS file gets
    a folder gathered under ``staging`` (emptied first; default ``root/.by-student``:
    the grader passes a folder of its workspace, so the submissions folder is
    never written to).
    """
    groups: dict[tuple[str, str], list[_Entry]] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not (entry.is_dir() or entry.is_file()):
            continue
        classified = _classify(entry)
        groups.setdefault(classified.key, []).append(classified)
    ids = _unique_ids(groups)
    staging = staging or root / STAGING
    emptied = False
    found = []
    for key, entries in groups.items():
        first = entries[0]
        student = StudentId(ids[key], first.name, first.lms_id)
        if len(entries) == 1 and first.path.is_dir():
            inner = first.path / chapter
            origin = inner if inner.is_dir() else first.path
        elif len(entries) == 1 and first.lms_id is None:
            origin = first.path
        else:
            if not emptied:
                shutil.rmtree(staging, ignore_errors=True)
                emptied = True
            origin = _gather(entries, chapter, staging / student)
        found.append((student, origin))
    return sorted(found, key=lambda pair: str(pair[0]))


def _choose_notebook(origin: Path, chapter: str, sub: Submission) -> Path | None:
    if origin.is_file():
        notebooks = [origin]
    else:
        notebooks = sorted(p for p in origin.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    expected = [p for p in notebooks if p.name == f"{chapter}.ipynb"]
    if expected:
        return expected[0]
    if not notebooks:
        held = sorted(p.name for p in ([origin] if origin.is_file() else origin.rglob("*"))
                      if p.is_file())
        sub.fatal = "missing notebook: no .ipynb file in the submission" + (
            f" (it holds: {', '.join(held[:5])}{', ...' if len(held) > 5 else ''})"
            if held else " (it is empty)")
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


def drop_duplicate_grade_ids(nb) -> list[str]:
    """Strip the nbgrader metadata of every cell whose ``grade_id`` an earlier cell has.

    nbgrader aborts a whole notebook on a duplicate ``grade_id`` (with a misleading
    "old metadata format" error). The copy stays as an ordinary code cell, which the
    static scan does not read as tampering (``integrity.test_code``).
    """
    seen: set[str] = set()
    dropped = []
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if grade_id is None:
            continue
        if grade_id in seen:
            del cell.metadata["nbgrader"]
            dropped.append(grade_id)
        seen.add(grade_id)
    return dropped


def repair_cells(nb, release, sub: Submission) -> None:
    """Record deleted/edited/duplicated nbgrader cells; drop the copies' metadata.

    Every notebook reaches the workers through here (:func:`prepare`), so none
    reaches nbgrader with a duplicate ``grade_id``.
    """
    release_cells = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    seen: set[str] = set()
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if grade_id is None:
            continue
        if grade_id in seen:
            sub.problems.append(f"duplicated cell {grade_id}: the copy is ignored")
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
    drop_duplicate_grade_ids(nb)


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
