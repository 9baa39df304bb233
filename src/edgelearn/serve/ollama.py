"""Registering registry versions with an Ollama server through the official ``ollama`` client.

Routes (FACTS.md, Ollama section):

- merged (every version): upload ``merged.gguf`` as a blob (``HEAD`` then ``POST
  /api/blobs/sha256:<hex>``) and ``create`` with ``files``, the ChatML ``template``, ``system`` and
  ``parameters.stop`` rendered from the GGUF's own chat template (serve/templates.py);
- adapter (only when ``deploy.ollama_adapter_route`` is on and ``/api/version`` is at most 0.33,
  since 0.34.1 refuses new adapters): the base is created once as ``edgelearn-base-<sha12>`` and the
  version as ``from`` that base plus ``adapters``.

Every streamed ``create`` line is read; an ``{"error": ...}`` line (the client raises
``ResponseError``) becomes ``BackendError``, an unreachable server ``BackendUnavailable``. The result
is confirmed with ``show``. The same model is also written as a Modelfile under
``<home>/modelfiles/`` for users who prefer ``ollama create -f``.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any, Iterator

import httpx

from edgelearn.errors import BackendError, BackendUnavailable
from edgelearn.serve.base import sha256_file
from edgelearn.serve.templates import OllamaTemplate, modelfile_text, template_for_gguf, validate_ollama_name

LAST_ADAPTER_VERSION = (0, 33)  # Ollama 0.34.1 stopped creating adapter models


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.33.2-rc1"`` → ``(0, 33, 2)``; ``BackendError`` when there is no number at all."""
    numbers = re.findall(r"\d+", text.split("-", 1)[0])
    if not numbers:
        raise BackendError(f"Ollama reported an unreadable version {text!r}")
    return tuple(int(n) for n in numbers[:3])


def adapters_supported(version: tuple[int, ...]) -> bool:
    """Whether a server of this version still creates adapter models (0.33.x and older)."""
    return version[:2] <= LAST_ADAPTER_VERSION


def probe(url: str, timeout: float = 2.0) -> dict[str, Any]:
    """Whether Ollama answers at ``url``: ``{"url", "reachable", "version", "adapters", "error"}``.

    Never raises; ``edgelearn doctor`` shows the result as is.
    """
    try:
        response = httpx.get(url.rstrip("/") + "/api/version", timeout=timeout)
        response.raise_for_status()
        version = str(response.json().get("version", ""))
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return {"url": url, "reachable": False, "version": None, "adapters": None,
                "error": f"{type(exc).__name__}: {exc}"}
    try:
        adapters = adapters_supported(parse_version(version))
    except BackendError:
        adapters = None
    return {"url": url, "reachable": True, "version": version, "adapters": adapters, "error": None}


class Registrar:
    """Creates and deletes edgelearn's models on one Ollama server."""

    def __init__(self, url: str, home: Path, *, adapter_route: bool = False, timeout: float = 600.0) -> None:
        import ollama

        self.url = url.rstrip("/")
        self.home = Path(home)
        self.adapter_route = adapter_route
        self._http = httpx.Client(base_url=self.url, timeout=timeout)
        self.client = ollama.Client(host=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()
        self.client._client.close()

    @contextlib.contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        import ollama

        try:
            yield
        except ollama.ResponseError as exc:
            status = f" (HTTP {exc.status_code})" if exc.status_code > 0 else ""
            raise BackendError(f"Ollama at {self.url} refused {what}{status}: {exc.error}") from exc
        except (ConnectionError, httpx.TransportError) as exc:
            raise BackendUnavailable(f"Ollama at {self.url} is not reachable ({what}): {exc}") from exc
        except httpx.HTTPStatusError as exc:
            raise BackendError(f"Ollama at {self.url} refused {what} (HTTP {exc.response.status_code}): "
                               f"{exc.response.text[:300]}") from exc

    def version(self) -> tuple[int, ...]:
        with self._translate("GET /api/version"):
            response = self._http.get("/api/version")
            response.raise_for_status()
        return parse_version(str(response.json().get("version", "")))

    def upload(self, path: Path, expected_sha256: str | None = None) -> str:
        """The blob digest of ``path`` on the server, uploading it unless the server has it."""
        digest = "sha256:" + sha256_file(path)
        if expected_sha256 and digest != f"sha256:{expected_sha256}":
            raise BackendError(f"{path} changed since it was registered (sha256 differs); register it again")
        with self._translate(f"HEAD /api/blobs/{digest}"):
            head = self._http.head(f"/api/blobs/{digest}")
        if head.status_code == 200:
            return digest
        with self._translate(f"uploading {path.name}"):
            uploaded = self.client.create_blob(path)
        if uploaded != digest:
            raise BackendError(f"{path} changed while uploading (digest {uploaded}, expected {digest})")
        return digest

    def _create(self, name: str, **fields: Any) -> list[str]:
        statuses: list[str] = []
        with self._translate(f"creating {name}"):
            for progress in self.client.create(model=name, stream=True, **fields):
                statuses.append(progress.status or "")
        if not statuses or statuses[-1] != "success":
            raise BackendError(f"Ollama at {self.url} ended creating {name} without success: {statuses[-3:]}")
        return statuses

    def exists(self, name: str) -> bool:
        import ollama

        try:
            with self._translate(f"showing {name}"):
                self.client.show(name)
        except BackendError as exc:
            if isinstance(exc.__cause__, ollama.ResponseError) and exc.__cause__.status_code == 404:
                return False
            raise
        return True

    def register(self, version, name: str) -> dict[str, Any]:
        """Create ``name`` from a registry version; returns what was done (for the event log).

        The Modelfile is written before the server is contacted, so it exists even while Ollama is down.
        """
        validate_ollama_name(name)
        server_version: tuple[int, ...] | None = None
        use_adapter = bool(self.adapter_route and version.adapter_path)
        if use_adapter:
            server_version = self.version()
            use_adapter = adapters_supported(server_version)
        if not use_adapter and not version.merged_path:
            raise BackendError(f"{version.id} has no merged GGUF; Ollama since 0.34.1 only takes merged models")
        source = Path(version.base_path if use_adapter else version.merged_path)
        template = template_for_gguf(source)
        modelfile = self.write_modelfile(version, name, template, use_adapter)
        if server_version is None:
            server_version = self.version()
        fields = {"template": template.template, "parameters": {"stop": template.stop}, "system": template.system}
        if use_adapter:
            base_name = self._ensure_base(version, template)
            digest = self.upload(Path(version.adapter_path), version.adapter_sha256)
            self._create(name, from_=base_name, adapters={"adapter.gguf": digest}, **fields)
        else:
            digest = self.upload(source, version.merged_sha256)
            self._create(name, files={"model.gguf": digest}, **fields)
        self._confirm(name, template)
        return {"route": "adapter" if use_adapter else "merged", "digest": digest, "modelfile": str(modelfile),
                "server_version": ".".join(map(str, server_version))}

    def _ensure_base(self, version, template: OllamaTemplate) -> str:
        base_name = validate_ollama_name(f"edgelearn-base-{version.base_sha256[:12]}")
        if not self.exists(base_name):
            digest = self.upload(Path(version.base_path), version.base_sha256)
            self._create(base_name, files={"model.gguf": digest}, template=template.template,
                         parameters={"stop": template.stop}, system=template.system)
        return base_name

    def _confirm(self, name: str, template: OllamaTemplate) -> None:
        with self._translate(f"showing {name}"):
            shown = self.client.show(name)
        if (shown.template or "").strip() != template.template.strip():
            raise BackendError(f"Ollama created {name} but shows a different template; the model would not "
                               "stop where it should")

    def delete(self, name: str) -> dict[str, Any]:
        """Remove ``name`` from the server; a model already gone counts as deleted."""
        import ollama

        validate_ollama_name(name)
        try:
            with self._translate(f"deleting {name}"):
                self.client.delete(name)
        except BackendError as exc:
            if not (isinstance(exc.__cause__, ollama.ResponseError) and exc.__cause__.status_code == 404):
                raise
            return {"already_gone": True}
        return {"already_gone": False}

    def write_modelfile(self, version, name: str, template: OllamaTemplate, adapter: bool) -> Path:
        """``<home>/modelfiles/<name>.Modelfile`` (written atomically)."""
        text = modelfile_text(name=name, model_id=version.id, template=template,
                              model_path=version.base_path if adapter else version.merged_path,
                              adapter_path=version.adapter_path if adapter else None)
        folder = self.home / "modelfiles"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.Modelfile"
        tmp = folder / f".{name}.Modelfile.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return path
