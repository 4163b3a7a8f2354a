"""Entry point of the grading kernel: sandbox, guard, then an ordinary IPython kernel.

Started by the kernelspec the worker writes (see :mod:`autograder.grading.sandbox`)::

    [unshare -Urnm --] python -m autograder.grading.kernel_boot SETTINGS -f CONNECTION_FILE

1. Reads its settings (JSON) and, inside fresh user/mount/network namespaces,
   hides the solutions, the gradebook and other students' work behind empty
   tmpfs mounts and makes the repository read-only; then re-executes itself in
   a nested user namespace that holds no capability over those mounts.
2. Installs an audit hook (cannot be removed from Python): no network but
   loopback, no writes outside the submission's scratch folders, no reads of
   hidden folders, no new programs.
3. Imports the course library, numpy and the chapter's checks, and snapshots
   them (:mod:`autograder.grading.guard`) before any student code runs.
4. Starts ipykernel with C-level output discarded and Python output capped per cell.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import subprocess
import sys

SETTINGS_FD_ENV = "AUTOGRADER_SETTINGS_FD"


def _read_settings(argv: list[str]) -> tuple[dict, list[str]]:
    fd_text = os.environ.pop(SETTINGS_FD_ENV)
    with os.fdopen(int(fd_text), "r") as handle:
        return json.load(handle), argv


def _mount_private_view(settings: dict) -> None:
    """Inside ``unshare -Urnm``: read-only repository, tmpfs over hidden folders."""

    def mount(*args: str) -> None:
        subprocess.run(["mount", *args], check=True, capture_output=True)

    for path in settings.get("readonly_roots", []):
        mount("--bind", path, path)
        mount("-o", "remount,bind,ro", path)
    for path in settings["hidden_roots"]:
        if os.path.isdir(path):
            mount("-t", "tmpfs", "-o", "size=1m,mode=000", "none", path)


def _reexec_without_capabilities(handle, rest: list[str]) -> None:
    """Continue in a nested user namespace: no capability over the mounts above."""
    handle.seek(0)
    os.set_inheritable(handle.fileno(), True)
    env = dict(os.environ, **{SETTINGS_FD_ENV: str(handle.fileno())})
    argv = ["unshare", "-U", "--", sys.executable, "-m", "autograder.grading.kernel_boot", *rest]
    os.execvpe("unshare", argv, env)


def _limit_resources(settings: dict) -> None:
    limit = int(settings.get("file_size_limit", 256 * 2**20))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _discard_c_level_output() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _preload(modules: list[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a chapter without checks yet, a broken import
            pass


def main(argv: list[str]) -> None:
    if os.environ.get(SETTINGS_FD_ENV):  # second stage, inside the sandbox
        settings, rest = _read_settings(argv)
    else:
        handle = open(argv[0])  # noqa: SIM115 - kept open across exec, then hidden
        settings, rest = json.load(handle), argv[1:]
        if settings.get("namespaces"):
            _mount_private_view(settings)
            _reexec_without_capabilities(handle, rest)
        handle.close()
    from autograder.grading import guard

    _limit_resources(settings)
    if not os.environ.get("AUTOGRADER_KERNEL_DEBUG"):
        _discard_c_level_output()
    guard.install_audit_hook(settings)
    _preload(settings.get("preload", []))

    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize([
        *rest,
        "--IPKernelApp.capture_fd_output=False",
    ])
    guard.cap_output(app.shell, int(settings.get("output_cap", 200_000)))
    guard.install_guard(settings)
    app.start()


if __name__ == "__main__":
    main(sys.argv[1:])
