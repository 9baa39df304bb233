"""What this CPU lets native code run: used before llama.cpp loads a model, in every process."""

from __future__ import annotations

from pathlib import Path


def cpu_advertises_amx() -> bool:
    """Whether /proc/cpuinfo lists AMX tiles (Linux; False elsewhere)."""
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def avoid_amx() -> None:
    """Make every ``llama_cpp.Llama`` of this process load without ggml's extra CPU buffer types when the
    CPU advertises AMX: a VM that advertises AMX without enabling it kills the process with a general
    protection fault at the first AMX matmul (``ldtilecfg``), seen on this project's machines. Idempotent."""
    import llama_cpp.llama_cpp as lib

    if getattr(lib.llama_model_default_params, "edgelearn_no_extra_bufts", False) or not cpu_advertises_amx():
        return
    default = lib.llama_model_default_params

    def without_extra_bufts():
        params = default()
        params.use_extra_bufts = False
        return params

    without_extra_bufts.edgelearn_no_extra_bufts = True
    lib.llama_model_default_params = without_extra_bufts
