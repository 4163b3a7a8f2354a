"""The template course of a chapter: source notebook + gradebook, made once per source version.

Every worker copies it instead of running ``nbgrader generate_assignment`` again.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from .sandbox import REPO_ROOT, tool_env

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
    command = [
        sys.executable, "-m", "nbgrader", "generate_assignment", chapter, "--force",
        f"--NbGrader.config_file={REPO_ROOT / 'autograder' / 'nbgrader_config.py'}",
        f"--CourseDirectory.root={building}", "--CourseDirectory.source_directory=source",
        "--CourseDirectory.release_directory=release",
        f"--CourseDirectory.db_url=sqlite:///{building / 'gradebook.db'}", "--log-level=ERROR",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=building,
                          env=tool_env())
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed for {chapter}:\n{done.stderr[-3000:]}")
    shutil.rmtree(template, ignore_errors=True)
    building.rename(template)
    return template
