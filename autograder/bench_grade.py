"""Benchmark: plain sequential ``nbgrader autograde`` versus ``python -m autograder grade``.

    python -m autograder.bench_grade [--chapter convolution] [--n 40] [--workers 2]

Builds ``n`` submissions of the chapter from its real notebooks (the demo
cohort's complete, first-only and untouched notebooks, cycled), then times

1. ``nbgrader autograde CHAPTER`` once over all of them (one process, one
   submission after another; gradebook prepared beforehand, not timed), and
2. our command with ``--workers`` workers (sandbox, guards, feedback HTML,
   CSV and report included; template gradebook built beforehand, not timed).

Prints seconds per submission for each, the speed-up, and whether both gave
every submission the same total score (exit status 1 when not). Timings on a shared
machine are pessimistic; run it on an idle one for numbers you publish.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cnnvision  # noqa: F401 - quiet TensorFlow first
from autograder.demo import build_demo_cohort
from autograder.grading import runner, template
from autograder.grading.sandbox import REPO_ROOT, tool_env

VARIANTS = ("demo_complete", "demo_first_only", "demo_untouched")


def make_submissions(chapter: str, n: int, root: Path) -> Path:
    demo = build_demo_cohort(chapter, root / "workspace" / "demo" / chapter, REPO_ROOT / "solutions")
    submissions = root / "submitted"
    for index in range(n):
        variant = VARIANTS[index % len(VARIANTS)]
        shutil.copytree(demo / variant / chapter, submissions / f"student{index:03d}" / chapter)
    return submissions


def time_plain_nbgrader(chapter: str, submissions: Path, root: Path) -> tuple[float, dict]:
    course = root / "plain"
    shutil.copytree(REPO_ROOT / "solutions" / chapter, course / "source" / chapter)
    shutil.copytree(submissions, course / "submitted")
    common = [
        f"--NbGrader.config_file={REPO_ROOT / 'autograder' / 'nbgrader_config.py'}",
        f"--CourseDirectory.root={course}", "--CourseDirectory.source_directory=source",
        "--CourseDirectory.release_directory=release",
        "--CourseDirectory.submitted_directory=submitted",
        "--CourseDirectory.autograded_directory=autograded",
        f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}", "--log-level=ERROR",
    ]
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", chapter, "--force", *common],
                   check=True, cwd=course, env=tool_env(), capture_output=True)
    started = time.perf_counter()
    subprocess.run([*nbgrader, "autograde", chapter, *common], cwd=course, env=tool_env(),
                   capture_output=True)
    seconds = time.perf_counter() - started
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        scores = {s.student.id: s.score for s in book.assignment_submissions(chapter)}
    return seconds, scores


def time_ours(chapter: str, submissions: Path, root: Path, workers: int) -> tuple[float, dict]:
    workspace = root / "ours"
    template.build_template(REPO_ROOT / "solutions", chapter, workspace)
    cohort = runner.Cohort(chapter=chapter, workspace=workspace,
                           source_root=REPO_ROOT / "solutions", workers=workers, progress=False)
    from autograder.grading import records

    records.environment()  # TensorFlow's import in the parent is not the per-submission cost
    started = time.perf_counter()
    summary = runner.grade_cohort(cohort, submissions)
    return time.perf_counter() - started, {r["student"]: r["score"] for r in summary["records"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.bench_grade")
    parser.add_argument("--chapter", default="convolution")
    parser.add_argument("--n", type=int, default=40, help="number of submissions")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    try:
        submissions = make_submissions(args.chapter, args.n, root)
        plain, plain_scores = time_plain_nbgrader(args.chapter, submissions, root)
        ours, our_scores = time_ours(args.chapter, submissions, root, args.workers)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.n} submissions of {args.chapter}")
    print(f"plain sequential nbgrader autograde: {plain / args.n:6.2f} s per submission")
    print(f"python -m autograder grade ({args.workers} workers): {ours / args.n:6.2f} s per "
          "submission (sandbox, guards, feedback and report included)")
    print(f"speed-up: {plain / ours:.2f}x")
    differ = sorted(s for s in plain_scores if abs(plain_scores[s] - our_scores.get(s, -1)) > 1e-6)
    print(f"same total score as plain nbgrader: {len(plain_scores) - len(differ)} of "
          f"{len(plain_scores)} submissions" + (f"; differ: {differ}" if differ else ""))
    return 1 if differ or len(plain_scores) != args.n else 0


if __name__ == "__main__":
    sys.exit(main())
