"""Grade on a Dask distributed cluster: ``python -m autograder grade CHAPTER SUBS --scheduler ADDR``.

* The client (the instructor's process) does the intake, and is the only writer of the
  workspace: records, published notebooks and feedback, the CSV, nbgrader's gradebook.
* A task receives one submission's files (a zip, as bytes), its job (plain data) and the
  chapter's template (a zip, made by one task per chapter), and returns plain data: the result
  the local worker writes, the student's seconds, the autograded notebook and the feedback
  HTML, and the worker's versions and device. Workers share no file system with the client.
* :class:`GradingPlugin` gives each Dask worker, once, what a local pool thread has: a slot
  folder and a long-lived grading worker subprocess (:class:`runner.Worker`), which starts
  the slot's sandboxed kernel launcher at its first submission and keeps it. A worker with
  several threads gets one slot per thread.
* Faults: a worker that dies in the middle of a submission loses nothing; the scheduler
  sends the task to another worker, and the client keeps the first result of each task. A
  submission that takes down every worker it lands on is stopped by the scheduler after
  ``distributed.scheduler.allowed-failures`` tries (3 by default) and gets 0 with a reason.
  Records are saved as results arrive, so a client restarted mid-batch grades only the rest.
"""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import tempfile
import threading
import time
import zipfile
from collections import deque
from pathlib import Path

import psutil
from distributed import Client, KilledWorker, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from . import records, sandbox
from .sandbox import REPO_ROOT

PLUGIN_NAME = "autograder-grading"
# Folders of the worker's own checkout that a kernel must not read, besides those the client names.
WORKER_HIDDEN = ("solutions", "instructor")


# ------------------------------------------------------------------------------- bytes
def pack(paths: dict[str, Path]) -> bytes:
    """A zip of files and folders: ``{name in the zip: path}`` (folders are walked, sorted)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in paths.items():
            if path.is_file():
                archive.write(path, name)
                continue
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = file.relative_to(path).as_posix()
                archive.write(file, f"{name}/{relative}" if name else relative)
    return buffer.getvalue()


def unpack(data: bytes, target: Path) -> Path:
    """Extract a zip made by :func:`pack` into ``target``; names that leave it are refused."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.namelist():
            destination = (root / member).resolve()
            if not destination.is_relative_to(root):
                raise ValueError(f"refused a file outside the target folder: {member!r}")
        archive.extractall(root)
    return target


# ------------------------------------------------------------------------ worker side
OWNER_FILE = "dask-worker.pid"


def _sweep_stale_folders() -> None:
    """Remove the folders of this machine's Dask workers that died without their teardown
    (killed, or stopped by a submission): each holds the pid of the worker that made it."""
    for folder in Path(tempfile.gettempdir()).glob("autograde-*"):
        try:
            pid = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # a local run's folder, or not ours to judge
        if not psutil.pid_exists(pid):
            shutil.rmtree(folder, ignore_errors=True)


class GradingPlugin(WorkerPlugin):
    """A Dask worker plugin: slots and grading subprocesses, made once per worker (and kept
    when a later client registers it again: ``idempotent``)."""

    name = PLUGIN_NAME
    idempotent = True

    def setup(self, worker) -> None:
        from .runner import Worker

        _sweep_stale_folders()
        slots = sandbox.make_slots(max(1, int(getattr(worker.state, "nthreads", 1))))
        self.base = slots[0].root.parent  # private (0700); kernels see none of its folders
        (self.base / OWNER_FILE).write_text(str(os.getpid()))
        # made before any launcher starts: a slot's launcher hides the slot's siblings
        self.staging = self.base / "staging"
        self.staging.mkdir()
        (self.base / "logs").mkdir()
        self.free: queue.Queue = queue.Queue()
        for slot in slots:
            self.free.put((slot, Worker(self.base / "logs")))
        self.templates: dict[str, Path] = {}
        self.templates_lock = threading.Lock()  # a worker's threads share them

    def teardown(self, worker) -> None:
        while not self.free.empty():
            _slot, grading_worker = self.free.get_nowait()
            grading_worker.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def template(self, name: str, data: bytes) -> Path:
        """The chapter's template, unpacked once per worker."""
        with self.templates_lock:
            if name not in self.templates:
                self.templates[name] = unpack(data, self.staging / "templates" / name)
            return self.templates[name]

    def grade(self, job: dict, submission: bytes, template: tuple[str, bytes]) -> dict:
        from .runner import Limits, run_job

        job = dict(job)
        job["template_dir"] = str(self.template(*template))
        here = Path(tempfile.mkdtemp(prefix=f"{job['student']}-", dir=self.staging))
        slot, grading_worker = self.free.get()
        try:
            job["submission_dir"] = str(unpack(submission, here / "submission"))
            out = here / "out"
            out.mkdir()
            job.update(out_dir=str(out), slot_dir=str(slot.root),
                       hidden_roots=self._hidden(job["hidden_roots"]),
                       namespaces=job["namespaces"] and sandbox.namespaces_available())
            limits = Limits(job["cell_timeout"], job["submission_timeout"], job["memory_mb"],
                            job["output_cap"])
            result, seconds = run_job(grading_worker, job, limits)
            files = {name: (out / name).read_bytes() for name in ("autograded.ipynb",
                                                                  "feedback.html")
                     if (out / name).is_file()}
        finally:
            self.free.put((slot, grading_worker))
            shutil.rmtree(here, ignore_errors=True)
        return {"result": result, "seconds": seconds, "files": files,
                "environment": records.environment(), "namespaces": job["namespaces"]}

    def _hidden(self, client_hidden: list[str]) -> list[str]:
        """The client's hidden folders that exist here (a cluster on the client's machine),
        this checkout's solutions and instructor workspace, the staging folder."""
        mine = [REPO_ROOT / name for name in WORKER_HIDDEN]
        paths = [Path(p) for p in client_hidden] + mine + [self.staging]
        return sorted({str(p.resolve()) for p in paths if p.is_dir()})


def grade_on_worker(job: dict, submission: bytes, template: tuple[str, bytes]) -> dict:
    """The task: grade one submission with this worker's plugin; plain data in and out."""
    return get_worker().plugins[PLUGIN_NAME].grade(job, submission, template)


# ------------------------------------------------------------------------ client side
def template_payload(template_dir: Path) -> tuple[str, bytes]:
    """What a worker needs of a chapter's template: its source folder and blank gradebook."""
    return template_dir.name, pack({"source": template_dir / "source",
                                    "gradebook.db": template_dir / "gradebook.db"})


def _lost(error: BaseException, student: str) -> dict:
    if isinstance(error, KilledWorker):
        return {"fatal": f"grading {student} stopped every Dask worker it ran on (killed or "
                         "crashed); given up after the scheduler's allowed tries",
                "fatal_kind": "worker crashed"}
    return {"fatal": f"grader error on the cluster: {type(error).__name__}: {error}"[:500],
            "fatal_kind": "grader"}


def _has_dashboard(dask_scheduler=None) -> bool:
    """On the scheduler: whether it serves Dask's dashboard (its pages need bokeh; without it
    the address answers 404)."""
    import importlib.util

    services = getattr(dask_scheduler, "services", {}) or {}
    return "dashboard" in services and importlib.util.find_spec("bokeh") is not None


def connect(scheduler: str):
    """A client of the scheduler, with the grading plugin on every worker (present and future)."""
    client = Client(scheduler, timeout="60s")
    client.register_plugin(GradingPlugin(), name=PLUGIN_NAME)
    if not client.nthreads():
        print(f"no worker has joined the scheduler at {scheduler} yet: waiting (start one "
              f"with `dask worker {scheduler}`)", flush=True)
        client.wait_for_workers(1)
    if client.run_on_scheduler(_has_dashboard):
        print(f"Dask dashboard: {client.dashboard_link}", flush=True)
    return client


def _identity(value):
    return value


def grade_submissions(intakes: list, scheduler: str, progress: bool) -> tuple[float, dict]:
    """Grade every cohort's submissions to do on the cluster; save each record as it comes.

    No more tasks are out than the cluster has threads, so a task waits in the client, not on a
    worker: when a worker dies, the scheduler blames only the submission it was grading (a
    task queued on it would count that death too, and an innocent submission could be given
    up as a poison one). Each chapter's template is a task of its own (its bytes in the graph),
    so the scheduler can make it again when the workers that held it die.

    Returns the seconds taken and the bytes sent to and received from the workers.
    """
    from . import runner

    hidden = runner._hidden_roots(intakes)
    started = time.time()
    traffic = {"sent": 0, "received": 0, "submissions": 0}
    total = sum(len(part.todo) for part in intakes)
    with connect(scheduler) as client, runner._progress(total, progress) as bar:
        waiting = deque()
        for part in intakes:
            template = None
            for sub, digest in part.todo:
                if sub.fatal:
                    runner._save(part, sub, digest, None, {}, 0.0, records.environment())
                    bar.update()
                    continue
                if template is None:
                    name, data = template_payload(part.template_dir)
                    template = client.submit(_identity, (name, data), key=f"template-{name}")
                    traffic["sent"] += len(data)
                waiting.append((part, sub, digest, template))
        running: dict = {}
        finished = as_completed()

        def top_up() -> None:
            threads = max(1, sum(client.nthreads().values()))
            while waiting and len(running) < threads:
                part, sub, digest, template = waiting.popleft()
                job = runner._job(part, sub, hidden, out_dir=Path("."))
                job["namespaces"] = not part.cohort.namespaces_off  # if the worker has them
                submission = pack({"": sub.folder})
                traffic["sent"] += len(submission) + len(json.dumps(job))
                traffic["submissions"] += 1
                key = f"grade-{part.cohort.chapter}-{sub.student}-{digest[:16]}"
                future = client.submit(grade_on_worker, job, submission, template, key=key,
                                       pure=False)
                running[future] = (part, sub, digest)
                finished.add(future)

        top_up()
        for future in finished:
            part, sub, digest = running.pop(future)
            _collect(future, part, sub, digest, traffic)
            future.release()
            bar.update()
            top_up()
    return time.time() - started, traffic


def _collect(future, part, sub, digest: str, traffic: dict) -> None:
    """Save one task's result: files to a local output folder, then the record."""
    from . import runner

    try:
        answer = future.result()
    except Exception as error:  # noqa: BLE001 - a lost or failed task is that student's 0
        runner._save(part, sub, digest, None, _lost(error, sub.student), 0.0,
                     records.environment())
        return
    out_dir = Path(tempfile.mkdtemp(prefix=f"{sub.student}-", dir=part.runs))
    for name, data in answer["files"].items():
        (out_dir / name).write_bytes(data)
        traffic["received"] += len(data)
    runner._save(part, sub, digest, out_dir, answer["result"], answer["seconds"],
                 answer["environment"], answer["namespaces"])
