"""nbgrader preprocessors the worker adds around nbgrader's own ``Execute``.

``InjectGuards`` -> ``GuardedExecute`` -> ``CollectGuards`` replace ``Execute`` in
``Autograde.autograde_preprocessors``; nbgrader's other preprocessors are kept.

* ``InjectGuards`` puts a guard cell before and after every graded test cell (when the
  checks run in the kernel; see :mod:`autograder.grading.checker` for checks in the worker).
* ``GuardedExecute`` runs the kernel in the scratch ``kernel/`` folder (not in
  the course folder that holds the source and the gradebook), stops at the
  submission's deadline, and survives a dead kernel: a cell that passes the memory
  limit fails alone (a new kernel runs the cells before it again), and after any other
  death the test cells that never ran get an error output (nbgrader would otherwise give
  an empty test cell full marks). With ``checks_in_worker``, a graded test cell's code runs in the worker,
  calling the student's functions in the kernel (:mod:`autograder.grading.checker`).
* ``CollectGuards`` reads and removes the guard cells; a test cell whose guard
  saw tampering (or no valid signature) gets an ``IntegrityError`` output, so
  nbgrader scores it 0.
"""

from __future__ import annotations

import json
import secrets
import time

import nbformat
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, List, Unicode

from . import checker
from .guard import GUARD_MIME, GUARD_MODULE, sign

# Shared with the worker (one submission per worker process).
STATE: dict = {"stop_reason": None, "stop_kind": None, "guards": {}, "events": []}


GUARD_CELL_KEY = "autograder_guard"  # metadata of the guard cells InjectGuards adds
MEMORY_FAILURES = 2  # cells of one submission that may pass the memory limit and fail alone


class SubmissionDeadline(Exception):
    """The whole submission used up its time limit."""


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def _guarded(cell, only: list[str]) -> bool:
    """A test cell whose checks run in the kernel (``only``: those grade ids, else every one)."""
    return is_test_cell(cell) and (not only or cell.metadata.nbgrader["grade_id"] in only)


def _graded(cell) -> bool:
    """A test cell or a guard cell: what a second run of the notebook does not run again."""
    return is_test_cell(cell) or bool(cell.get("metadata", {}).get(GUARD_CELL_KEY))


class InjectGuards(NbGraderPreprocessor):
    nonce = Unicode("")
    only = List(Unicode()).tag(config=True)

    def preprocess(self, nb, resources):
        self.nonce = secrets.token_hex(8)
        STATE["nonce"] = self.nonce
        cells = []
        for cell in nb.cells:
            if _guarded(cell, self.only):
                cells.append(self._guard_cell("before", cell))
                cells.append(cell)
                cells.append(self._guard_cell("after", cell))
            else:
                cells.append(cell)
        nb.cells = cells
        return nb, resources

    def _guard_cell(self, when: str, cell):
        label = f"{when}:{cell.metadata.nbgrader['grade_id']}"
        source = f"__import__({GUARD_MODULE!r}).verify({self.nonce!r}, {label!r})"
        return nbformat.v4.new_code_cell(source, metadata={GUARD_CELL_KEY: label})


class GuardedExecute(Execute):
    kernel_cwd = Unicode("").tag(config=True)
    deadline = Float(0.0).tag(config=True)  # time.time() after which no cell starts

    checks_in_worker = Bool(False).tag(config=True)  # graded test cells: see checker.py
    kernel_cells = List(Unicode()).tag(config=True)  # ... except these (grade ids)
    agent_dir = Unicode("").tag(config=True)  # where the checks' socket is (the kernel sees it)

    def preprocess_cell(self, cell, resources, index):
        self._running = index
        if index in self._failed_alone or (index < self._replay_until and _graded(cell)):
            return cell, self.resources  # a run after a memory failure: these outputs stay
        if not (self.checks_in_worker and is_test_cell(cell)
                and cell.metadata.nbgrader["grade_id"] not in self.kernel_cells):
            return super().preprocess_cell(cell, resources, index)
        self._check_assign_resources(resources)
        cell, events = checker.grade_test_cell(self, cell, index, self.agent_dir)
        STATE["events"] = events or STATE["events"]
        if STATE["stop_kind"] == "memory limit":  # the student's function passed it here
            raise DeadKernelError(STATE["stop_reason"])
        return cell, self.resources

    def _cell_timeout(self, cell):
        remaining = self.deadline - time.time() if self.deadline else float("inf")
        if remaining <= 0:
            raise SubmissionDeadline()
        return max(1, int(min(self.timeout or 3600, remaining)))

    def preprocess(self, nb, resources, km=None):
        resources.setdefault("metadata", {})["path"] = self.kernel_cwd
        self.timeout_func = self._cell_timeout
        self._failed_alone, self._replay_until, self._running = set(), 0, None
        try:
            return self._run_failing_alone(nb, resources, km)
        except SubmissionDeadline:
            STATE["stop_kind"] = "time limit"
            STATE["stop_reason"] = "the submission used up its time limit"
        except DeadKernelError:
            STATE["stop_kind"] = STATE["stop_kind"] or "kernel died"
            STATE["stop_reason"] = STATE["stop_reason"] or (
                "the kernel died (sys.exit/os._exit, a crash or a killed process)"
            )
        except Exception as error:  # noqa: BLE001 - any failure still yields grades
            STATE["stop_kind"] = "execution error"
            STATE["stop_reason"] = f"execution stopped: {type(error).__name__}: {error}"[:300]
        finally:
            self.timeout_func = None
        self._mark_unrun_cells(nb)
        return nb, resources

    def _run_failing_alone(self, nb, resources, km):
        """nbclient's run of the notebook, in which a cell that passes the memory limit fails
        alone (as a cell that floods its output or passes its time limit does): the kernel is
        killed, that cell gets a ``MemoryLimit`` error, and a new kernel runs the cells before it
        again (test cells and guards keep the outputs of their first run), then the rest. At
        most ``MEMORY_FAILURES`` cells of a submission fail this way; the submission's time
        limit counts the runs again."""
        while True:
            try:
                return super().preprocess(nb, resources, km=km)
            except DeadKernelError:
                if not self._fail_alone(nb):
                    raise

    def _fail_alone(self, nb) -> bool:
        index = self._running
        if (STATE["stop_kind"] != "memory limit" or index is None
                or len(self._failed_alone) >= MEMORY_FAILURES):
            return False
        nb.cells[index].outputs.append(checker.error_output(
            "MemoryLimit", f"{STATE['stop_reason']} in this cell: it was stopped, a new kernel ran "
            "the cells before it again, and grading went on without it"))
        self._failed_alone.add(index)
        self._replay_until = index
        STATE["stop_kind"] = STATE["stop_reason"] = None
        return True

    def _mark_unrun_cells(self, nb) -> None:
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.get("execution_count") is None and (
                is_test_cell(cell)
            ):
                cell.outputs.append(checker.error_output("NotRun", f"not run: {STATE['stop_reason']}"))


class CollectGuards(NbGraderPreprocessor):
    guard_key = Unicode("").tag(config=True)
    grace = Float(0.0)
    only = List(Unicode()).tag(config=True)

    def preprocess(self, nb, resources):
        key = bytes.fromhex(self.guard_key)
        verdicts = {}
        kept = []
        for cell in nb.cells:
            label = cell.get("metadata", {}).get(GUARD_CELL_KEY)
            if label is None:
                kept.append(cell)
                continue
            verdicts[label] = self._verdict(cell, label, key)
        nb.cells = kept
        for cell in nb.cells:
            if _guarded(cell, self.only):
                self._apply(cell, verdicts)
        STATE["guards"] = verdicts
        return nb, resources

    def _verdict(self, cell, label: str, key: bytes) -> dict:
        if cell.get("execution_count") is None:
            return {"ran": False, "changes": [], "events": []}
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(GUARD_MIME)
            if payload is None:
                continue
            if isinstance(payload, str):
                payload = json.loads(payload)
            body = {k: payload.get(k, []) for k in ("changes", "events")}
            if payload.get("signature") == sign(key, STATE["nonce"], label, body):
                STATE["events"] = body["events"]
                return {"ran": True, **body}
        return {"ran": True, "changes": ["the grader's integrity guard was disabled or replaced"],
                "events": []}

    def _apply(self, cell, verdicts: dict) -> None:
        grade_id = cell.metadata.nbgrader["grade_id"]
        changes = []
        for when in ("before", "after"):
            changes += verdicts.get(f"{when}:{grade_id}", {}).get("changes", [])
        changes += STATE.get("static", {}).get(grade_id, [])
        if changes:
            unique = list(dict.fromkeys(changes))
            # first: nbgrader grades by the first error or execute_result it meets
            cell.outputs.insert(0, checker.error_output(
                "IntegrityError",
                "the checking machinery was tampered with: " + "; ".join(unique[:5])
                + ". No points for this exercise; the instructor is notified.",
            ))
