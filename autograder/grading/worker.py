"""Grade one submission in the worker's slot (the runner keeps one worker process per slot).

    python -m autograder.grading.worker JOB.json

The job names the student, the chapter, the submission folder (already checked
by :mod:`autograder.grading.intake`), the template course (source notebook and
a gradebook made by ``nbgrader generate_assignment``), the worker's slot
folder, the limits and the output folder. The worker writes ``result.json``,
``autograded.ipynb`` and ``feedback.html`` there and always exits 0 when it
could write a result. Kernels come from the slot's launcher
(:mod:`autograder.grading.launcher`), started at the first job and kept.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sys
import threading
import time
from pathlib import Path

from autograder import core

from . import feedback, sandbox
from .gradebook import COURSE_ID
from .launcher import ACTIVE, LauncherError, kill_processes, memory_of
from .preprocessors import STATE, is_test_cell


def _copy_tree(source: Path, target: Path, skip_notebooks: bool = False) -> None:
    for path in source.rglob("*"):
        if path.is_file() and not (skip_notebooks and path.suffix == ".ipynb"):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)


def _watch_memory(limit_bytes: int, stop: threading.Event) -> None:
    """Kill the kernel (every descendant) when the memory it owns (USS) passes the limit.

    Pages it shares with the launcher (TensorFlow, numpy...) are not the submission's.
    """
    while not stop.wait(0.2):
        children = ACTIVE.kernel_processes()
        if memory_of(children, "uss") > limit_bytes:
            STATE["stop_kind"] = "memory limit"
            STATE["stop_reason"] = f"the kernel passed the memory limit of {limit_bytes >> 20} MB"
            kill_processes(children)


def _config(job: dict, slot: sandbox.Slot):
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )
    from traitlets.config import Config

    from .preprocessors import CollectGuards, GuardedExecute, InjectGuards

    c = Config()
    c.CourseDirectory.root = str(slot.course)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.db_url = f"sqlite:///{slot.course / 'gradebook.db'}"
    c.CourseDirectory.assignment_id = job["chapter"]
    c.CourseDirectory.student_id = job["student"]
    c.Autograde.autograde_preprocessors = [
        InjectGuards, GuardedExecute, CollectGuards, IgnorePattern, ClearMetadataPreprocessor,
        LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    c.OverwriteCells.add_missing_cells = True
    c.GuardedExecute.timeout = int(job["cell_timeout"])
    c.GuardedExecute.kernel_cwd = str(slot.kernel)
    c.GuardedExecute.kernel_manager_class = "autograder.grading.launcher.ForkingKernelManager"
    c.GuardedExecute.deadline = time.time() + float(job["submission_timeout"])
    c.GuardedExecute.startup_timeout = 120
    c.CollectGuards.guard_key = ACTIVE.guard_key
    in_worker = checks_in_worker(job)
    in_kernel = list(job.get("kernel_cells", []))
    c.GuardedExecute.checks_in_worker = in_worker
    c.GuardedExecute.kernel_cells = in_kernel
    c.GuardedExecute.agent_dir = str(slot.runtime)
    c.InjectGuards.enabled = c.CollectGuards.enabled = any_checks_in_kernel(job)
    c.InjectGuards.only = c.CollectGuards.only = in_kernel if in_worker else []
    c.KernelManager.transport = "ipc"
    c.KernelManager.ip = str(slot.runtime / "kernel")
    return c


def checks_in_worker(job: dict) -> bool:
    """Whether the job's test cells run their checks here (trusted) rather than in the kernel."""
    return job.get("checks") == "worker"


def any_checks_in_kernel(job: dict) -> bool:
    """Whether some test cell runs its checks in the kernel: the guard, the static scan and
    the checks' visibility there are for those."""
    return not checks_in_worker(job) or bool(job.get("kernel_cells"))


def _grader_roots(job: dict) -> list[str]:
    """The checks, hidden from kernels when they all run in the worker. (The references stay
    visible: they are public, and a graded function may be run with one in place of an earlier
    exercise, see ``core.global_replaced``.)"""
    if any_checks_in_kernel(job):
        return []
    return [str(Path(__file__).resolve().parents[1] / "checks")]


def _run_nbgrader(converter_class, config, log_path: Path) -> str | None:
    """Run an nbgrader converter; return an error message or ``None``."""
    from nbgrader.coursedir import CourseDirectory

    handler = logging.FileHandler(log_path)
    logger = None
    try:
        coursedir = CourseDirectory(config=config)
        converter = converter_class(coursedir=coursedir, config=config)
        logger = converter.log
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        converter.start()
    except BaseException as error:  # noqa: BLE001 - nbgrader raises many kinds, and SystemExit
        return f"{type(error).__name__}: {error}"[:500]
    finally:
        if logger is not None:
            logger.removeHandler(handler)
        handler.close()
    return None


def _static_scan(job: dict, slot: sandbox.Slot) -> dict:
    import nbformat

    from .integrity import scan_notebook, test_code

    chapter = job["chapter"]
    source = nbformat.read(slot.course / "source" / chapter / f"{chapter}.ipynb", as_version=4)
    locked = {c.metadata.nbgrader["grade_id"] for c in source.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("locked")}
    submitted = slot.course / "submitted" / job["student"] / chapter / f"{chapter}.ipynb"
    try:
        return scan_notebook(nbformat.read(submitted, as_version=4), locked, test_code(source))
    except Exception:  # noqa: BLE001 - intake already checked the notebook
        return {}


def _grades(job: dict, slot: sandbox.Slot) -> dict:
    from nbgrader.api import Gradebook

    url = f"sqlite:///{slot.course / 'gradebook.db'}"
    with Gradebook(url, COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook(job["chapter"], job["chapter"], job["student"])
        return {
            grade.name: {"score": float(grade.score or 0.0), "max_score": float(grade.max_score)}
            for grade in notebook.grades
        }


def _cell_outcomes(nb) -> dict:
    """Per test cell: ``"ok"``, or a kind and a one-line message (the first failure)."""
    outcomes = {}
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        outcome = {"kind": "ok", "message": ""}
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                outcome = {"kind": output.get("ename", "Error"),
                           "message": str(output.get("evalue", "")).strip().splitlines()[:1]}
                break
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                outcome = {"kind": "stderr", "message": [str(output.get("text", ""))[:200]]}
                break
        outcome["message"] = (outcome["message"] or [""])[0][:300] if isinstance(
            outcome["message"], list) else outcome["message"]
        outcomes[cell.metadata.nbgrader["grade_id"]] = outcome
    return outcomes


def _cell_errors(nb) -> list[str]:
    """First error of each student (non-test) cell: syntax errors, timeouts, SystemExit..."""
    errors = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                value = (str(output.get("evalue", "")).strip().splitlines() or [""])[0][:200]
                name = output.get("ename", "Error")
                if name == "KeyboardInterrupt":  # how nbclient stops a cell at its timeout
                    name, value = "CellTimeoutError", "interrupted at the per-cell time limit"
                errors.append(f"cell {index}: {name}: {value}")
                break
    return errors


def _write_feedback(job: dict, slot: sandbox.Slot, config, log_path: Path, out: Path) -> str:
    import nbformat
    from nbgrader.converters import GenerateFeedback

    autograded = slot.course / "autograded" / job["student"] / job["chapter"]
    notebook_path = autograded / f"{job['chapter']}.ipynb"
    nb = nbformat.read(notebook_path, as_version=4)
    hidden = feedback.strip_hidden_tests(nb)
    nbformat.write(nb, notebook_path)
    error = _run_nbgrader(GenerateFeedback, config, log_path)
    html_path = slot.course / "feedback" / job["student"] / job["chapter"] / f"{job['chapter']}.html"
    if error or not html_path.is_file():
        return f"feedback not written: {error}"
    text, redacted = feedback.redact_html(html_path.read_text(), hidden)
    (out / "feedback.html").write_text(text)
    return f"{redacted} hidden lines redacted from the HTML" if redacted else ""


def _stage(job: dict, slot: sandbox.Slot) -> None:
    """Copy the template course and the submission into the (emptied) slot."""
    slot.clear()
    template = Path(job["template_dir"])
    _copy_tree(template / "source", slot.course / "source")
    shutil.copyfile(template / "gradebook.db", slot.course / "gradebook.db")
    submission = Path(job["submission_dir"])
    _copy_tree(submission, slot.course / "submitted" / job["student"] / job["chapter"])
    _copy_tree(submission, slot.kernel)
    _copy_tree(template / "source" / job["chapter"], slot.kernel, skip_notebooks=True)


def _start_launcher(job: dict, slot: sandbox.Slot) -> float:
    """Make sure the slot's launcher runs; return the seconds its start took (not the student's)."""
    os.environ.update(sandbox.write_kernelspec(slot))
    hidden = [*job["hidden_roots"], *_grader_roots(job)]
    settings = sandbox.launcher_settings(slot, hidden, job["preload"],
                                         int(job["output_cap"]), bool(job["namespaces"]))
    seconds = ACTIVE.ensure(slot, settings)
    ACTIVE.guard_key = secrets.token_hex(32)  # a new key for every submission
    ACTIVE.kernel_imports = list(job.get("kernel_imports", []))
    return seconds


def grade(job: dict) -> dict:
    import nbformat
    from nbgrader.converters import Autograde

    out = Path(job["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    slot = sandbox.Slot(Path(job["slot_dir"]))
    stop = threading.Event()
    try:
        _stage(job, slot)
        try:
            launcher_seconds = _start_launcher(job, slot)
        except LauncherError as error:
            return {"fatal": f"grader error: {error}"[:800], "fatal_kind": "grader"}
        config = _config(job, slot)
        # the static scan guards checks in the kernel; checks in the worker are out of reach
        STATE["static"] = _static_scan(job, slot) if any_checks_in_kernel(job) else {}
        threading.Thread(target=_watch_memory, args=(int(job["memory_mb"]) << 20, stop),
                         daemon=True).start()
        log_path = slot.private / "nbgrader.log"
        core.set_case_salt(job.get("case_salt"))
        try:
            error = _run_nbgrader(Autograde, config, log_path)
        finally:
            core.set_case_salt(None)
        stop.set()
        ACTIVE.kill_kernels()
        notebook_path = (slot.course / "autograded" / job["student"] / job["chapter"]
                         / f"{job['chapter']}.ipynb")
        result = {"nbgrader_error": error, "stop_kind": STATE["stop_kind"],
                  "stop_reason": STATE["stop_reason"], "events": STATE["events"],
                  "guards": STATE["guards"], "grades": {}, "outcomes": {},
                  "launcher_seconds": round(launcher_seconds, 2)}
        if notebook_path.is_file():
            result["grades"] = _grades(job, slot)
            nb = nbformat.read(notebook_path, as_version=4)
            result["outcomes"] = _cell_outcomes(nb)
            result["cell_errors"] = _cell_errors(nb)
            shutil.copyfile(notebook_path, out / "autograded.ipynb")
            result["feedback_note"] = _write_feedback(job, slot, config, log_path, out)
        if log_path.is_file():
            result["log_tail"] = log_path.read_text(errors="replace")[-2000:]
            log_path.unlink()
        return result
    finally:
        stop.set()
        ACTIVE.kill_kernels()
        slot.clear()


def run_job(job_path: Path) -> None:
    """Grade one job; write ``result.json`` next to it atomically (the runner waits for it)."""
    job = json.loads(job_path.read_text())
    STATE.update({"stop_reason": None, "stop_kind": None, "guards": {}, "events": [],
                  "static": {}})
    started = time.time()
    result = grade(job)
    result["worker_seconds"] = round(time.time() - started, 2)
    temporary = Path(job["out_dir"]) / "result.tmp"
    temporary.write_text(json.dumps(result, indent=1))
    temporary.replace(Path(job["out_dir"]) / "result.json")


def main(argv: list[str]) -> int:
    """``worker JOB.json``: one job; ``worker -``: job paths from stdin, one per line."""
    import nbgrader.converters  # noqa: F401 - imported once per worker, not once per job

    if argv and argv[0] != "-":
        try:
            run_job(Path(argv[0]))
        finally:
            ACTIVE.stop()
        return 0
    try:
        for line in sys.stdin:
            if line.strip():
                run_job(Path(line.strip()))
    finally:
        ACTIVE.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
