"""What every benchmark says about its machine (imported by the scripts in this folder)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model(default: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo; else ``default``, else the platform's processor."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default if default is not None else (platform.processor() or platform.machine())
