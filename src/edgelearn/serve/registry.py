"""Registering a trained model: its files are checked, hashed and kept under the home, then recorded.

``artifacts.collect`` does the file work (copying a directory from elsewhere under
``<home>/artifacts`` first, so the registry never points at files a user may move or delete);
``store.models.add`` records the paths and digests as a ``candidate``. When recording fails, the
copy made for it is removed, so nothing half-registered stays behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgelearn.roles import check_role
from edgelearn.serve import artifacts
from edgelearn.store.models import ModelFiles


def register(store, role: str, artifacts_dir: Path | str, *, home: Path | None = None,
             base_path: Path | str | None = None, job_id: str | None = None, dataset_version: str | None = None,
             metrics: dict[str, Any] | None = None) -> str:
    """Register a training output as a ``candidate`` of ``role``; returns its id (``coder-v1``).

    ``artifacts_dir`` holds ``adapter.gguf`` and/or ``merged.gguf`` (and usually ``report.json``,
    whose ``base_gguf``/``base_model`` names the base when ``base_path`` is not given, and whose
    ``job_id``/``dataset_version`` are used when not given). ``home`` defaults to the edgelearn home.
    ``InvalidInput`` names what is wrong with the role or the files.
    """
    check_role(role)
    if home is None:
        from edgelearn.config import home_dir

        home = home_dir()
    found = artifacts.collect(artifacts_dir, home=home, base_path=base_path)
    files = ModelFiles(
        artifacts_dir=str(found.dir), base_path=str(found.base), base_sha256=found.base_sha256,
        adapter_path=str(found.adapter) if found.adapter else None, adapter_sha256=found.adapter_sha256,
        merged_path=str(found.merged) if found.merged else None, merged_sha256=found.merged_sha256)
    try:
        return store.models.add(role, files, job_id=job_id or found.report.get("job_id"),
                                dataset_version=dataset_version or found.report.get("dataset_version"),
                                metrics=metrics)
    except BaseException:
        artifacts.discard(found)
        raise


def version_view(store, version) -> dict[str, Any]:
    """A version with its Ollama sync status, as the API and ``edgelearn models --json`` show it."""
    task = store.models.sync_task(version.id)
    ollama = {"name": version.ollama_name, "pending": None}
    if task is not None:
        ollama["pending"] = {"action": task.action, "status": task.status, "attempts": task.attempts,
                             "next_at": task.next_at, "last_error": task.last_error}
    return {**version.to_dict(), "ollama": ollama}
