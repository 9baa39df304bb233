"""The bearer token kept in the edgelearn home, and the loopback Host check."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "localhost.localdomain"})


def token_path(home: Path) -> Path:
    return home / "token"


def load_or_create_token(home: Path) -> str:
    """The API token, created with mode 0600 on first start."""
    path = token_path(home)
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def host_allowed(host_header: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether a Host header names a loopback host (or a configured one); port ignored."""
    host = host_header.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name in LOOPBACK_HOSTS or name in extra:
        return True
    return name.startswith("127.") and name.replace(".", "").isdigit()
