"""Dask worker preload for tests/test_grading_cluster.py: a "poison" submission.

A worker started with ``--preload tests/cluster_poison.py`` dies (``os._exit``) whenever it
starts grading a student whose id begins with ``poison``, as a worker would on a submission
that crashes it. Every other student is graded as usual.
"""

import os

from autograder.grading import cluster

# Dask may import a preload more than once: wrap the original method, never the wrapper.
_grade = getattr(cluster.GradingPlugin, "unpoisoned_grade", cluster.GradingPlugin.grade)
cluster.GradingPlugin.unpoisoned_grade = _grade


def _grade_unless_poison(self, job, submission, template):
    if job["student"].startswith("poison"):
        os._exit(17)
    return _grade(self, job, submission, template)


cluster.GradingPlugin.grade = _grade_unless_poison
