"""The kernel launcher (zygote): sandbox once, import once, then fork one kernel per submission.

Each grading worker starts one launcher and keeps it for the whole run (all its chapters)::

    [unshare -Urnmp --kill-child --] python -m autograder.grading.kernel_boot SETTINGS

1. Reads its settings (JSON) and, inside fresh user/mount/network/pid namespaces,
   hides the solutions, the gradebook, other students' work and the other
   workers' folders behind empty tmpfs mounts and makes the repository
   read-only; then re-executes itself in a nested user namespace that holds
   no capability over those mounts.
2. Imports what the kernels need (the course library, numpy, TensorFlow on
   Linux, ipykernel): the 5-10 s a fresh kernel spends importing TensorFlow is
   paid once per worker, not once per submission nor once per chapter.
3. Serves fork requests on the socket it inherited (fd ``AUTOGRADER_ZYGOTE_FD``):
   one JSON line ``{"connection_file", "guard_key", "cwd", "imports"}`` -> ``{"pid"}``
   (pids as the worker sees them). The launcher cannot be ptraced by its
   kernels (not dumpable) and adopts whatever they leave behind (child
   subreaper), so the worker can kill it. With namespaces it is the init of
   its pid namespace: kernels cannot signal it, and when it ends every
   process a submission started ends with it.

In the forked child, before any student code: with namespaces, its own user and pid
namespaces under a minimal init (when the kernel dies, everything it started dies with it), its
own session, the chapter's
checks (``imports``, a fraction of a second once TensorFlow is loaded), the audit hook
(cannot be removed from Python: no network but loopback, no writes outside
the submission's folders, no reads of hidden folders, no new programs without
namespaces), the guard's snapshot of the checking machinery
(:mod:`autograder.grading.guard`), C-level output discarded, Python output
capped per cell; then an ordinary IPython kernel.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys

SETTINGS_FD_ENV = "AUTOGRADER_SETTINGS_FD"
NOBODY = 65534
CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000
ZYGOTE_FD_ENV = "AUTOGRADER_ZYGOTE_FD"
PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE = 36, 4


def _read_settings() -> dict:
    fd_text = os.environ.pop(SETTINGS_FD_ENV)
    with os.fdopen(int(fd_text), "r") as handle:
        return json.load(handle)


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND = 1, 2, 4, 8, 4096
KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")


def _mount_call(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    """mount(2) itself: the launcher may hide a few hundred entries (a busy /tmp)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    def encode(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def _hide(path: str) -> None:
    """An empty, read-only, unreadable folder over a folder; /dev/null over a file."""
    if os.path.isdir(path):
        _mount_call("none", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000")
    else:
        _mount_call("/dev/null", path, None, MS_BIND, None)


def _ancestors(path: str) -> list[str]:
    found = []
    while path != "/":
        path = os.path.dirname(path)
        found.append(path)
    return found


def _show_only(keep: list[str]) -> list[str]:
    """Hide every entry of the file system that is neither inside a kept folder nor on the way
    to one (an allow-list): walking down from / to each kept folder, every sibling met is
    hidden. Links are left alone: what they point to is either kept or hidden itself."""
    keep = sorted({os.path.realpath(path) for path in keep if os.path.exists(path)})

    def needed(path: str) -> bool:
        return any(k == path or k.startswith(path + "/") or path.startswith(k + "/") for k in keep)

    hidden = []
    for folder in sorted({a for k in keep for a in _ancestors(k)}):
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_symlink() or needed(entry.path):
                    continue
                if entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
                    _hide(entry.path)
                    hidden.append(entry.path)
    return hidden


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4].replace("\\040", " ") for line in handle]


def _mount_private_view(settings: dict) -> None:
    """Inside ``unshare -Urnm``: the kernels see only what they need, and write only to their
    scratch folders.

    * Allow-list: only the ``visible_roots`` (system folders, the Python environment, the
      course package, the course cache) and the ``writable_roots`` (the slot's scratch
      folders) stay; every other entry on the way to them is covered by an empty, unreadable
      tmpfs (another checkout, other temporary folders, the home folder...), and the
      ``hidden_roots`` inside what stays (solutions, the workspace, the submissions, the other
      slots) too.
    * Read-only: every mount but the scratch folders (bound onto themselves first) and the
      kernel's file systems (/proc, /sys, /dev) is remounted read-only, so no route (a shell,
      ``os.open`` with ``dir_fd``) writes anywhere else; /dev/shm gets an empty read-only tmpfs.
    """

    writable = [os.path.realpath(p) for p in settings.get("writable_roots", [])]
    for path in writable:  # before anything mounts inside them
        _mount_call(path, path, None, MS_BIND, None)
    hidden = _show_only([*settings["visible_roots"], *writable]) if settings.get("visible_roots") else []
    for path in settings["hidden_roots"]:
        if os.path.isdir(path):
            _hide(path)
            hidden.append(path)
    if os.path.isdir("/dev/shm"):
        _mount_call("none", "/dev/shm", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k")
    for point in dict.fromkeys(_mount_points()):
        if point in writable or point in hidden or point.startswith(KERNEL_FILESYSTEMS):
            continue
        if os.path.exists(point):  # mount(8) keeps the flags a user namespace may not drop
            subprocess.run(["mount", "-o", "remount,bind,ro", point], capture_output=True)


def _reexec_without_capabilities(handle) -> None:
    """Continue in a nested user namespace: no capability over the mounts above."""
    handle.seek(0)
    os.set_inheritable(handle.fileno(), True)
    env = dict(os.environ, **{SETTINGS_FD_ENV: str(handle.fileno())})
    # Mapped to an ordinary user (not root): exec leaves it no capability, yet each kernel can
    # still open its own user and pid namespaces (an unmapped user could not).
    argv = ["unshare", "-U", f"--map-user={NOBODY}", f"--map-group={NOBODY}", "--",
            sys.executable, "-m", "autograder.grading.kernel_boot"]
    os.execvpe("unshare", argv, env)


def _prctl(option: int, value: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def global_pid() -> int:
    """This process's pid as the worker sees it (``/proc`` is the host's, not the namespace's)."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return os.getpid()


def _preload(modules: list[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a chapter without checks yet, a broken import
            pass


# ------------------------------------------------------------------ the kernel
def _limit_resources(settings: dict) -> None:
    limit = int(settings.get("file_size_limit", 256 * 2**20))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _discard_c_level_output() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def run_kernel(settings: dict, connection_file: str) -> None:
    """Sandbox this process (audit hook, guard, output cap) and run an IPython kernel."""
    from autograder.grading import agent, guard

    _limit_resources(settings)
    if not os.environ.get("AUTOGRADER_KERNEL_DEBUG"):
        _discard_c_level_output()
    guard.install_audit_hook(settings)

    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["-f", connection_file, "--IPKernelApp.capture_fd_output=False"])
    guard.cap_output(app.shell, int(settings.get("output_cap", 200_000)))
    guard.install_guard(settings)
    agent.install()
    app.start()


class PidNamespaceError(OSError):
    """The kernel could not get a pid namespace of its own."""


def _own_pid_namespace(report: int) -> None:
    """Move into a new pid namespace (inside a new user namespace, which allows it) under a
    minimal init; only the kernel-to-be returns, as that init's child.

    When the kernel dies, its init leaves, and the system then kills every process left in
    the namespace at once: nothing a submission starts (a daemon that forks itself again and
    again included) can outlive its kernel and see the next submission of the slot, and no
    snapshot of the process list can be outrun. The kernel itself keeps the ordinary signal
    rules of a process (an init ignores the signals it has no handler for). The first child
    leaves at once: the launcher, a subreaper, adopts the init.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0:
        raise PidNamespaceError(ctypes.get_errno(), "unshare(CLONE_NEWUSER | CLONE_NEWPID) failed")
    if os.fork() != 0:
        os._exit(0)
    kernel = os.fork()  # we are the init (pid 1) of the new namespace
    if kernel == 0:
        return
    _init(kernel, report)


def _init(kernel: int, report: int) -> None:
    """Reap whatever ends in the namespace; leave when the kernel ends (never returns)."""
    os.close(report)  # the kernel reports its pid; the launcher reads until every writer closed
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _prctl(PR_SET_DUMPABLE, 0)
    while True:
        try:
            pid, _status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == kernel:
            os._exit(0)


def _kernel_child(settings: dict, request: dict, channel: socket.socket, report: int) -> None:
    """In the forked child: never returns (the kernel's exit ends the process)."""
    status = 1
    try:
        if settings.get("namespaces"):
            _own_pid_namespace(report)
        os.write(report, str(global_pid()).encode())
        os.close(report)
        channel.close()
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _prctl(PR_SET_DUMPABLE, 1)  # the worker reads its memory use from /proc
        os.chdir(request["cwd"])
        _preload(request.get("imports", []))  # before the guard's snapshot, which covers them
        run_kernel({**settings, "guard_key": request["guard_key"]}, request["connection_file"])
        status = 0
    finally:
        os._exit(status)


def serve(settings: dict, channel: socket.socket) -> None:
    """Answer fork requests until the worker closes the socket."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_DUMPABLE, 0)
    pong = json.dumps({"pong": True, "pid": global_pid()}).encode() + b"\n"
    for line in channel.makefile("r"):
        request = json.loads(line)
        if request.get("ping"):
            channel.sendall(pong)
            continue
        report_read, report_write = os.pipe()
        if os.fork() == 0:
            os.close(report_read)
            _kernel_child(settings, request, channel, report_write)
        os.close(report_write)
        with os.fdopen(report_read, "rb") as report:
            pid = int(report.read() or 0)
        channel.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def main(argv: list[str]) -> None:
    if os.environ.get(SETTINGS_FD_ENV):  # second stage, inside the sandbox
        settings = _read_settings()
    else:
        handle = open(argv[0])  # noqa: SIM115 - kept open across exec, then hidden
        settings = json.load(handle)
        if settings.get("namespaces"):
            _mount_private_view(settings)
            _reexec_without_capabilities(handle)
        handle.close()
    channel = socket.socket(fileno=int(os.environ.pop(ZYGOTE_FD_ENV)))
    _preload(settings.get("preload", []))
    serve(settings, channel)
    os._exit(0)  # nothing to save: tearing TensorFlow down would only keep the worker waiting


if __name__ == "__main__":
    main(sys.argv[1:])
