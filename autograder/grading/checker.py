"""Run a graded test cell's checks in the grading worker, calling student code in the kernel.

The worker is the trusted side: it holds the checks, the references and the scores. For each
graded test cell it runs one line in the kernel that starts the kernel's agent
(:mod:`autograder.grading.agent`), which connects back over a Unix socket; the cell's code runs
here. The names the cell reads and does not define are the student's answers, looked up in the
kernel (the usual aliases ``np``, ``tf``, ``keras`` and ``math`` excepted: those are the grader's
modules, whatever the kernel binds to them, and a module of the kernel's is never used): a
plain value (a number, an array) is copied, and anything else (the student's functions)
becomes a :class:`RemoteObject`, whose calls run in the kernel with plain data both ways
(:mod:`autograder.grading.wire`). The cell's outputs (what the checks print, the points, or the
failure) are made here: code in the kernel cannot change them.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import importlib
import io
import os
import secrets
import socket
import sys
import threading

import nbformat

from . import wire

# a test cell's usual aliases mean the grader's modules, whatever the kernel binds to them
ALIASES = {"np": "numpy", "tf": "tensorflow", "keras": "keras", "math": "math"}
MAX_SOCKET_PATH = 100  # AF_UNIX paths: 108 bytes on Linux, 104 on macOS
HELLO_SECONDS = 10  # a connection that never says hello is dropped after this


class StudentError(Exception):
    """An exception of student code in the kernel whose class is not a builtin one."""


class KernelGone(ConnectionError):
    """The kernel stopped answering (interrupted at the time limit, dead, or its agent replaced)."""


class AgentMissing(RuntimeError):
    """The test cell ended in the kernel without the agent asking for the checks."""


class KernelLink:
    """One agent session: one request at a time over the accepted connection."""

    def __init__(self, connection: socket.socket):
        self.connection = connection
        self.lock = threading.Lock()

    def exchange(self, header: dict, blobs: list[bytes] | None = None) -> tuple[dict, list[bytes]]:
        with self.lock:
            try:
                wire.send(self.connection, header, blobs or [])
                return wire.receive(self.connection)
            except (OSError, wire.WireError) as error:
                raise KernelGone(f"the kernel stopped answering the grader ({error})") from None

    def value(self, answer: dict, blobs: list[bytes], name: str):
        if "error" in answer:
            raise student_exception(answer["error"])
        if "value" not in answer:
            raise KernelGone("the kernel answered out of the grader's protocol")
        kind = str(answer.get("type", "")).rsplit(".", 1)[-1]
        try:
            return wire.decode(answer["value"], blobs, wire.as_tensor,
                               lambda number: RemoteObject(self, number, name, kind))
        except wire.WireError as error:
            raise KernelGone(f"the kernel answered out of the grader's protocol ({error})") from None

    def resolve(self, name: str):
        """What a test cell sees for ``name``; ``KeyError`` when the kernel does not define it."""
        answer, blobs = self.exchange({"op": "resolve", "name": name})
        if answer.get("missing") or "module" in answer:  # a module of the kernel's is not ours
            raise KeyError(name)
        return self.value(answer, blobs, name)


def student_exception(error: dict) -> Exception:
    """The exception the checks see for one raised by student code (builtin classes kept, so
    ``except ValueError`` and ``NotImplementedError`` work as they do in the kernel)."""
    kind = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    cls = getattr(builtins, kind, None) if error.get("builtin") else None
    if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, AssertionError):
        with contextlib.suppress(Exception):
            return cls(message)
    name = kind if kind.isidentifier() else "StudentError"
    return type(name, (StudentError,), {})(message)  # named as in the kernel, for the messages


def _refer(value) -> int:
    if isinstance(value, RemoteObject):
        return value.__dict__["_number"]
    raise wire.Unsendable(f"the grader cannot send a {type(value).__name__} to the kernel")


class RemoteObject:
    """A student object that stays in the kernel; calling it calls it there."""

    def __init__(self, link: KernelLink, number: int, name: str = "", kind: str = ""):
        self.__dict__.update(_link=link, _number=number, _name=name, _kind=kind)

    @property
    def __name__(self) -> str:
        return self.__dict__["_name"] or "the function"

    @property
    def __remote_type__(self) -> str:
        return self.__dict__["_kind"] or "object"

    def _ask(self, op: str, label: str, args=(), kwargs=None, **fields):
        """One request about this object; ``args``/``kwargs`` go as data (the grader's functions
        and models included), ``fields`` as they are. The answer's value, named ``label``."""
        blobs: list[bytes] = []
        weights = fields.pop("weights", None)
        header = {"op": op, "ref": self.__dict__["_number"], **fields,
                  "args": wire.encode(list(args), blobs, _refer, grader=True),
                  "kwargs": wire.encode(dict(kwargs or {}), blobs, _refer, grader=True),
                  "weights": None if weights is None else wire.encode(weights, blobs, grader=True)}
        link = self.__dict__["_link"]
        answer, out = link.exchange(header, blobs)
        return link.value(answer, out, label)

    def __remote_place__(self, value):
        """``value`` (a grader's model or function) made in the kernel: its proxy."""
        placed = self._ask("place", getattr(value, "__name__", "") or "the grader's object", [value])
        if not isinstance(placed, RemoteObject):
            raise KernelGone("the kernel answered out of the grader's protocol")
        return placed

    def __remote_isinstance__(self, class_path: str) -> bool:
        return self._ask("isinstance", class_path, name=class_path) is True

    def __remote_call__(self, args, kwargs, measure=None, options=None):
        """Call in the kernel; with ``measure`` (see :func:`autograder.core.measured_call`)
        return ``(result, measurement)``."""
        fields = {"measure": measure}
        options = options or {}
        if "packages" in options:
            fields["packages"] = list(options["packages"])
        if "wrt" in options:
            wrt = options["wrt"]
            fields["wrt"] = wrt if isinstance(wrt, int) else [int(step) for step in wrt]
            fields["weights"] = options.get("weights")
        return self._ask("call", self.__name__, args, kwargs, **fields)

    @contextlib.contextmanager
    def __remote_replace__(self, name: str, replacement):
        """``core.global_replaced`` in the kernel: ``replacement`` (a reference implementation
        or a function with ``__wire_source__``) is bound to ``name`` in this function's globals."""
        self._ask("replace", name, [replacement], name=name)
        try:
            yield
        finally:
            self._ask("restore", name, name=name)

    def __call__(self, *args, **kwargs):
        return self.__remote_call__(args, kwargs)

    def __getattr__(self, attribute: str):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        link = self.__dict__["_link"]
        answer, out = link.exchange({"op": "getattr", "ref": self.__dict__["_number"],
                                     "name": attribute})
        if "error" in answer:
            raise AttributeError(str(answer["error"].get("message", attribute)))
        return link.value(answer, out, f"{self.__name__}.{attribute}")

    def __repr__(self) -> str:
        return f"<{self.__name__} in the student's kernel>"


# ------------------------------------------------------------------- the cell's code
def free_names(tree: ast.AST) -> list[str]:
    """Names the code reads and never binds (nor a builtin): the kernel's, for a test cell."""
    bound, loaded = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded.append if isinstance(node.ctx, ast.Load) else bound.add)(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return [name for name in dict.fromkeys(loaded)
            if name not in bound and not hasattr(builtins, name)]


class _ThreadOutput(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of the worker: a checks thread's writes go to its buffer."""

    def __init__(self, inner):
        self.inner, self.buffers = inner, {}

    def write(self, text):
        buffer = self.buffers.get(threading.get_ident())
        return (buffer if buffer is not None else self.inner).write(text)

    def flush(self):
        self.inner.flush()

    @property
    def encoding(self):
        return getattr(self.inner, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.inner.fileno()

    def isatty(self) -> bool:
        return False


def _capture() -> tuple[_ThreadOutput, _ThreadOutput]:
    if not isinstance(sys.stdout, _ThreadOutput):
        sys.stdout = _ThreadOutput(sys.stdout)
    if not isinstance(sys.stderr, _ThreadOutput):
        sys.stderr = _ThreadOutput(sys.stderr)
    return sys.stdout, sys.stderr


def error_output(ename: str, evalue: str) -> nbformat.NotebookNode:
    """An error output as nbgrader reads it (it scores the cell 0)."""
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"{ename}: {evalue}"])


def run_cell_code(source: str, link: KernelLink, execution_count: int | None) -> list:
    """Run a test cell's code here with the kernel's names; its outputs, as IPython's would be
    (the printed report, the points as the result, or the error). Warnings and stderr of the
    grader's own code are not the student's and are dropped."""
    out, err = _capture()
    printed = io.StringIO()
    ident = threading.get_ident()
    out.buffers[ident], err.buffers[ident] = printed, io.StringIO()
    outputs = []
    try:
        tree = ast.parse(source)
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        for name in free_names(tree):
            if name in ALIASES:
                namespace[name] = importlib.import_module(ALIASES[name])
                continue
            with contextlib.suppress(KeyError):
                namespace[name] = link.resolve(name)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, "<test cell>", "exec"), namespace)  # noqa: S102 - the grader's code
        value = None
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<test cell>", "eval"), namespace)  # noqa: S307
    except BaseException as error:  # noqa: BLE001 - a failed check is an error output, as in IPython
        value = None
        outputs_error = error_output(type(error).__name__, str(error))
    else:
        outputs_error = None
    finally:
        del out.buffers[ident], err.buffers[ident]
    if printed.getvalue():
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed.getvalue()))
    if outputs_error is not None:
        outputs.append(outputs_error)
    elif value is not None:
        from IPython.lib.pretty import pretty  # what IPython shows for a cell's result

        outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": pretty(value)},
                                              execution_count=execution_count))
    return outputs


# ------------------------------------------------------------------- one test cell
def _accept(listener: socket.socket, token: str, finished: threading.Event) -> tuple:
    """The agent's connection (its first message carries the cell's token) and the events it
    reported (the kernel's refused operations so far)."""
    listener.settimeout(0.2)
    while not finished.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        connection.settimeout(HELLO_SECONDS)  # a connection that never says hello is dropped
        try:
            hello, _blobs = wire.receive(connection, limit=1 << 20)
        except (OSError, wire.WireError):
            connection.close()
            continue
        connection.settimeout(None)
        if hello.get("hello") == token:
            return connection, hello.get("events")
        connection.close()
    raise AgentMissing()


def _checks_thread(listener, token, source, finished, report: dict) -> None:
    try:
        connection, events = _accept(listener, token, finished)
    except (AgentMissing, OSError):
        report["missing"] = True
        return
    report["connection"] = connection
    if isinstance(events, list):
        report["events"] = [str(event)[:300] for event in events[:200]]
    report["outputs"] = run_cell_code(source, KernelLink(connection), None)
    with contextlib.suppress(OSError):
        wire.send(connection, {"op": "done"}, [])


def agent_source(path: str, token: str) -> str:
    return f"__import__('_autograder_agent').serve({path!r}, {token!r})"


def grade_test_cell(executor, cell, index: int, socket_dir: str) -> tuple:
    """Run ``cell`` (a graded test cell) with its checks here and the student's code in the
    kernel; ``executor`` is the notebook's nbclient executor. Returns the cell with the
    outputs of the checks, and the kernel's events as its agent reported them (or ``None``)."""
    token = secrets.token_hex(16)
    path = os.path.join(socket_dir, f"g{token[:10]}.sock")
    if len(path) > MAX_SOCKET_PATH:
        raise OSError(f"the grader's socket path is too long ({len(path)} characters): {path}")
    finished, report = threading.Event(), {}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    thread = threading.Thread(target=_checks_thread, daemon=True,
                              args=(listener, token, cell.source, finished, report))
    thread.start()
    runner = copy.deepcopy(cell)
    runner.source = agent_source(path, token)
    try:
        runner = executor.execute_cell(runner, index, store_history=True)
    finally:
        executor.nb["cells"][index] = cell  # nbclient put the runner there
        finished.set()
        _close(report, listener, path, thread)
    cell.execution_count = runner.get("execution_count")
    cell.outputs = _outputs(report, runner)
    for output in cell.outputs:
        if output.get("output_type") == "execute_result":
            output["execution_count"] = cell.execution_count
    return cell, report.get("events")


def _close(report: dict, listener: socket.socket, path: str, thread: threading.Thread) -> None:
    """Close the cell's sockets (a checks thread still running fails its next request fast) and
    wait for its thread. The outputs are in ``report`` before the agent is told it is done."""
    if "connection" in report:
        with contextlib.suppress(OSError):
            report["connection"].close()
    listener.close()
    with contextlib.suppress(OSError):
        os.unlink(path)
    thread.join(timeout=30)


def _outputs(report: dict, runner) -> list:
    kernel_errors = [o for o in runner.get("outputs", []) if o.get("output_type") == "error"]
    if kernel_errors:  # interrupted at the time limit, or the kernel died: as before, 0
        return kernel_errors[:1]
    if report.get("missing") or "outputs" not in report:
        return [error_output("IntegrityError", "the kernel did not run the grader's agent for this test "
                       "cell (the agent or IPython's input handling was changed). No points for "
                       "this exercise; the instructor is notified.")]
    return report["outputs"]
