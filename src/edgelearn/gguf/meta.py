"""Reading GGUF metadata: the base model's shape, and key-value fields as exact bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgelearn.errors import ExportError
from edgelearn.gguf.names import HParams


def open_reader(path: Path | str):
    """A ``gguf.GGUFReader`` over ``path``; ExportError when it is missing or not a GGUF file."""
    import gguf

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"GGUF file {path} does not exist")
    try:
        return gguf.GGUFReader(path)
    except (ValueError, OSError) as exc:
        raise ExportError(f"{path} is not a readable GGUF file: {exc}") from exc


def scalar(reader, key: str, default: Any = None) -> Any:
    """The value of a scalar or string field, or ``default`` when the file has no such key."""
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def read_hparams(reader) -> HParams:
    """Architecture, layer count and head counts of a GGUF model (ExportError if any is missing)."""
    arch = scalar(reader, "general.architecture")
    if not arch:
        raise ExportError("GGUF file has no general.architecture")
    try:
        n_layers = int(scalar(reader, f"{arch}.block_count"))
        n_head = int(scalar(reader, f"{arch}.attention.head_count"))
    except TypeError:
        raise ExportError(f"GGUF file lacks {arch}.block_count or {arch}.attention.head_count") from None
    n_head_kv = int(scalar(reader, f"{arch}.attention.head_count_kv", n_head))
    return HParams(arch=arch, n_layers=n_layers, n_head=n_head, n_head_kv=n_head_kv)


def field_bytes(field) -> bytes:
    """The exact bytes of one key-value field as stored: key, type tags and value."""
    return b"".join(part.tobytes() for part in field.parts)


def field_value(field) -> tuple[Any, Any, Any]:
    """(value, type, sub_type) of a field in the form ``GGUFWriter.add_key_value`` writes back
    byte for byte: strings stay bytes (no decode/encode round trip), numbers keep their type."""
    import gguf

    kind = field.types[0]
    if kind == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]), kind, None
    if kind == gguf.GGUFValueType.ARRAY:
        if len(field.types) != 2:
            raise ExportError(f"metadata field {field.name} is a nested array, which cannot be copied")
        sub = field.types[1]
        if sub == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]) for i in field.data], kind, sub
        return [v for i in field.data for v in field.parts[i].tolist()], kind, sub
    return field.parts[field.data[0]].tolist()[0], kind, None


def metadata_differences(a, b) -> list[str]:
    """Keys whose stored bytes differ between two readers (or that one of them lacks)."""
    keys = list(a.fields) + [k for k in b.fields if k not in a.fields]
    return [k for k in keys
            if k not in a.fields or k not in b.fields or field_bytes(a.fields[k]) != field_bytes(b.fields[k])]
