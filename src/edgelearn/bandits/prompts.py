"""Prompt variants on disk: ``<dir>/<role>/<variant>.md`` with optional front matter.

    ---
    id: coder-stepwise
    notes: plans before it writes code
    enabled: true
    ---
    You are ...

``id`` defaults to the file name without ``.md``. The package ships canonical variants in
``edgelearn/data/prompts``; the user's directory (``bandit.prompts_dir``, or ``prompts/``
next to the config file) adds variants and overrides shipped ones with the same role and id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edgelearn.errors import ConfigError
from edgelearn.roles import ROLE_PATTERN

VARIANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_KEYS = ("id", "notes", "enabled")
_ROLE = re.compile(ROLE_PATTERN)
_VARIANT = re.compile(VARIANT_PATTERN)


@dataclass(frozen=True)
class PromptFile:
    role: str
    variant: str
    text: str
    notes: str | None
    enabled: bool | None
    path: Path


def packaged_dir() -> Path:
    """The prompt variants shipped inside the package."""
    return Path(__file__).resolve().parent.parent / "data" / "prompts"


def user_dir(settings, config_file: Path | None) -> Path | None:
    """The user's prompt directory: ``bandit.prompts_dir``, else ``prompts/`` beside the config file."""
    if settings.bandit.prompts_dir:
        return Path(settings.bandit.prompts_dir).expanduser()
    return config_file.parent / "prompts" if config_file is not None else None


def prompt_dirs(settings, config_file: Path | None) -> list[Path]:
    """Directories to read, later ones overriding earlier ones."""
    user = user_dir(settings, config_file)
    return [packaged_dir()] + ([user] if user is not None else [])


def parse_prompt(raw: str, path: Path, role: str) -> PromptFile:
    """One prompt file's content; raises ``ConfigError`` naming the file and what is wrong."""
    meta: dict[str, str] = {}
    body = raw
    if raw.startswith("---"):
        head, sep, rest = raw[3:].partition("\n---")
        if not sep:
            raise ConfigError(f"{path}: front matter opened with --- but never closed", path=path)
        body = rest.split("\n", 1)[1] if "\n" in rest else ""
        for lineno, line in enumerate(head.strip("\n").splitlines(), start=2):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, colon, value = line.partition(":")
            key = key.strip()
            if not colon or key not in _KEYS:
                raise ConfigError(f"{path}:{lineno}: expected one of {', '.join(_KEYS)} as 'key: value', "
                                  f"got {line.strip()!r}", path=path)
            meta[key] = value.strip().strip("\"'")
    variant = meta.get("id") or path.stem
    if not _VARIANT.match(variant):
        raise ConfigError(f"{path}: id {variant!r} must match {VARIANT_PATTERN}", path=path)
    text = body.strip()
    if not text:
        raise ConfigError(f"{path}: the prompt text is empty", path=path)
    enabled = None
    if "enabled" in meta:
        if meta["enabled"].lower() not in ("true", "false"):
            raise ConfigError(f"{path}: enabled must be true or false, got {meta['enabled']!r}", path=path)
        enabled = meta["enabled"].lower() == "true"
    return PromptFile(role, variant, text, meta.get("notes") or None, enabled, path)


def load_prompts(dirs: list[Path]) -> tuple[dict[tuple[str, str], PromptFile], list[ConfigError]]:
    """Every prompt variant under ``dirs`` by (role, variant), and the files that could not be read."""
    found: dict[tuple[str, str], PromptFile] = {}
    errors: list[ConfigError] = []
    for root in dirs:
        if not root.is_dir():
            continue
        for role_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if not _ROLE.match(role_dir.name):
                errors.append(ConfigError(f"{role_dir}: not a valid role name", path=role_dir))
                continue
            seen: dict[str, Path] = {}
            for path in sorted(role_dir.glob("*.md")):
                try:
                    prompt = parse_prompt(path.read_text(encoding="utf-8"), path, role_dir.name)
                except UnicodeDecodeError as exc:
                    errors.append(ConfigError(f"{path}: not UTF-8 text ({exc})", path=path))
                    continue
                except ConfigError as exc:
                    errors.append(exc)
                    continue
                if prompt.variant in seen:
                    errors.append(ConfigError(f"{path}: id {prompt.variant!r} is also used by {seen[prompt.variant]}",
                                              path=path))
                    continue
                seen[prompt.variant] = path
                found[(prompt.role, prompt.variant)] = prompt
    return found, errors
