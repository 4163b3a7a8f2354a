"""Worker side of the kernel launcher: start it, ask it for kernels, clean up after them.

nbclient starts kernels through a jupyter_client *provisioner*; ours asks the
slot's launcher (:mod:`autograder.grading.kernel_boot`) to fork a kernel
instead of starting a new Python that imports TensorFlow again. The forked
kernel is not the worker's child, so :class:`ForkedKernel` gives nbclient a
``Popen``-like handle on it (poll, wait, signals).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from . import sandbox
from .kernel_boot import ZYGOTE_FD_ENV

START_TIMEOUT = 180.0  # TensorFlow's import on a busy 2-core machine
REPLY_TIMEOUT = 10.0


class LauncherError(RuntimeError):
    """The kernel launcher did not start or stopped answering."""


def kill_processes(processes: list[psutil.Process]) -> None:
    """SIGKILL each process (gone ones are skipped) and wait a little for them to end."""
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(processes, timeout=5)


def memory_of(processes: list[psutil.Process], measure: str) -> int:
    """Sum of ``measure`` (``"uss"``: own pages, ``"pss"``: shared pages split) in bytes.

    Falls back to RSS for a process whose memory map is hidden (the launcher is not dumpable).
    """
    total = 0
    for process in processes:
        try:
            total += getattr(process.memory_full_info(), measure)
        except psutil.AccessDenied:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


class Launcher:
    """One slot's kernel launcher, restarted when its settings change or it stops answering."""

    def __init__(self) -> None:
        self.popen: subprocess.Popen | None = None
        self.channel: socket.socket | None = None
        self.settings_key = ""
        self.guard_key = ""
        self.kernel_imports: list[str] = []  # the chapter's checks, imported by each kernel
        self.launcher_pid = 0
        self._buffer = b""

    def ensure(self, slot: sandbox.Slot, settings: dict) -> float:
        """Keep or (re)start the launcher; return the seconds a start took (0 when kept)."""
        key = json.dumps(settings, sort_keys=True)
        if key == self.settings_key and self._answers():
            return 0.0
        started = time.monotonic()
        self.stop()
        self._start(slot, settings)
        self.settings_key = key
        return time.monotonic() - started

    def _start(self, slot: sandbox.Slot, settings: dict) -> None:
        settings_path = slot.private / "launcher.json"
        settings_path.write_text(json.dumps(settings))
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-m", "autograder.grading.kernel_boot", str(settings_path)]
        if settings["namespaces"]:
            argv = ["unshare", "-Urnmp", "--kill-child", "--", *argv]
        env = {**sandbox.tool_env(), **sandbox.kernel_env(slot), ZYGOTE_FD_ENV: str(theirs.fileno())}
        with open(slot.private / "launcher.log", "ab") as log:
            self.popen = subprocess.Popen(
                argv, pass_fds=(theirs.fileno(),), env=env, cwd=slot.kernel,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        theirs.close()
        self.channel, self._buffer = ours, b""
        try:
            self.launcher_pid = int(self._ask({"ping": True}, START_TIMEOUT)["pid"])
        except LauncherError as error:
            tail = (slot.private / "launcher.log").read_text(errors="replace")[-500:]
            self.stop()
            raise LauncherError(f"{error}; launcher log: {tail}") from None

    def _ask(self, request: dict, timeout: float) -> dict:
        if self.channel is None:
            raise LauncherError("the kernel launcher is not running")
        try:
            self.channel.sendall(json.dumps(request).encode() + b"\n")
            deadline = time.monotonic() + timeout
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([self.channel], [], [], remaining)[0]:
                    raise LauncherError(f"no answer from the kernel launcher in {timeout:.0f} s")
                chunk = self.channel.recv(65536)
                if not chunk:
                    raise LauncherError("the kernel launcher exited")
                self._buffer += chunk
        except OSError as error:
            raise LauncherError(f"the kernel launcher is gone ({error})") from None
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _answers(self) -> bool:
        if self.popen is None or self.popen.poll() is not None:
            return False
        try:
            return bool(self._ask({"ping": True}, REPLY_TIMEOUT).get("pong"))
        except LauncherError:
            return False

    def fork(self, connection_file: str, cwd: str) -> int:
        request = {"connection_file": connection_file, "cwd": cwd, "guard_key": self.guard_key,
                   "imports": self.kernel_imports}
        pid = int(self._ask(request, REPLY_TIMEOUT)["pid"])
        if pid <= 0:
            raise LauncherError("the kernel launcher could not fork a kernel")
        return pid

    def kernel_processes(self) -> list[psutil.Process]:
        """The kernels and whatever they started (the launcher adopts orphans)."""
        if self.popen is None:
            return []
        try:
            return psutil.Process(self.launcher_pid).children(recursive=True)
        except psutil.Error:
            return []

    def kill_kernels(self) -> None:
        kill_processes(self.kernel_processes())

    def stop(self) -> None:
        self.kill_kernels()
        if self.channel is not None:
            self.channel.close()  # the launcher exits at the end of its input
            self.channel = None
        if self.popen is not None and self.popen.poll() is None:
            try:
                self.popen.wait(timeout=2)
            except subprocess.TimeoutExpired:
                kill_processes([psutil.Process(self.popen.pid)])
                self.popen.wait()
        self.popen = None
        self.settings_key = ""


ACTIVE = Launcher()  # one per worker process (a worker grades one submission at a time)


class ForkedKernel:
    """A ``Popen``-like handle on a kernel forked by the launcher (not our child)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._process: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._process = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                running = self._process is not None and self._process.is_running() and (
                    self._process.status() != psutil.STATUS_ZOMBIE)
            except psutil.Error:
                running = False
            if not running:
                self.returncode = -1  # reaped by the launcher: the status is not ours to read
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkingProvisioner(LocalProvisioner):
    """Launch = ask the worker's launcher to fork; the rest is ``LocalProvisioner``'s."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        connection_file = cmd[cmd.index("-f") + 1]
        cwd = kwargs.get("cwd") or os.getcwd()
        self.process = ForkedKernel(ACTIVE.fork(connection_file, str(Path(cwd))))
        self.pid = self.pgid = self.process.pid  # the kernel leads its own session
        return self.connection_info


class ForkingKernelManager(AsyncKernelManager):
    """nbclient's kernel manager with :class:`ForkingProvisioner` as its provisioner."""

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
        if self.provisioner is None:
            self.provisioner = ForkingProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)
