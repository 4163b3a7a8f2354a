"""Grade a cohort: intake, one worker subprocess per submission, N at a time, records.

A record per student (``workspace/grades/<chapter>/records/<student>.json``) is
the source of truth: re-running grades only submissions whose content (or the
chapter's source) changed, and never deletes a record.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import os
import queue
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil

from . import gradebook, intake, records, sandbox, template
from .launcher import kill_processes, memory_of

SECRET_ENV = "AUTOGRADER_SECRET"
BACKSTOP_MARGIN_MB = 2048  # the worker and its launcher, above the kernel's own limit


@dataclass
class Limits:
    cell_timeout: int = 120
    submission_timeout: int = 600
    memory_mb: int = 3072
    output_cap: int = 200_000


@dataclass
class Cohort:
    chapter: str
    workspace: Path
    source_root: Path
    workers: int = max(1, os.cpu_count() or 1)
    limits: Limits = None
    namespaces: bool | None = None
    progress: bool = True
    checks: str | None = None  # "worker" or "kernel"; by default the chapter's (checks_location)
    kernel_cells: list[str] | None = None  # with "worker": cells checked in the kernel anyway

    def __post_init__(self):
        self.limits = self.limits or Limits()
        self.checks = self.checks or checks_location(self.chapter)
        if self.checks not in ("worker", "kernel"):
            raise ValueError(f"checks must run in the 'worker' or the 'kernel', not {self.checks!r}")
        if self.kernel_cells is None:
            self.kernel_cells = kernel_cells(self.chapter) if self.checks == "worker" else []
        # asked for none (--no-namespaces); on a cluster, each worker otherwise uses its own
        self.namespaces_off = self.namespaces is False
        if self.namespaces is None:
            self.namespaces = sandbox.namespaces_available()

    @property
    def grades_dir(self) -> Path:
        return self.workspace / "grades" / self.chapter

    def case_salt(self) -> str:
        """The salt of the random cases of this chapter's checks: an HMAC of the instructor's
        secret and the chapter. Every submission of the cohort meets the same cases (the same
        code gets the same score), and nobody can know them before grading. Only for checks in
        the worker: in the kernel, student code could read it."""
        if self.checks != "worker":
            return ""
        return hmac.new(grading_secret(self.workspace), self.chapter.encode(),
                        hashlib.sha256).hexdigest()[:32]


def grading_secret(workspace: Path) -> bytes:
    """The instructor's secret that salts the random cases of the checks (``$AUTOGRADER_SECRET``,
    else ``<workspace>/.grading-secret``, made on first use, readable by its owner only). Keep
    it out of the students' reach: with it, the random cases of a submission can be computed."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].encode()
    path = workspace / ".grading-secret"
    if not path.is_file():
        workspace.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def checks_location(chapter: str) -> str:
    """Where a chapter's graded test cells run their checks: ``"worker"`` (trusted, out of
    the student's reach: :mod:`autograder.grading.checker`) when its checks module says
    ``CHECKS_RUN_IN = "worker"`` or it has none (test cells that check with numpy alone),
    else ``"kernel"`` (next to student code, watched by the integrity guard)."""
    path = _checks_module(chapter)
    if not path.is_file():
        return "worker"
    return str(_checks_constant(path, "CHECKS_RUN_IN", "kernel"))


def kernel_cells(chapter: str) -> list[str]:
    """The test cells (grade ids) of a chapter whose checks run in the worker that still run
    theirs in the kernel (``CHECKED_IN_KERNEL``: none of the course's chapters)."""
    path = _checks_module(chapter)
    return list(_checks_constant(path, "CHECKED_IN_KERNEL", ())) if path.is_file() else []


def _checks_module(chapter: str) -> Path:
    return Path(__file__).resolve().parents[1] / "checks" / f"{chapter}.py"


def _checks_constant(path: Path, name: str, default):
    """A constant of a checks module, read without importing it (nor TensorFlow)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                getattr(target, "id", None) == name for target in node.targets):
            return ast.literal_eval(node.value)
    return default


def content_digest(origin: Path, source_digest: str) -> str:
    digest = hashlib.sha256(source_digest.encode())
    paths = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
    for path in paths:
        digest.update(str(path.relative_to(origin.parent)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _family(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


class Worker:
    """A long-lived ``worker -`` subprocess (imports nbgrader once); restarted after a kill."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.popen: subprocess.Popen | None = None

    def _start(self) -> None:
        log = open(self.log_dir / f"worker-{time.time_ns()}.log", "wb")  # noqa: SIM115
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "autograder.grading.worker", "-"],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, env=sandbox.tool_env(),
        )
        log.close()

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.stdin.close()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_processes(_family(psutil.Process(self.popen.pid)))
                self.popen.wait()

    def run(self, job: dict, limits: Limits) -> tuple[dict, float]:
        """Grade one job; enforce the wall-clock and memory backstops; return (result, seconds)."""
        out = Path(job["out_dir"])
        job_path = out / "job.json"
        job_path.write_text(json.dumps(job))
        result_path = out / "result.json"
        if self.popen is None or self.popen.poll() is not None:
            self._start()
        started = time.time()
        self.popen.stdin.write(f"{job_path}\n")
        self.popen.stdin.flush()
        killed = self._wait(result_path, started + limits.submission_timeout + 90,
                            (limits.memory_mb + BACKSTOP_MARGIN_MB) << 20)
        seconds = time.time() - started
        if killed or not result_path.is_file():
            reason = {"time limit": f"the submission ran past {limits.submission_timeout} s",
                      "memory limit": "grading used more than "
                                      f"{limits.memory_mb + BACKSTOP_MARGIN_MB} MB"}.get(
                killed, "the grading worker stopped without a result")
            return {"fatal": reason, "fatal_kind": killed or "worker crashed"}, seconds
        return json.loads(result_path.read_text()), seconds

    def _wait(self, result_path: Path, deadline: float, memory: int) -> str | None:
        process = psutil.Process(self.popen.pid)
        polls = 0
        while not result_path.is_file():
            if self.popen.poll() is not None:
                return None
            time.sleep(0.05)
            polls += 1
            killed = "time limit" if time.time() > deadline else None
            # the worker, its launcher and kernels; PSS counts shared pages once; twice a second
            if polls % 10 == 0 and memory_of(_family(process), "pss") > memory:
                killed = "memory limit"
            if killed:
                kill_processes(_family(process))
                self.popen.wait()
                return killed
        return None


@dataclass
class _Intake:
    """One cohort's part of a grading run: its template, its record store, what to grade."""

    cohort: Cohort
    submissions: Path
    template_dir: Path
    release: nbformat.NotebookNode
    store: records.RecordStore
    todo: list[tuple[intake.Submission, str]]
    kept: int
    runs: Path  # the workers' logs and each submission's output folder


def _take_in(cohort: Cohort, submissions: Path) -> _Intake:
    """Template, intake and record store of a cohort; only new or changed submissions to do."""
    workspace = cohort.workspace
    template_dir = template.build_template(cohort.source_root, cohort.chapter, workspace)
    release = nbformat.read(template_dir / "release" / cohort.chapter / f"{cohort.chapter}.ipynb",
                            as_version=4)
    source_digest = template_dir.name.rsplit("-", 1)[-1]
    if submissions.suffix == ".zip":
        submissions = intake.unpack_zip(submissions, workspace / "intake" / submissions.stem)
    store = records.RecordStore(cohort.grades_dir)
    todo, kept = [], 0
    staging = workspace / "intake" / "by-student"  # hidden from kernels, like the workspace
    for student, origin in intake.discover(submissions, cohort.chapter, staging):
        digest = content_digest(origin, source_digest)
        if store.has(student, digest):
            kept += 1
            continue
        sub = intake.prepare(origin, student, cohort.chapter, release, workspace / "submitted")
        todo.append((sub, digest))
    runs = _ensure(workspace / "runs" / cohort.chapter)
    return _Intake(cohort, submissions, template_dir, release, store, todo, kept, runs)


def _hidden_roots(intakes: list[_Intake]) -> list[str]:
    """Solutions, workspaces and submissions of every cohort in the run, hidden from every kernel."""
    roots = set()
    for part in intakes:
        roots |= {part.cohort.source_root.resolve(), part.cohort.workspace.resolve(),
                  part.submissions.resolve()}
    return sorted(str(p) for p in roots)


def _job(part: _Intake, sub: intake.Submission, hidden: list[str], out_dir: Path) -> dict:
    cohort = part.cohort
    return {
        "case_salt": cohort.case_salt(),
        "student": sub.student, "chapter": cohort.chapter, "submission_dir": str(sub.folder),
        "template_dir": str(part.template_dir), "out_dir": str(out_dir),
        "cell_timeout": cohort.limits.cell_timeout,
        "submission_timeout": cohort.limits.submission_timeout,
        "memory_mb": cohort.limits.memory_mb, "output_cap": cohort.limits.output_cap,
        "hidden_roots": hidden, "namespaces": cohort.namespaces,
        "preload": _preload(cohort.chapter),
        "checks": cohort.checks,
        "kernel_cells": cohort.kernel_cells,
        "kernel_imports": [f"autograder.checks.{cohort.chapter}"]
        if cohort.checks == "kernel" or cohort.kernel_cells else [],
    }


def _preload(chapter: str) -> list[str]:
    """Imported once by the slot's launcher, before any kernel is forked from it.

    The guard's snapshot in each kernel covers them, and the chapter's checks,
    which each kernel imports before its snapshot (``kernel_imports``): so one
    launcher serves every chapter of a run. TensorFlow and Keras come with
    chapters that have checks (their references run on TensorFlow), on Linux
    only: forking a process that loaded TensorFlow is not safe on macOS.
    """
    modules = ["cnnvision", "numpy", "autograder.core"]
    if _checks_module(chapter).is_file() and sys.platform.startswith("linux"):
        modules += ["tensorflow", "keras"]
    return [*modules, "ipykernel.kernelapp", "IPython", "matplotlib"]


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="submission", disable=not enabled or total == 0)


def grade_cohort(cohort: Cohort, submissions: Path, scheduler: str | None = None) -> dict:
    """Grade every new or changed submission in ``submissions``; return a summary."""
    return grade_cohorts([(cohort, submissions)], scheduler)[0]


def grade_cohorts(runs: list[tuple[Cohort, Path]], scheduler: str | None = None) -> list[dict]:
    """Grade several cohorts (chapters) in one run: one pool of workers for all their submissions.

    The pool has as many workers as the largest cohort asks for; each worker keeps
    its kernel launcher from one chapter to the next. With ``scheduler`` (a Dask scheduler's
    address), the cluster's workers grade instead (:mod:`autograder.grading.cluster`), and the
    summaries also give the bytes sent to and received from them. One summary per cohort.
    """
    if not runs:
        return []
    intakes = [_take_in(cohort, submissions) for cohort, submissions in runs]
    progress = any(cohort.progress for cohort, _ in runs)
    traffic = None
    if scheduler:
        from . import cluster

        seconds, traffic = cluster.grade_submissions(intakes, scheduler, progress)
    else:
        workers = max(cohort.workers for cohort, _ in runs)
        seconds = _grade_submissions(intakes, workers, progress)
    return [{**_summary(part, seconds), **({"traffic": traffic} if traffic else {})}
            for part in intakes]


def _grade_submissions(intakes: list[_Intake], workers: int, progress: bool) -> float:
    """Grade every cohort's submissions to do with one pool; save each record as it comes."""
    hidden = _hidden_roots(intakes)
    started = time.time()
    jobs: queue.Queue = queue.Queue()
    done: queue.Queue = queue.Queue()
    for part in intakes:
        for sub, digest in part.todo:
            if sub.fatal:
                done.put((part, sub, digest, None, {}, 0.0))
            else:
                out_dir = Path(tempfile.mkdtemp(prefix=f"{sub.student}-", dir=part.runs))
                jobs.put((part, sub, digest, out_dir, _job(part, sub, hidden, out_dir)))
    total = sum(len(part.todo) for part in intakes)
    slots = sandbox.make_slots(min(workers, max(1, jobs.qsize())))
    threads = [threading.Thread(target=_serve, args=(jobs, done, intakes[0].runs, slot),
                                daemon=True) for slot in slots]
    for thread in threads:
        thread.start()
    environment = records.environment()  # imports TensorFlow (5-10 s) while the workers start
    with _progress(total, progress) as bar:
        for _ in range(total):
            _save(*done.get(), environment)
            bar.update()
    for thread in threads:
        thread.join()
    shutil.rmtree(slots[0].root.parent, ignore_errors=True)
    return time.time() - started


def _save(part: _Intake, sub: intake.Submission, digest: str, out_dir: Path | None, result: dict,
          seconds: float, environment: dict, namespaces: bool | None = None) -> None:
    """Save one student's record (``namespaces``: the sandbox it was graded in, when it is not
    the cohort's, on a Dask worker)."""
    cohort = part.cohort
    record = records.make_record(sub, digest, result, seconds, part.release, environment,
                                 cohort.namespaces if namespaces is None else namespaces)
    if out_dir is not None:
        records.publish_files(cohort.workspace, cohort.chapter, sub.student, out_dir)
    part.store.save(record)


def _summary(part: _Intake, seconds: float) -> dict:
    """The grades CSV, the instructor's gradebook and the report, from every record."""
    from . import report

    cohort = part.cohort
    all_records = part.store.load_all()
    csv_path = records.export_csv(all_records, part.release, cohort.grades_dir / "grades.csv")
    gradebook_path = gradebook.sync(cohort.workspace, part.template_dir, cohort.chapter,
                                    all_records)
    report_path = report.write_report(all_records, part.release,
                                      cohort.workspace / "reports" / cohort.chapter,
                                      cohort.chapter)
    return {"graded": len(part.todo), "kept": part.kept, "seconds": round(seconds, 2),
            "csv": str(csv_path), "report": str(report_path), "gradebook": str(gradebook_path),
            "records": all_records}


def _serve(jobs: queue.Queue, done: queue.Queue, log_dir: Path, slot: sandbox.Slot) -> None:
    """One pool thread: a persistent worker grades jobs in its slot until the queue is empty."""
    worker = Worker(log_dir)
    try:
        while True:
            try:
                part, sub, digest, out_dir, job = jobs.get_nowait()
            except queue.Empty:
                return
            job["slot_dir"] = str(slot.root)
            result, seconds = run_job(worker, job, part.cohort.limits)
            done.put((part, sub, digest, out_dir, result, seconds))
    finally:
        worker.stop()


def run_job(worker: Worker, job: dict, limits: Limits) -> tuple[dict, float]:
    """Grade one job with ``worker`` (here or on a Dask worker); return (result, the student's
    seconds). A grader error becomes a fatal result: one bad submission never stops the batch."""
    try:
        result, seconds = worker.run(job, limits)
    except Exception as error:  # noqa: BLE001
        return {"fatal": f"grader error: {error}", "fatal_kind": "grader"}, 0.0
    return result, seconds - result.get("launcher_seconds", 0.0)  # the worker's start-up


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
