"""Kernel-side integrity guard (runs inside the grading kernel, before student code).

* :func:`install_audit_hook`: a ``sys.addaudithook`` policy. Python code cannot
  remove an audit hook, so it holds even when the student's code patches
  ``socket`` or ``os``: no connection but loopback, no writes or deletions
  outside the submission's scratch folders, no reads of hidden folders, and (when no Linux
  namespaces isolate the kernel) no new programs. Every refusal is recorded as an *event*.
* :func:`install_guard`: snapshots the objects the checks rely on (numpy's
  comparison and testing functions, core builtins, every function and class of
  the ``autograder`` modules already imported, those classes' methods, and their
  functions' code objects) and how IPython transforms a cell's code.
  The worker injects a call to ``verify`` before and after every graded test
  cell; it publishes what changed, signed with an HMAC key only the worker and
  this module know, so a replaced guard cannot forge a clean verdict.
* :func:`cap_output`: stdout, stderr and results are capped per cell, each write
  cut to the budget left before it is sent.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import os
import sys
import types

GUARD_MIME = "application/x-autograder-guard+json"
GUARD_MODULE = "_autograder_guard"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
GUARDED_BUILTINS = (
    "abs", "all", "any", "bool", "callable", "compile", "dict", "enumerate", "eval", "exec",
    "float", "getattr", "hasattr", "int", "isinstance", "issubclass", "iter", "len", "list",
    "max", "min", "next", "object", "open", "range", "repr", "round", "setattr", "sorted",
    "str", "sum", "super", "tuple", "type", "zip", "__import__", "AssertionError",
    "Exception", "NotImplementedError",
)
GUARDED_NUMPY = (
    "allclose", "isclose", "array_equal", "array_equiv", "abs", "absolute", "asarray", "array",
    "argwhere", "all", "any", "max", "where", "ndarray", "issubdtype", "dtype", "testing",
)
_EVENTS: list[str] = []
_ARMED: list[bool] = []  # programs may start until the kernel is up (IPython start-up does)


def _record(event: str) -> None:
    if len(_EVENTS) < 200 and event not in _EVENTS:
        _EVENTS.append(event)


# ---------------------------------------------------------------- audit hook
def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def install_audit_hook(settings: dict) -> None:
    """Refuse network, stray writes, hidden reads and new programs (see module doc)."""
    realpath = os.path.realpath
    allowed = tuple(realpath(p) for p in settings["allowed_write_roots"]) + ("/dev",)
    hidden = tuple(realpath(p) for p in settings["hidden_roots"])
    # Inside namespaces a program inherits the sandbox; without them it would not.
    block_programs = bool(settings.get("block_programs", True))
    refuse = PermissionError

    def as_path(value) -> str | None:
        if isinstance(value, bytes):
            value = os.fsdecode(value)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        return realpath(value) if isinstance(value, str) else None

    def check_read(path: str | None) -> None:
        if path and _under(path, hidden):
            _record(f"read refused: {path}")
            raise refuse(f"the grader hides {path} from submissions")

    def check_write(path: str | None, what: str) -> None:
        if path and not _under(path, allowed):
            _record(f"{what} outside the submission folder refused: {path}")
            raise refuse(f"submissions may only {what} inside their own folder, not {path}")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path = as_path(args[0])
            mode, flags = args[1], args[2]
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & WRITE_FLAGS
            )
            check_read(path)
            if writing:
                check_write(path, "write")
        elif event in ("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "shutil.rmtree",
                       "os.truncate", "os.symlink", "os.link", "os.utime", "os.chown"):
            check_write(as_path(args[0]), "change files")
        elif event == "os.rename":
            check_write(as_path(args[0]), "change files")
            check_write(as_path(args[1]), "change files")
        elif event in ("os.listdir", "os.scandir", "os.chdir", "glob.glob"):
            check_read(as_path(args[0]) if args and args[0] is not None else None)
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
                       "os.spawn", "os.fork", "os.forkpty", "pty.spawn"):
            if not _ARMED or not block_programs:
                return
            _record(f"starting a program refused ({event})")
            raise refuse("the grader does not let submissions start programs")
        elif event in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
            address = args[1] if event != "socket.getaddrinfo" else (args[0],)
            host = str(address[0]) if isinstance(address, tuple) and address else ""
            if isinstance(address, tuple) and not host.startswith(("127.", "::1", "localhost")):
                _record(f"network refused: {host}")
                raise refuse(f"no network while grading (connection to {host!r} refused)")

    sys.addaudithook(hook)


# -------------------------------------------------------------- snapshot/verify
def _module_snapshot(module: types.ModuleType, names=None) -> dict:
    items = vars(module).items() if names is None else (
        (n, getattr(module, n)) for n in names if hasattr(module, n)
    )
    return {n: v for n, v in items if callable(v) or isinstance(v, types.ModuleType)}


def _class_snapshot(cls: type) -> dict:
    return {n: v for n, v in vars(cls).items() if callable(v) or isinstance(v, property | staticmethod | classmethod)}


# Modules the references call at run time: replacing tf.nn.conv2d would change the reference.
FRAMEWORK_NAMESPACES = ("tensorflow", "tensorflow.nn", "tensorflow.math", "tensorflow.signal",
                        "tensorflow.image", "keras", "keras.layers", "keras.ops", "keras.activations")


def _resolve(dotted: str):
    root, *rest = dotted.split(".")
    owner = sys.modules.get(root)
    for part in rest:
        owner = getattr(owner, part, None)
    return owner if isinstance(owner, types.ModuleType) else None


def take_snapshot() -> dict:
    """Identities of everything the checks rely on, by dotted name."""
    import numpy
    import numpy.testing

    watched = {
        "builtins": (builtins, _module_snapshot(builtins, GUARDED_BUILTINS)),
        "numpy": (numpy, _module_snapshot(numpy, GUARDED_NUMPY)),
        "numpy.testing": (numpy.testing, _module_snapshot(numpy.testing)),
    }
    extend_snapshot(watched)
    for name, module in list(sys.modules.items()):
        if name == "autograder" or name.startswith("autograder."):
            if name.startswith("autograder.grading"):
                continue
            watched[name] = (module, _module_snapshot(module))
            for attr, value in list(watched[name][1].items()):
                if isinstance(value, type) and value.__module__ == name:
                    watched[f"{name}.{attr}"] = (value, _class_snapshot(value))
    watched[CODE_KEY] = (None, _code_snapshot(watched))
    return watched


CODE_KEY = "functions' code"  # snapshot entry: the code of the grader's functions


def _code_snapshot(watched: dict) -> dict:
    """The code, defaults and keyword defaults of every function of the grader's modules and
    classes: replacing a function's ``__code__`` in place keeps the function's identity."""
    codes = {}
    for name, (_owner, attributes) in list(watched.items()):
        if name.startswith("autograder"):
            for attr, value in attributes.items():
                function = getattr(value, "__func__", value)
                if isinstance(function, types.FunctionType):
                    codes[f"{name}.{attr}"] = (function, function.__code__, function.__defaults__,
                                               function.__kwdefaults__)
    return codes


def _code_changes(codes: dict) -> list[str]:
    return [f"the code of {name} was replaced" for name, (function, *parts) in codes.items()
            if [function.__code__, function.__defaults__, function.__kwdefaults__] != parts]


INPUT_HANDLERS = ("run_cell", "run_cell_async", "transform_cell", "transform_ast",
                  "run_ast_nodes", "run_code", "should_run_async", "ex", "ev")


def input_handling(shell) -> dict:
    """What IPython does to a cell's code before running it: the transformer lists, the input
    transformer manager, and methods set on the shell itself (a test cell can be rewritten there)."""
    manager = getattr(shell, "input_transformer_manager", None)
    return {
        "input_transformers_cleanup": tuple(getattr(shell, "input_transformers_cleanup", ())),
        "input_transformers_post": tuple(getattr(shell, "input_transformers_post", ())),
        "ast_transformers": tuple(getattr(shell, "ast_transformers", ())),
        "input_transformer_manager": manager,
        "the input transformer manager's lists": tuple(
            tuple(getattr(manager, name, ())) for name in
            ("cleanup_transforms", "line_transforms", "token_transformers")),
        "methods set on the shell": tuple(sorted(n for n in INPUT_HANDLERS if n in vars(shell))),
    }


def input_handling_changes(before: dict, shell) -> list[str]:
    now = input_handling(shell)
    return [f"IPython's input handling was changed ({name})" for name, value in before.items()
            if now[name] != value]


def extend_snapshot(watched: dict) -> None:
    """Add the framework namespaces imported since the last call (TF loads lazily)."""
    for name in FRAMEWORK_NAMESPACES:
        if name not in watched:
            module = _resolve(name)
            if module is not None:
                watched[name] = (module, _module_snapshot(module))


def compare(snapshot: dict) -> list[str]:
    """What differs from the snapshot, as readable lines."""
    changes = []
    for name, (owner, attributes) in snapshot.items():
        if name == CODE_KEY:
            changes += _code_changes(attributes)
            continue
        if isinstance(owner, types.ModuleType):
            now_module = sys.modules.get(name) if name in sys.modules else _resolve(name)
            if now_module is not owner:
                changes.append(f"{name} (the module) was replaced")
                continue
        current = vars(owner)
        for attr, original in attributes.items():
            now = current.get(attr, getattr(owner, attr, None)) if name != "builtins" else current.get(attr)
            if now is not original and not _same_lazy_module(original, now):
                changes.append(f"{name}.{attr} was replaced or deleted")
    return changes


def _same_lazy_module(original, now) -> bool:
    """TensorFlow and Keras replace lazy-loader placeholders by the module they load."""
    return (isinstance(original, types.ModuleType) and isinstance(now, types.ModuleType)
            and type(original) is not types.ModuleType and original.__name__ == now.__name__)


def sign(key: bytes, nonce: str, label: str, payload: dict) -> str:
    text = json.dumps([nonce, label, payload], sort_keys=True)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def install_guard(settings: dict) -> None:
    """Register ``_autograder_guard.verify`` (closure over the snapshot and the key)."""
    from IPython import get_ipython

    snapshot = take_snapshot()
    shell = get_ipython()
    handling = input_handling(shell)
    key = bytes.fromhex(settings["guard_key"])
    publish = _publisher()

    def verify(nonce: str, label: str) -> None:
        changes = compare(snapshot) + input_handling_changes(handling, shell)
        payload = {"changes": changes, "events": list(_EVENTS)}
        extend_snapshot(snapshot)  # TensorFlow first imported by a check: watch it from now on
        payload["signature"] = sign(key, nonce, label, {k: payload[k] for k in ("changes", "events")})
        publish({GUARD_MIME: payload}, {})

    _ARMED.append(True)
    module = types.ModuleType(GUARD_MODULE)
    module.verify = verify
    sys.modules[GUARD_MODULE] = module


def _publisher():
    from IPython.core.display_functions import publish_display_data

    return lambda data, metadata: publish_display_data(data=data, metadata=metadata)


# ------------------------------------------------------------------ output cap
class _OutputBudget:
    """The characters a cell may still show, shared by stdout, stderr and its results."""

    def __init__(self, cap: int):
        self.cap, self.left, self.noted = cap, cap, False

    def reset(self, *_args) -> None:
        self.left, self.noted = self.cap, False

    def take(self, text: str) -> tuple[str, str]:
        """The part of ``text`` that fits (counted now, before it is sent) and the note, if any."""
        if len(text) <= self.left:
            self.left -= len(text)
            return text, ""
        kept, self.left = text[:self.left], 0
        if self.noted:
            return kept, ""
        self.noted = True
        _record("output truncated")
        return kept, (f"\n[output truncated by the grader: this cell printed more than {self.cap} "
                      "characters; the rest was not shown or sent]\n")


class _CappedStream:
    """Forward what fits in the cell's budget; a longer write is cut *before* it is sent."""

    def __init__(self, inner, budget: _OutputBudget):
        self._inner, self._budget = inner, budget

    def write(self, text):
        if not isinstance(text, str):
            return self._inner.write(text)  # the inner stream raises its own TypeError
        kept, note = self._budget.take(text)
        if kept:
            self._inner.write(kept)
        if note:
            self._inner.write(note)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _cap_results(shell, budget: _OutputBudget) -> None:
    """The ``text/plain`` of a cell's result (``Out[n]``) shares the budget: a huge repr is cut."""
    hook = shell.displayhook
    write_format_data = hook.write_format_data

    def capped(format_dict, md_dict=None):
        text = format_dict.get("text/plain")
        if isinstance(text, str):
            kept, note = budget.take(text)
            format_dict = {**format_dict, "text/plain": kept + note}
        return write_format_data(format_dict, md_dict)

    hook.write_format_data = capped


def cap_output(shell, cap: int) -> _OutputBudget:
    """Cap what a cell shows (stdout, stderr and its result's text) at ``cap`` characters.

    Each write is cut to what is left of the cell's budget before it reaches
    ipykernel, so a single ``print`` of hundreds of MB sends ``cap`` characters
    and a note, and the notebook goes on: nothing large ever crosses IOPub.
    """
    import warnings

    warnings.simplefilter("ignore")  # a warning on stderr would zero a passing test cell
    budget = _OutputBudget(cap)
    sys.stdout, sys.stderr = _CappedStream(sys.stdout, budget), _CappedStream(sys.stderr, budget)
    _cap_results(shell, budget)
    shell.events.register("pre_run_cell", budget.reset)
    return budget
