"""``python -m autograder grade CHAPTER [SUBMISSIONS]``: grade a cohort in one command."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .runner import Cohort, Limits, grade_cohort
from .sandbox import REPO_ROOT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="autograde a folder or LMS zip of submissions")
    grade.add_argument("chapter", help="chapter slug, e.g. convolution")
    grade.add_argument("submissions", nargs="?", default=None,
                       help="<student>/<chapter>/ folders, <student>/ folders or an LMS .zip; "
                            "default: the bundled demo cohort")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="submissions graded at once (default: one per core)")
    grade.add_argument("--workspace", type=Path, default=REPO_ROOT / "instructor")
    grade.add_argument("--source", type=Path, default=REPO_ROOT / "solutions",
                       help="nbgrader source folder (default: solutions/)")
    grade.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell")
    grade.add_argument("--submission-timeout", type=int, default=600,
                       help="seconds per submission")
    grade.add_argument("--memory-mb", type=int, default=3072, help="memory per submission")
    grade.add_argument("--no-namespaces", action="store_true",
                       help="do not use Linux namespaces (audit-hook sandbox only)")
    grade.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                       help="grade on the Dask cluster of this scheduler (its workers' threads "
                            "replace --workers); default: worker processes on this machine")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        raise SystemExit(f"--workers must be at least 1, got {args.workers}")
    submissions = Path(args.submissions) if args.submissions else None
    if submissions is None:
        from autograder.demo import build_demo_cohort

        submissions = build_demo_cohort(args.chapter, args.workspace / "demo" / args.chapter,
                                        args.source)
    elif not submissions.exists():
        raise SystemExit(f"no submissions at {submissions}: expected a folder or a .zip")
    cohort = Cohort(
        chapter=args.chapter, workspace=args.workspace.resolve(), source_root=args.source.resolve(),
        workers=args.workers,
        limits=Limits(args.cell_timeout, args.submission_timeout, args.memory_mb),
        namespaces=False if args.no_namespaces else None, progress=not args.quiet,
    )
    try:
        summary = grade_cohort(cohort, submissions.resolve(), args.scheduler)
    except OSError as error:  # no scheduler at that address (distributed raises OSError)
        if not args.scheduler:
            raise
        raise SystemExit(f"no Dask scheduler answered at {args.scheduler}: {error}. Start one "
                         "with `dask scheduler` and workers with `dask worker ADDRESS` "
                         "(README, instructor section).") from None
    where = (f"on the Dask cluster at {args.scheduler}" if args.scheduler
             else f"with {cohort.workers} workers")
    sandboxes = {record["sandbox"] for record in summary["records"]} if args.scheduler else {
        "namespaces + audit hook" if cohort.namespaces else "audit hook only"}
    print(f"graded {summary['graded']} submissions ({summary['kept']} unchanged, kept) "
          f"in {summary['seconds']} s {where}; sandbox: {' / '.join(sorted(sandboxes))}")
    if "traffic" in summary:
        traffic = summary["traffic"]
        per = traffic["sent"] / max(1, traffic["submissions"])
        print(f"sent to the workers: {traffic['sent']} bytes ({per:.0f} per submission); "
              f"received: {traffic['received']} bytes")
    print(f"grades:   {summary['csv']}")
    print(f"report:   {summary['report']}")
    print(f"feedback: {cohort.workspace / 'feedback'}/<student>/{args.chapter}/")
    return 0
