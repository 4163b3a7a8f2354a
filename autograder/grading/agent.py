"""The kernel's side of a graded test cell when the checks run in the grading worker.

For each graded test cell the worker runs one line in the kernel,
``__import__("_autograder_agent").serve(PATH, TOKEN)``, and the checks, in the worker, ask
this agent over a Unix socket to look up the names the cell uses, call the student's
functions and measure those calls (:mod:`autograder.measure`). Arguments and results cross as
plain data (:mod:`autograder.grading.wire`); an object that is not plain data (a Keras model)
stays here and the worker gets its number. The agent sends no code; it receives only the
grader's own functions and Keras models (by name, source, or architecture and weights). Nothing
it answers is trusted: student code can replace it, which only loses the answers the checks
need. Whatever the student's code prints while it is called is discarded.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import socket
import sys
import types

from autograder import measure

from . import guard, wire

AGENT_MODULE = "_autograder_agent"


class _Session:
    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.objects: list = []
        self.saved: dict = {}

    def refer(self, value) -> int:
        self.objects.append(value)
        return len(self.objects) - 1

    def reference(self, number: int):
        if not 0 <= number < len(self.objects):
            raise wire.WireError("no such object")
        return self.objects[number]

    def answer(self, request: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        op = request.get("op")
        if op == "resolve":
            return self._resolve(str(request.get("name")))
        args = wire.decode(request.get("args", {"list": []}), blobs, wire.as_tensor,
                           self.reference, code=True)
        kwargs = wire.decode(request.get("kwargs", {"dict": []}), blobs, wire.as_tensor,
                             self.reference, code=True)
        target = self.reference(int(request.get("ref", -1)))
        if op in ("replace", "restore"):
            return self._replace(op, target, str(request.get("name")), args)
        if op == "place":  # a grader's object, kept here: the worker gets its number
            return {"value": {"ref": self.refer(args[0])}, "type": type(args[0]).__qualname__}, []
        if op == "isinstance":
            module, _, name = str(request.get("name")).rpartition(".")
            return self._value(lambda: isinstance(target, getattr(importlib.import_module(module), name)))
        if op == "getattr":
            return self._value(lambda: getattr(target, str(request.get("name"))))
        if op == "call":
            how = request.get("measure")
            if how == "libraries":
                packages = tuple(request.get("packages", measure.FORBIDDEN_PACKAGES))
                return self._value(lambda: measure.call_watching_libraries(target, args, kwargs,
                                                                          packages))
            if how == "gradient":
                weights = request.get("weights")
                return self._value(lambda: measure.call_with_gradient(
                    target, args, kwargs, request.get("wrt", 0),
                    None if weights is None else wire.decode(weights, blobs)))
            if how == "lines":
                return self._value(lambda: measure.call_counting_lines(target, args, kwargs))
            return self._value(lambda: target(*args, **kwargs))
        raise wire.WireError(f"unknown request {op!r}")

    def _replace(self, op: str, target, name: str, args: list) -> tuple[dict, list[bytes]]:
        """Bind the grader's function ``args[0]`` to ``name`` in ``target``'s globals (the
        student's namespace), or put back what was there (see ``core.global_replaced``)."""
        namespace = getattr(target, "__globals__", None)
        key = (id(namespace), name)
        if op == "replace":
            if namespace is None or name not in namespace:
                return {"value": False}, []
            self.saved[key] = namespace[name]
            namespace[name] = args[0]
        elif key in self.saved:
            namespace[name] = self.saved.pop(key)
        return {"value": True}, []

    def _resolve(self, name: str) -> tuple[dict, list[bytes]]:
        if name not in self.namespace:
            return {"missing": True}, []
        value = self.namespace[name]
        if isinstance(value, types.ModuleType):
            return {"module": getattr(value, "__name__", "")}, []
        return self._value(lambda: value)

    def _value(self, compute) -> tuple[dict, list[bytes]]:
        blobs: list[bytes] = []
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                value = compute()
        except Exception as error:  # noqa: BLE001 - the checks judge what student code raised
            kind = type(error)
            return {"error": {"type": kind.__name__, "message": str(error)[:2000],
                              "builtin": getattr(builtins, kind.__name__, None) is kind}}, []
        return {"value": wire.encode(value, blobs, self.refer),
                "type": f"{type(value).__module__}.{type(value).__qualname__}"}, blobs


def serve(path: str, token: str) -> None:
    """Answer the worker's requests for one test cell, until it says ``done``."""
    from IPython import get_ipython

    shell = get_ipython()
    namespace = shell.user_ns if shell is not None else sys.modules["__main__"].__dict__
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        serve_connection(sock, token, namespace)


def serve_connection(sock: socket.socket, token: str, namespace: dict) -> None:
    """The agent's loop on a connected socket, answering with the names of ``namespace``."""
    session = _Session(namespace)
    wire.send(sock, {"hello": token, "events": list(guard._EVENTS)}, [])
    while True:
        try:
            request, blobs = wire.receive(sock)
        except wire.WireError:  # the worker is gone: nothing left to answer
            return
        if request.get("op") == "done":
            return
        try:
            header, out = session.answer(request, blobs)
        except wire.Unsendable as error:
            header, out = {"error": {"type": "TypeError", "message": str(error),
                                     "builtin": True}}, []
        except wire.WireError as error:
            header, out = {"error": {"type": "WireError", "message": str(error)}}, []
        wire.send(sock, header, out)


def install() -> None:
    """Make :func:`serve` importable as ``_autograder_agent`` (before any student code)."""
    module = types.ModuleType(AGENT_MODULE)
    module.serve = serve
    sys.modules[AGENT_MODULE] = module
