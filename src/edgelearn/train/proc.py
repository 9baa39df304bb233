"""Is a job's process still the one we started? (pid plus a start marker, without psutil)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def process_start(pid: int) -> str | None:
    """A marker of when ``pid`` started (Linux: field 22 of /proc/<pid>/stat); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, start: str | None = None) -> bool:
    """True while ``pid`` runs (not a zombie) and, when ``start`` is known, is the same process."""
    if sys.platform.startswith("linux"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return False
        return start is None or fields[19] == start
    if sys.platform == "win32":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0 only checks (on POSIX; on Windows os.kill would terminate)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def is_job_process(pid: int, start: str | None, job_id: str) -> bool:
    """True only when ``pid`` is alive and is the training child of ``job_id``: before a signal is
    sent, a recycled pid must never be mistaken for the job (where /proc exists, its command
    line must name the job)."""
    if not process_alive(pid, start):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return False
        return b"edgelearn.train.child" in args and any(job_id.encode() in a for a in args)
    # no /proc (macOS, Windows): a process started by another runtime is known by pid alone
    return start is not None or not Path("/proc").is_dir()


def _windows_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
