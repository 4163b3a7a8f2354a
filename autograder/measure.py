"""Measurements of a call to student code: which libraries it ran, how many of its lines ran.

Self-contained (no other ``autograder`` module; TensorFlow only for gradients): the grader's checks
use it through :mod:`autograder.core`, and the grading kernel's agent
(:mod:`autograder.grading.agent`) uses it to measure a call where the student's code runs, while
the checks themselves run in the grading worker.
"""

from __future__ import annotations

import contextlib
import os
import sys

FORBIDDEN_PACKAGES = ("tensorflow", "keras", "tf_keras", "autograder")


def _package_dirs(packages) -> list[str]:
    dirs = []
    for package in packages:
        module = sys.modules.get(package)
        path = getattr(module, "__file__", None)
        if path:
            dirs.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return dirs


def call_watching_libraries(function, args, kwargs, packages) -> tuple[object, str | None]:
    """Call ``function``; return ``(result, first)``, ``first`` naming the first code of
    ``packages`` (imported ones) the call ran, or ``None``. The caller's frame is not counted."""
    forbidden = _package_dirs(packages)
    caller_frame = sys._getframe()
    seen: list[str] = []

    def profiler(frame, event, arg):
        if seen:
            return
        if event == "call":
            filename = frame.f_code.co_filename
            if frame is not caller_frame and any(filename.startswith(d) for d in forbidden):
                seen.append(f"{frame.f_code.co_name} in {filename}")
        elif event == "c_call":
            module = getattr(arg, "__module__", None) or ""
            if module.split(".")[0] in packages:
                seen.append(f"{module}.{getattr(arg, '__name__', '?')}")

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        result = function(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    return result, (seen[0] if seen else None)


def library_roots() -> tuple[str, ...]:
    """Folders whose code is not the student's: the standard library, installed packages,
    the grader and the course library (both spellings: as given and with links resolved)."""
    import site
    import sysconfig

    roots = {path for key, path in sysconfig.get_paths().items()
             if key in ("stdlib", "platstdlib", "purelib", "platlib") and path}
    with contextlib.suppress(Exception):
        roots.update(site.getsitepackages())
    with contextlib.suppress(Exception):
        roots.add(site.getusersitepackages())
    for package in ("autograder", "cnnvision"):
        path = getattr(sys.modules.get(package), "__file__", None)
        if path:
            roots.add(os.path.dirname(path))
    spelled = {os.path.abspath(root) for root in roots} | {os.path.realpath(root) for root in roots}
    return tuple(sorted(root.rstrip(os.sep) + os.sep for root in spelled))


def call_counting_lines(function, args, kwargs) -> tuple[object, int]:
    """Call ``function``; return ``(result, lines)``: the lines of student code it ran (see
    :func:`autograder.core.count_lines_run`)."""
    roots = library_roots()
    verdicts: dict[str, bool] = {}
    lines = [0]

    def local(frame, event, arg):
        if event == "line":
            lines[0] += 1
        return local

    def tracer(frame, event, arg):
        filename = frame.f_code.co_filename
        student = verdicts.get(filename)
        if student is None:
            student = not (filename.startswith("<frozen") or filename.startswith(roots))
            verdicts[filename] = student
        return local if student else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = function(*args, **kwargs)
    finally:
        sys.settrace(previous)
    return result, lines[0]


def call_with_gradient(function, args, kwargs, wrt, weights=None) -> tuple[object, object]:
    """Call ``function`` under a ``tf.GradientTape``, its array arguments as tensors; return
    ``(output, gradient)``: d sum(output * weights) / d args[wrt] as a numpy array (``weights``
    default to ones), ``None`` when the output is not a tensor or no gradient flows to that
    argument. ``wrt`` is an index, or a path into list arguments (``(0, 1)``: ``args[0][1]``)."""
    import numpy as np
    import tensorflow as tf

    path = [int(wrt)] if isinstance(wrt, int) else [int(step) for step in wrt]
    args = [tf.constant(value) if isinstance(value, np.ndarray) else value for value in args]
    container = args
    for step in path[:-1]:
        container[step] = list(container[step])
        container = container[step]
    container[path[-1]] = watched = tf.constant(container[path[-1]])
    with tf.GradientTape() as tape:
        tape.watch(watched)
        output = function(*args, **kwargs)
        if not tf.is_tensor(output):
            return output, None
        target = output if weights is None else output * tf.constant(weights, output.dtype)
        total = tf.reduce_sum(target)
    gradient = tape.gradient(total, watched)
    return output, (None if gradient is None else gradient.numpy())
