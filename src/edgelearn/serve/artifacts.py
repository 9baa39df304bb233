"""The files behind a registry version: checked, hashed, and kept under the edgelearn home.

A training job publishes ``<home>/artifacts/<job_id>/`` with ``adapter.gguf`` and/or
``merged.gguf`` and ``report.json``; the registry records their paths and digests. A directory
from elsewhere (an adapter trained on another machine) is copied under ``<home>/artifacts/``
first, atomically, so the registry never points at files a user may move or delete.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from edgelearn.errors import InvalidInput
from edgelearn.serve.base import default_base_gguf, sha256_file


@dataclass(frozen=True)
class Artifacts:
    """A checked artifacts directory, ready to be registered."""

    dir: Path
    base: Path
    base_sha256: str
    adapter: Path | None
    adapter_sha256: str | None
    merged: Path | None
    merged_sha256: str | None
    report: dict[str, Any]
    copied: bool  # made by ``collect``: ``discard`` removes it when registration fails


def _is_gguf(path: Path, field: str) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise InvalidInput(f"{field}: {path} is not a GGUF file (bad magic)", field=field)
    return True


def _base_from_report(report: dict[str, Any]) -> Path | None:
    for key in ("base_gguf", "base_model"):
        value = report.get(key)
        if isinstance(value, str) and value.endswith(".gguf") and Path(value).is_file():
            return Path(value)
    return None


def collect(artifacts_dir: Path | str, *, home: Path, base_path: Path | str | None = None) -> Artifacts:
    """Check ``artifacts_dir`` and hash its files, copying it under ``<home>/artifacts`` when outside.

    The base is ``base_path``, else what report.json names (``base_gguf`` or ``base_model``, a .gguf
    file), else the bundled base. ``InvalidInput`` names what is wrong.
    """
    src = Path(artifacts_dir).expanduser().resolve()
    if not src.is_dir():
        raise InvalidInput(f"artifacts_dir: {src} is not a directory", field="artifacts_dir")
    report: dict[str, Any] = {}
    if (src / "report.json").is_file():
        try:
            report = orjson.loads((src / "report.json").read_bytes())
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"artifacts_dir: {src / 'report.json'} is not JSON ({exc})",
                               field="artifacts_dir") from exc
    has_adapter = _is_gguf(src / "adapter.gguf", "artifacts_dir")
    if not has_adapter and not _is_gguf(src / "merged.gguf", "artifacts_dir"):
        raise InvalidInput(f"artifacts_dir: {src} holds neither adapter.gguf nor merged.gguf", field="artifacts_dir")
    base = Path(base_path).expanduser() if base_path else (_base_from_report(report) or default_base_gguf())
    if not _is_gguf(base, "base_path"):
        raise InvalidInput(f"base_path: {base} is not a GGUF file", field="base_path")
    root = home.resolve() / "artifacts"
    copied = not src.is_relative_to(root)
    if copied:
        src = _copy_in(src, root)
    adapter, merged = src / "adapter.gguf", src / "merged.gguf"
    return Artifacts(
        dir=src, base=base.resolve(), base_sha256=sha256_file(base),
        adapter=adapter if adapter.is_file() else None,
        adapter_sha256=sha256_file(adapter) if adapter.is_file() else None,
        merged=merged if merged.is_file() else None,
        merged_sha256=sha256_file(merged) if merged.is_file() else None,
        report=report, copied=copied)


def _copy_in(src: Path, root: Path) -> Path:
    final = root / f"import-{uuid.uuid4().hex[:12]}"
    tmp = root / f".tmp-{final.name}"
    try:
        shutil.copytree(src, tmp)
        os.replace(tmp, final)  # atomic publish: no half-copied directory under a final name
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def discard(artifacts: Artifacts) -> None:
    """Remove the copy ``collect`` made (registration failed); the caller's own files stay."""
    if artifacts.copied:
        shutil.rmtree(artifacts.dir, ignore_errors=True)
