"""The cohort's grades in the instructor's nbgrader gradebook, so formgrader shows them.

Each submission is autograded in its worker's private course; the grade
records are the source of truth. After every run, :func:`sync` writes them
into ``<workspace>/gradebook.db`` (the gradebook ``autograder/nbgrader_config.py``
names): the chapter's notebook and cells as ``generate_assignment`` defined
them, one submission per student, each test cell's automatic score. Scores an
instructor gave by hand in formgrader (``manual_score``) are never touched.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

COURSE_ID = "cnn-vision"


def _define_assignment(source, target, chapter: str) -> None:
    """Copy the chapter's notebooks and cells from the template gradebook."""
    target.update_or_create_assignment(chapter)
    for notebook in source.find_assignment(chapter).notebooks:
        name = notebook.name
        target.update_or_create_notebook(name, chapter)
        for cell in notebook.grade_cells:
            target.update_or_create_grade_cell(cell.name, name, chapter, max_score=cell.max_score,
                                               cell_type=cell.cell_type)
        for cell in notebook.solution_cells:
            target.update_or_create_solution_cell(cell.name, name, chapter)
        for cell in notebook.source_cells:
            target.update_or_create_source_cell(cell.name, name, chapter, cell_type=cell.cell_type,
                                                locked=cell.locked, source=cell.source,
                                                checksum=cell.checksum)


def sync(workspace: Path, template_dir: Path, chapter: str, records: list[dict]) -> Path:
    """Write every record's automatic scores into ``workspace/gradebook.db``; return its path."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    warnings.simplefilter("ignore", SAWarning)  # raised inside nbgrader's add_submission
    path = workspace / "gradebook.db"
    if not path.is_file():  # a copy of the template's: nbgrader makes no new one (alembic, 5-10 s)
        shutil.copyfile(template_dir / "gradebook.db", path)
    with Gradebook(f"sqlite:///{template_dir / 'gradebook.db'}", COURSE_ID) as source, \
            Gradebook(f"sqlite:///{path}", COURSE_ID) as target:
        _define_assignment(source, target, chapter)
        for record in records:
            student = record["student"]
            target.update_or_create_student(student)
            target.update_or_create_submission(chapter, student)
            for grade_id, score in record["scores"].items():
                target.find_grade(grade_id, chapter, chapter, student).auto_score = score
            target.db.commit()
    return path
