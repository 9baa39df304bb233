"""A small client for the running edgelearn, for the commands agents and git call (notify, post-commit)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from edgelearn.config import config_path, home_dir, load_settings
from edgelearn.errors import BackendUnavailable, InvalidInput
from edgelearn.security import token_path


def server_url(url: str | None = None) -> str:
    """``url``, else ``$EDGELEARN_URL``, else the configured loopback address."""
    if url or os.environ.get("EDGELEARN_URL"):
        return (url or os.environ["EDGELEARN_URL"]).rstrip("/")
    server = load_settings(config_path()).server
    return f"http://{server.host}:{server.port}"


def post(path: str, body: Any, *, url: str | None = None, home: Path | None = None, timeout: float = 30.0) -> Any:
    """POST JSON to the running edgelearn with the home's token; its JSON answer."""
    return _call("POST", path, url, home, timeout, json=body)


def get(path: str, params: dict[str, Any] | None = None, *, url: str | None = None, home: Path | None = None,
        timeout: float = 30.0) -> Any:
    """GET from the running edgelearn with the home's token; its JSON answer."""
    return _call("GET", path, url, home, timeout, params=params)


def _call(method: str, path: str, url: str | None, home: Path | None, timeout: float, **kw: Any) -> Any:
    token_file = token_path(home or home_dir())
    if not token_file.exists():
        raise BackendUnavailable(f"no token at {token_file}: is edgelearn running (edgelearn serve)?")
    base = server_url(url)
    try:
        r = httpx.request(method, base + path, timeout=timeout, **kw,
                          headers={"Authorization": f"Bearer {token_file.read_text(encoding='utf-8').strip()}"})
    except httpx.HTTPError as exc:
        raise BackendUnavailable(f"edgelearn at {base} is not reachable: {exc}") from exc
    if r.status_code >= 400:
        try:
            err = r.json()["error"]
            raise InvalidInput(f"{path}: {err['message']}", field=err.get("param"))
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(f"{path}: HTTP {r.status_code}: {r.text[:200]}") from None
    return r.json()
