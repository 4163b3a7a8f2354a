"""Grading on a Dask distributed cluster (issue 17), on loopback only.

A scheduler and two workers run as separate processes (``dask scheduler``, ``dask worker``
with a nanny each), talking real TCP on 127.0.0.1. The workers load
``tests/cluster_poison.py``, which makes a worker die when it grades a student whose id
begins with ``poison``. The fixture cohort's cases graded through the cluster must get what
the local pool gave them (the ``graded`` fixture of conftest); a worker killed mid-submission,
a poison submission and a client killed mid-batch must lose no grade and duplicate none.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
from test_grading_cohort import CORRECT, FIXTURE_LIMITS, SOURCE_ROOT, build, write_submission

from autograder.grading import cluster, runner

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-fixture")]

TESTS = Path(__file__).resolve().parent
DASK = Path(sys.executable).with_name("dask")
SLOW = {"setup": ["import time\ntime.sleep(3)"]}  # long enough to be caught mid-submission
SAME_AS_LOCAL = ("correct", "partial", "untouched", "invalid_json", "missing_notebook",
                 "syntax_error", "os_exit", "tamper_numpy", "imports_reference",
                 "reads_solutions", "writes_outside", "copies_test_cell", "kills_launcher",
                 "leaves_a_process", "floods_output")


def _wait_for(condition, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two one-thread workers (separate processes)."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    logs, processes = [], []

    def start(name: str, *argv: str) -> None:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        processes.append(subprocess.Popen([str(DASK), *argv], stdout=log, stderr=subprocess.STDOUT,
                                          env=env, cwd=folder, start_new_session=True))

    start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
          "--scheduler-file", str(scheduler_file))
    try:
        _wait_for(scheduler_file.is_file, 60, "the scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        for index in range(2):
            start(f"worker{index}", "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                  "--preload", str(TESTS / "cluster_poison.py"), "--memory-limit", "0",
                  "--local-directory", str(folder / f"worker{index}"))
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for log in logs:
            log.close()
        cluster._sweep_stale_folders()  # the workers stopped by a signal skip their teardown


def _folders_of_dead_workers() -> list[Path]:
    folders = []
    for folder in Path(tempfile.gettempdir()).glob("autograde-*"):
        owner = folder / cluster.OWNER_FILE
        if owner.is_file() and not psutil.pid_exists(int(owner.read_text())):
            folders.append(folder)
    return folders


def _cohort(workspace: Path, grading_template) -> runner.Cohort:
    grading_template(SOURCE_ROOT, "fixture", workspace)
    return runner.Cohort(chapter="fixture", workspace=workspace, source_root=SOURCE_ROOT,
                         progress=False, limits=runner.Limits(**FIXTURE_LIMITS))


def _records(summary) -> dict:
    return {r["student"]: r for r in summary["records"]}


def _comparable(record: dict) -> dict:
    """What must not depend on where a submission was graded (temporary paths aside)."""
    def plain(text: str) -> str:
        return re.sub(r"\d+\.py", "N.py", re.sub(r"/[^\s:']+", "PATH", text))

    return {"score": record["score"], "scores": record["scores"],
            "integrity": [plain(t) for t in record["integrity"]],
            "reasons": [plain(t) for t in record["reasons"]], "fatal_kind": record["fatal_kind"],
            "outcomes": {k: v["kind"] for k, v in record["outcomes"].items()},
            "sandbox": record["sandbox"]}


def test_a_cohort_graded_on_the_cluster_matches_the_local_grader(dask_cluster, graded, tmp_path,
                                                                  grading_template):
    _cohort_local, _subs, _release, cases, local_summary = graded
    local = _records(local_summary)
    submissions = tmp_path / "subs"
    for student in SAME_AS_LOCAL:
        write_submission(submissions, student, cases[student][0])
    cohort = _cohort(tmp_path / "ws", grading_template)
    summary = runner.grade_cohort(cohort, submissions, scheduler=dask_cluster)
    remote = _records(summary)
    assert sorted(remote) == sorted(SAME_AS_LOCAL)
    differ = {s: (_comparable(remote[s]), _comparable(local[s])) for s in SAME_AS_LOCAL
              if _comparable(remote[s]) != _comparable(local[s])}
    assert not differ, differ
    # the client wrote the workspace: notebooks, feedback, CSV and gradebook
    assert (cohort.workspace / "feedback" / "correct" / "fixture" / "fixture.html").is_file()
    assert (cohort.workspace / "autograded" / "partial" / "fixture" / "fixture.ipynb").is_file()
    assert len(Path(summary["csv"]).read_text().splitlines()) == 1 + len(SAME_AS_LOCAL)
    # two submissions were refused at intake (invalid JSON, no notebook): never sent
    traffic = summary["traffic"]
    assert traffic["submissions"] == len(SAME_AS_LOCAL) - 2
    assert 0 < traffic["sent"] and 0 < traffic["received"]


def test_a_worker_killed_mid_submission_loses_no_grade(dask_cluster, graded, tmp_path,
                                                       grading_template):
    from distributed import Client

    release = graded[2]
    students = [f"slow{index}" for index in range(4)]
    for student in students:
        write_submission(tmp_path / "subs", student,
                         {"fixture.ipynb": build(release, CORRECT, extra_after=SLOW)})
    cohort = _cohort(tmp_path / "ws", grading_template)
    summaries = []
    thread = threading.Thread(target=lambda: summaries.append(
        runner.grade_cohort(cohort, tmp_path / "subs", scheduler=dask_cluster)))
    thread.start()
    with Client(dask_cluster, timeout="60s") as client:
        def busy_worker():
            return next((worker for worker, keys in client.processing().items()
                         if any("slow" in str(key) for key in keys)), None)

        victim = _wait_for(busy_worker, 120, "a worker grading a submission")
        time.sleep(1.5)  # inside the submission: its kernel sleeps for 3 s
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
        client.wait_for_workers(2, timeout=90)  # the nanny restarted it (for the next tests)
    # the restarted worker removed the folder the killed one left behind
    _wait_for(lambda: not _folders_of_dead_workers(), 60, "the killed worker's folder to go")
    records = _records(summaries[0])
    assert sorted(records) == students
    assert {s: (r["score"], r["reasons"]) for s, r in records.items()} == {
        s: (3.0, []) for s in students}
    assert len(Path(summaries[0]["csv"]).read_text().splitlines()) == 1 + len(students)


def test_a_submission_that_kills_every_worker_gets_zero_and_the_batch_goes_on(
        dask_cluster, graded, tmp_path, grading_template):
    from distributed import Client

    release = graded[2]
    students = ["after1", "after2", "poison", "zafter3"]
    for student in students:
        write_submission(tmp_path / "subs", student,
                         {"fixture.ipynb": build(release, CORRECT)})
    cohort = _cohort(tmp_path / "ws", grading_template)
    records = _records(runner.grade_cohort(cohort, tmp_path / "subs", scheduler=dask_cluster))
    assert sorted(records) == students
    poison = records["poison"]
    assert (poison["score"], poison["fatal_kind"]) == (0.0, "worker crashed")
    assert "stopped every Dask worker it ran on" in poison["reasons"][0]
    assert all(records[s]["score"] == 3.0 for s in students if s != "poison")
    with Client(dask_cluster, timeout="60s") as client:
        client.wait_for_workers(2, timeout=90)


def test_a_client_killed_mid_batch_is_picked_up_where_it_stopped(dask_cluster, graded, tmp_path):
    release = graded[2]
    students = [f"student{index}" for index in range(6)]
    for student in students:
        write_submission(tmp_path / "subs", student,
                         {"fixture.ipynb": build(release, CORRECT, extra_after=SLOW)})
    workspace = tmp_path / "ws"
    command = [sys.executable, "-m", "autograder", "grade", "fixture", str(tmp_path / "subs"),
               "--workspace", str(workspace), "--source", str(SOURCE_ROOT), "--quiet",
               "--scheduler", dask_cluster,
               *[f"--{k.replace('_', '-')}={v}" for k, v in FIXTURE_LIMITS.items()]]
    folder = workspace / "grades" / "fixture" / "records"
    client = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        _wait_for(lambda: folder.is_dir() and any(folder.glob("*.json")), 240, "a first record")
    finally:
        os.killpg(client.pid, signal.SIGKILL)
        client.wait()
    saved = {p.name: p.read_text() for p in folder.glob("*.json")}
    assert 1 <= len(saved) < len(students)
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    left = len(students) - len(saved)
    assert f"graded {left} submissions ({len(saved)} unchanged, kept)" in again.stdout
    assert re.search(r"sent to the workers: \d+ bytes \(\d+ per submission\)", again.stdout)
    after = {p.name: json.loads(p.read_text()) for p in folder.glob("*.json")}
    assert sorted(after) == [f"{s}.json" for s in students]
    assert all(after[name] == json.loads(text) for name, text in saved.items())
    assert all(record["score"] == 3.0 for record in after.values())
