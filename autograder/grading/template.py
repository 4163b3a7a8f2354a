"""The template course of a chapter: source notebook + gradebook, made once per source version.

Every worker copies it instead of running ``nbgrader generate_assignment`` again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .gradebook import COURSE_ID
from .sandbox import REPO_ROOT, tool_env

NBGRADER_CONFIG = REPO_ROOT / "autograder" / "nbgrader_config.py"

# Bump when grading changes what a submission earns: every student is graded again on the next
# run (2: flooded output truncated per cell, pasted test cells no longer read as tampering).
GRADER_VERSION = "2"


def source_digest(source_dir: Path) -> str:
    """SHA-256 over the chapter's source files (names and contents) and the grader version."""
    digest = hashlib.sha256(GRADER_VERSION.encode())
    for path in sorted(p for p in source_dir.rglob("*") if p.is_file()):
        if ".ipynb_checkpoints" in path.parts or "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(source_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_template(source_root: Path, chapter: str, workspace: Path) -> Path:
    """``workspace/.templates/<chapter>-<digest>/`` with source/, release/ and gradebook.db."""
    source_dir = source_root / chapter
    if not (source_dir / f"{chapter}.ipynb").is_file():
        raise FileNotFoundError(
            f"no source notebook {source_dir / (chapter + '.ipynb')}: expected "
            f"<source>/<chapter>/<chapter>.ipynb (chapters: "
            f"{', '.join(sorted(p.name for p in source_root.iterdir() if p.is_dir())) or 'none'})"
        )
    template = workspace / ".templates" / f"{chapter}-{source_digest(source_dir)[:16]}"
    if (template / "gradebook.db").is_file():
        return template
    building = template.with_name(template.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    shutil.copytree(source_dir, building / "source" / chapter,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copyfile(blank_gradebook(workspace / ".templates"), building / "gradebook.db")
    try:
        generate_assignment(chapter, building)
    except Exception as error:  # noqa: BLE001 - nbgrader raises NbGraderException, traitlets errors
        raise RuntimeError(f"nbgrader generate_assignment failed for {chapter}: {error}") from error
    shutil.rmtree(template, ignore_errors=True)
    building.rename(template)
    return template


def generate_assignment(chapter: str, course: Path) -> None:
    """``nbgrader generate_assignment CHAPTER --force`` with the course's config, in this process.

    ``course`` holds ``source/<chapter>/`` and ``gradebook.db``; the student version goes to
    ``release/<chapter>/``. (A subprocess would import nbgrader again: about 5 s a template.)
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(NBGRADER_CONFIG.name, path=str(NBGRADER_CONFIG.parent)).load_config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    config.CourseDirectory.assignment_id = chapter
    config.GenerateAssignment.force = True
    GenerateAssignment(coursedir=CourseDirectory(config=config), config=config).start()


def blank_gradebook(folder: Path) -> Path:
    """``folder/blank-gradebook-<nbgrader version>.db``: nbgrader's schema, no assignment yet.

    nbgrader runs ``alembic`` in a subprocess for every gradebook it creates (5-10 s):
    each template's gradebook starts as a copy of this one, made once per workspace.
    """
    import nbgrader
    from nbgrader.api import Gradebook

    path = folder / f"blank-gradebook-{nbgrader.__version__}.db"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        making = path.with_suffix(".making")
        making.unlink(missing_ok=True)
        os.environ["PATH"] = tool_env()["PATH"]  # nbgrader runs alembic from PATH
        with Gradebook(f"sqlite:///{making}", COURSE_ID):
            pass
        making.replace(path)
    return path
