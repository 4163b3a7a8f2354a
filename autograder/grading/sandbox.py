"""The folders of a grading worker's slot, and the settings of the kernels it forks.

The runner makes one folder per worker under a private temp folder (mode
0700); each worker keeps its kernel launcher (:mod:`autograder.grading.kernel_boot`)
for the whole cohort, so every path a kernel sees is fixed per slot::

    slot<i>/live/kernel/   the kernel's working folder: a copy of the student's folder
    slot<i>/live/home/ tmp/  HOME and TMPDIR of the kernel
    slot<i>/live/runtime/  connection file and ipc sockets (no network, not even loopback)
    slot<i>/private/       hidden from kernels: course/ (nbgrader's source, submitted,
                           autograded, feedback, gradebook.db), jupyter/ (kernelspec),
                           the launcher's settings, nbgrader's log

Kernels of slot ``i`` see neither ``private/`` nor the other slots, nor the
solutions, the workspace and the submissions folder. With namespaces they see only an
allow-list (:func:`visible_roots`, read-only) and write only to ``live/`` (the launcher
binds those folders onto themselves, so :meth:`Slot.clear` empties them in place).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cnnvision._quiet import QUIET_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
QUIET_KERNEL_ENV = {
    **QUIET_ENV,  # the variables that keep TensorFlow off stderr
    "PYTHONWARNINGS": "ignore",
    "MPLBACKEND": "Agg",
    "CNNVISION_BLOCK_NETWORK": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


def tool_env() -> dict:
    """The environment for nbgrader subprocesses: quiet TF, the venv's tools on PATH (alembic)."""
    bindir = os.path.dirname(sys.executable)
    return {**os.environ, **QUIET_KERNEL_ENV,
            "PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")}


@functools.cache
def namespaces_available() -> bool:
    """Whether unprivileged user, mount, network and pid namespaces work here (Linux), nested
    as the launcher uses them (a pid namespace per kernel, inside the launcher's)."""
    if not shutil.which("unshare") or not shutil.which("mount"):
        return False
    probe = ["unshare", "-Urnmp", "--kill-child", "--", "sh", "-c",
             "mount -t tmpfs none /mnt && unshare -U --map-user=65534 --map-group=65534 "
             "unshare -Up --fork true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False



@dataclass
class Slot:
    root: Path

    LIVE = ("kernel", "home", "tmp", "runtime")
    PRIVATE = ("course", "jupyter")

    def __getattr__(self, name: str) -> Path:
        if name in self.LIVE:
            return self.root / "live" / name
        if name in self.PRIVATE:
            return self.root / "private" / name
        if name in ("live", "private"):
            return self.root / name
        raise AttributeError(name)

    @classmethod
    def create(cls, root: Path) -> Slot:
        slot = cls(Path(root))
        for name in (*cls.LIVE, *cls.PRIVATE):
            getattr(slot, name).mkdir(parents=True, exist_ok=True)
        os.chmod(slot.root, 0o700)
        return slot

    def clear(self) -> None:
        """Empty the kernel's folders and the private course (one submission at a time).

        The folders themselves stay: the launcher's mount namespace binds the live ones onto
        themselves, and a new folder of the same name would not be the one its kernels see."""
        for name in (*self.LIVE, "course"):
            folder = getattr(self, name)
            folder.mkdir(parents=True, exist_ok=True)
            for entry in folder.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def make_slots(count: int) -> list[Slot]:
    """``count`` slot folders side by side in a fresh private temp folder."""
    base = Path(tempfile.mkdtemp(prefix="autograde-"))
    return [Slot.create(base / f"slot{index}") for index in range(count)]


def kernel_env(slot: Slot) -> dict:
    """The kernel's environment. ``CNNVISION_CACHE`` is the grader's own course cache (the
    course CNN, the converted ImageNet weights, from ``make models``): kernels read it, and the
    audit hook keeps them from writing to it. Without it every submission would train or
    convert them again in its empty HOME."""
    from cnnvision.cache import cache_dir

    return {**QUIET_KERNEL_ENV, "HOME": str(slot.home), "TMPDIR": str(slot.tmp),
            "MPLCONFIGDIR": str(slot.tmp / "mpl"), "CNNVISION_CACHE": str(cache_dir())}


SYSTEM_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
                "/proc", "/sys", "/dev")


def visible_roots(slot: Slot) -> list[str]:
    """What a kernel may see (read-only), besides its scratch folders: system folders, the
    Python installation and environment (every folder on ``sys.path``), the course package,
    the course cache."""
    from cnnvision.cache import cache_dir

    python = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.realpath(sys.executable))}
    paths = {p for p in sys.path if p and os.path.isdir(p)}
    return sorted({*SYSTEM_ROOTS, *python, *paths, str(REPO_ROOT), str(cache_dir())})


def launcher_settings(slot: Slot, hidden_roots: list[str], preload: list[str], output_cap: int,
                      use_namespaces: bool) -> dict:
    """What the slot's kernel launcher enforces (the same for every submission it grades)."""
    others = sorted(str(p) for p in slot.root.parent.iterdir() if p != slot.root)
    scratch = [str(slot.kernel), str(slot.home), str(slot.tmp)]
    return {
        "namespaces": use_namespaces,
        "allowed_write_roots": scratch,  # the audit hook: where Python code may write
        "hidden_roots": [*hidden_roots, *others, str(slot.private)],
        # mounts: the runtime folder also holds the kernel's sockets (ZeroMQ ipc); everything
        # else, the repository included, is read-only
        "writable_roots": [*scratch, str(slot.runtime)],
        "visible_roots": visible_roots(slot) if use_namespaces else [],
        "preload": preload,
        "block_programs": not use_namespaces,
        "output_cap": output_cap,
    }


def write_kernelspec(slot: Slot) -> dict:
    """The kernelspec nbclient looks up; returns the worker's environment for nbgrader."""
    spec_dir = slot.jupyter / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": ["forked-by-autograder", "-f", "{connection_file}"],
            "display_name": "Python 3 (grading)", "language": "python",
            "interrupt_mode": "signal"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return {"JUPYTER_PATH": str(slot.jupyter), "JUPYTER_RUNTIME_DIR": str(slot.runtime)}
