"""nbgrader configuration for the course.

``solutions/<chapter>/`` is nbgrader's source folder and ``notebooks/<chapter>/``
its release folder; everything an instructor creates while grading
(submissions, autograded copies, feedback, the gradebook) lives under
``instructor/``, which git ignores.

Use it with ``--NbGrader.config_file=autograder/nbgrader_config.py`` from the
repository root, or through ``python -m autograder``.
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKSPACE = os.path.join(REPO_ROOT, "instructor")

os.makedirs(WORKSPACE, exist_ok=True)
c.CourseDirectory.root = REPO_ROOT
c.CourseDirectory.course_id = "cnn-vision"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = os.path.join("instructor", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("instructor", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("instructor", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(WORKSPACE, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.egg-info"]

# Student notebooks carry no outputs and no solution code.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Grading: a per-cell timeout and a quiet TensorFlow in the grading kernel.
c.ExecutePreprocessor.timeout = 120
c.Execute.timeout = 120
