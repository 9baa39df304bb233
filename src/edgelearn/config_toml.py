"""The user's TOML file, edited with tomlkit so that their comments, order and layout stay.

``set_config_value`` writes one key (the TUI's and the API's toggles), ``write_settings`` every
value of a ``Settings``; both replace the file atomically and never write a value the settings
would refuse. ``render_default_toml`` is the documented default file, ``config/edgelearn.toml``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import BaseModel, ValidationError
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from edgelearn.config import Settings, describe_errors
from edgelearn.config_providers import EXAMPLE_TOML
from edgelearn.errors import ConfigError


def _read(path: Path) -> TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (tomlkit.exceptions.ParseError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", path=path) from exc


def _replace(path: Path, doc: TOMLDocument) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _table(parent: Any, name: str) -> Table:
    """``parent[name]`` as a table, created (as ``[a.b]``, not inline) when missing."""
    if name not in parent:
        parent[name] = tomlkit.table()
    return parent[name]


def _section_model(dotted_key: str) -> type[BaseModel]:
    """The model holding ``dotted_key``'s last part; ``ConfigError`` when there is no such setting."""
    parts = dotted_key.split(".")
    model: Any = Settings
    for part in parts[:-1]:
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            raise ConfigError(f"{dotted_key}: no such setting", path=None)
        model = field.annotation
    field = model.model_fields.get(parts[-1])
    if field is None or (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
        raise ConfigError(f"{dotted_key}: no such setting", path=None)
    return model


def set_config_value(path: Path, dotted_key: str, value: Any) -> None:
    """Write one key (``section.key``) into the user's TOML file, creating it, keeping every other line.

    Used by the TUI's and the API's toggles; the watcher then reloads the file like any edit.
    Raises ``ConfigError`` naming the key for an unknown key or a value it would refuse.
    """
    if "." not in dotted_key:
        raise ConfigError(f"{dotted_key}: expected section.key", path=path)
    try:
        _section_model(dotted_key)
    except ConfigError as exc:
        raise ConfigError(str(exc), path=path) from None
    *sections, key = dotted_key.split(".")
    probe: dict[str, Any] = {key: value}
    for name in reversed(sections):
        probe = {name: probe}
    try:
        Settings.model_validate(probe)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_errors(exc)}", path=path) from exc
    doc = _read(path)
    node: Any = doc
    for name in sections:
        node = _table(node, name)
    node[key] = value
    _replace(path, doc)


def write_settings(settings: Settings, path: Path) -> None:
    """Write every value of ``settings`` to ``path`` (atomically), e.g. for the demo's home.

    An existing file keeps its comments and layout; its values are replaced, unset optional
    values removed.
    """
    doc = _read(path)

    def emit(model: BaseModel, table: Any) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                emit(value, _table(table, name))
            elif value is None:
                table.pop(name, None)
            elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
                named = _table(table, name)  # e.g. a provider's prices: one table per model
                for key, entry in value.items():
                    emit(entry, _table(named, key))
            else:
                table[name] = value

    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            emit(value, _table(doc, name))
        elif value:  # providers, roles: one table per named entry
            named = _table(doc, name)
            for key, entry in value.items():
                emit(entry, _table(named, key))
    _replace(path, doc)


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):  # a table as a value: inline ({} when empty), not a [section]
        table = tomlkit.inline_table()
        table.update(value)
        return table.as_string()
    return tomlkit.item(value).as_string()


def render_default_toml() -> str:
    """The documented default config file: every section and key with its docstring as a comment."""
    lines = [
        "# edgelearn configuration: every key with its default.",
        "# Copy to the edgelearn home (edgelearn config path) and edit; the running process reloads it.",
        "# Environment variables override it: EDGELEARN_<SECTION>__<KEY>=value, e.g. EDGELEARN_TRAIN__AUTO_TRAIN=false;",
        "# values are read as TOML (true, 0.5, [\"a\"]), anything else as a plain string.",
        "# Regenerate this file with: edgelearn config defaults > config/edgelearn.toml",
    ]

    def emit(model: type[BaseModel], prefix: str) -> None:
        nested = []
        lines.append("")
        lines.append(f"[{prefix}]")
        for name, field in model.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                nested.append((name, type(default), field.description))
                continue
            lines.extend(f"# {line.strip()}" for line in (field.description or "").splitlines() or [""])
            if default is None:
                lines.append(f"# {name} =   (unset)")
            else:
                lines.append(f"{name} = {_toml_value(default)}")
        for name, sub, doc in nested:
            if doc:
                lines.append("")
                lines.append(f"# {doc}")
            emit(sub, f"{prefix}.{name}")

    for name, field in Settings.model_fields.items():
        if not isinstance(field.get_default(), BaseModel):  # providers, roles: named entries, as examples
            lines.extend(["", EXAMPLE_TOML[name]])
            continue
        lines.append("")
        lines.append(f"# ---- {name}: {field.description}")
        emit(field.annotation, name)
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
