"""The scratch folders of one submission, and the kernel that runs its code.

Layout of a scratch folder (mode 0700, under the system temp dir)::

    course/    nbgrader course: source/, submitted/, autograded/, feedback/, gradebook.db
    kernel/    the kernel's working folder: a copy of the student's folder, nothing else
    home/ tmp/ HOME and TMPDIR of the kernel
    runtime/   connection file and ipc sockets (the kernel has no network, not even loopback)
    jupyter/   the kernelspec that starts :mod:`autograder.grading.kernel_boot`
    private/   kernel settings (hidden from the kernel once it has read them)
"""

from __future__ import annotations

import functools
import json
import os
import secrets
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
    """Whether unprivileged user + mount + network namespaces work here (Linux)."""
    if not shutil.which("unshare") or not shutil.which("mount"):
        return False
    probe = ["unshare", "-Urnm", "--", "sh", "-c", "mount -t tmpfs none /mnt && unshare -U true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@dataclass
class Scratch:
    root: Path

    def __getattr__(self, name: str) -> Path:
        if name in ("course", "kernel", "home", "tmp", "runtime", "jupyter", "private"):
            return self.root / name
        raise AttributeError(name)

    @classmethod
    def create(cls) -> Scratch:
        root = Path(tempfile.mkdtemp(prefix="autograde-"))
        os.chmod(root, 0o700)
        scratch = cls(root)
        for name in ("course", "kernel", "home", "tmp", "runtime", "jupyter", "private"):
            (root / name).mkdir()
        return scratch

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def prepare_kernel(
    scratch: Scratch, hidden_roots: list[Path], preload: list[str], output_cap: int,
    use_namespaces: bool,
) -> dict:
    """Write the kernel's settings and kernelspec; return the environment for the worker.

    Returns the environment variables the worker must set before nbgrader starts
    the kernel, plus ``guard_key`` (the HMAC key shared with the kernel's guard).
    """
    settings = {
        "namespaces": use_namespaces,
        "allowed_write_roots": [str(scratch.kernel), str(scratch.home), str(scratch.tmp)],
        "hidden_roots": [str(p) for p in [*hidden_roots, scratch.course, scratch.private]],
        "readonly_roots": [str(REPO_ROOT)] if use_namespaces else [],
        "preload": preload,
        "block_programs": not use_namespaces,
        "output_cap": output_cap,
        "guard_key": secrets.token_hex(32),
    }
    settings_path = scratch.private / "settings.json"
    settings_path.write_text(json.dumps(settings))
    argv = [sys.executable, "-m", "autograder.grading.kernel_boot", str(settings_path),
            "-f", "{connection_file}"]
    if use_namespaces:
        argv = ["unshare", "-Urnm", "--", *argv]
    spec_dir = scratch.jupyter / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {"argv": argv, "display_name": "Python 3 (grading)", "language": "python",
            "env": {**QUIET_KERNEL_ENV, "HOME": str(scratch.home), "TMPDIR": str(scratch.tmp),
                    "MPLCONFIGDIR": str(scratch.tmp / "mpl")}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return {
        "env": {"JUPYTER_PATH": str(scratch.jupyter), "JUPYTER_RUNTIME_DIR": str(scratch.runtime)},
        "guard_key": settings["guard_key"],
        "ipc_prefix": str(scratch.runtime / "kernel"),
    }
