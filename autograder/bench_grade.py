"""Benchmark: plain sequential ``nbgrader autograde`` versus ``python -m autograder grade``.

    python -m autograder.bench_grade [--chapter convolution] [--n 40] [--workers 2]

Builds ``n`` submissions of the chapter from its real notebooks (the demo
cohort's complete, first-only and untouched notebooks, cycled), then times

1. ``nbgrader autograde CHAPTER`` once over all of them (one process, one
   submission after another; gradebook prepared beforehand, not timed), and
2. our command with ``--workers`` workers (sandbox, guards, feedback HTML,
   CSV and report included; template gradebook built beforehand, not timed), and
3. the same through a Dask ``LocalCluster`` of ``--workers`` one-thread worker processes
   (``--scheduler``: TCP on loopback, submissions and results as bytes), with the bytes
   sent per submission and how many worker cores 20,000 submissions in an hour would need.

Prints seconds per submission for each, the speed-up, and whether both gave
every submission the same total score (exit status 1 when not). Timings on a shared
machine are pessimistic; run it on an idle one for numbers you publish.
"""

from __future__ import annotations

import argparse
import math
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


def time_ours(chapter: str, submissions: Path, root: Path, workers: int,
              scheduler: str | None = None) -> tuple[float, dict, dict | None]:
    """Our command (on the Dask cluster of ``scheduler`` when given): seconds, total scores,
    and the bytes sent to the cluster's workers (``None`` without one)."""
    from autograder.grading import records

    workspace = root / ("cluster" if scheduler else "ours")
    template.build_template(REPO_ROOT / "solutions", chapter, workspace)
    cohort = runner.Cohort(chapter=chapter, workspace=workspace,
                           source_root=REPO_ROOT / "solutions", workers=workers, progress=False)
    records.environment()  # TensorFlow's import in the parent is not the per-submission cost
    started = time.perf_counter()
    summary = runner.grade_cohort(cohort, submissions, scheduler)
    seconds = time.perf_counter() - started
    return seconds, {r["student"]: r["score"] for r in summary["records"]}, summary.get("traffic")


def time_cluster(chapter: str, submissions: Path, root: Path, workers: int) -> tuple[float, dict,
                                                                                   dict]:
    """:func:`time_ours` on a Dask ``LocalCluster`` of ``workers`` one-thread worker processes
    (TCP on loopback), as ``--scheduler`` uses a real cluster."""
    from distributed import Client, LocalCluster

    from autograder.grading import records

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster:
        with Client(cluster) as client:  # TensorFlow's import in each worker, as in the parent
            client.run(records.environment)
        return time_ours(chapter, submissions, root, workers, cluster.scheduler_address)


def _same_scores(name: str, expected: dict, got: dict) -> bool:
    differ = sorted(s for s in expected if abs(expected[s] - got.get(s, -1)) > 1e-6)
    print(f"same total score as plain nbgrader ({name}): {len(expected) - len(differ)} of "
          f"{len(expected)} submissions" + (f"; differ: {differ}" if differ else ""))
    return not differ and len(got) == len(expected)


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
        ours, our_scores, _ = time_ours(args.chapter, submissions, root, args.workers)
        dask, dask_scores, traffic = time_cluster(args.chapter, submissions, root, args.workers)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n = args.n
    print(f"{n} submissions of {args.chapter}")
    print(f"plain sequential nbgrader autograde: {plain / n:6.2f} s per submission")
    print(f"python -m autograder grade ({args.workers} workers): {ours / n:6.2f} s per "
          "submission (sandbox, guards, feedback and report included)")
    print(f"speed-up: {plain / ours:.2f}x")
    print(f"the same on a Dask LocalCluster ({args.workers} one-thread workers, --scheduler): "
          f"{dask / n:6.2f} s per submission, {(dask / ours - 1) * 100:+.1f}% against the local "
          f"pool; {traffic['sent'] / max(1, traffic['submissions']):.0f} bytes sent and "
          f"{traffic['received'] / max(1, traffic['submissions']):.0f} received per submission")
    core_seconds = dask * args.workers / n
    print(f"projection: {core_seconds:.2f} worker-core seconds per submission, so 20,000 "
          f"submissions in one hour need about {math.ceil(20_000 * core_seconds / 3600)} "
          "worker cores")
    same = [_same_scores("local pool", plain_scores, our_scores),
            _same_scores("Dask", plain_scores, dask_scores)]
    return 0 if all(same) and len(plain_scores) == n else 1


if __name__ == "__main__":
    sys.exit(main())
