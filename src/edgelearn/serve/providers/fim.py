"""Fill-in-the-middle: a base model's FIM format, read from its GGUF's tokenizer, and the prompt
built from a prefix and a suffix (``/v1/completions`` with ``suffix``).

The tokens come from the GGUF metadata llama.cpp writes (``tokenizer.ggml.fim_pre_token_id`` and its
siblings, or the older ``prefix_token_id``/``suffix_token_id``/``middle_token_id``), else from the
vocabulary's known FIM token families (Qwen2.5-Coder, StarCoder, DeepSeek-Coder, CodeLlama). Only the
header is read, at the byte level: ``gguf.GGUFReader`` takes seconds on a 50k-token vocabulary.
"""

from __future__ import annotations

import functools
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

ID_KEYS = (("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id"),
           ("tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id", "tokenizer.ggml.middle_token_id"))
FAMILIES = (("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
            ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
            ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
            ("▁<PRE>", "▁<SUF>", "▁<MID>"),
            ("<PRE>", "<SUF>", "<MID>"))
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


@dataclass(frozen=True)
class FimFormat:
    """A model's FIM tokens, in prefix-suffix-middle order."""

    prefix: str
    suffix: str
    middle: str

    def build(self, before: str, after: str) -> str:
        """The prompt that asks the model for what goes between ``before`` and ``after``."""
        if self.prefix.endswith("<PRE>"):  # CodeLlama spaces its markers
            return f"<PRE> {before} <SUF>{after} <MID>"
        return f"{self.prefix}{before}{self.suffix}{after}{self.middle}"


def fim_format(path: str | Path) -> FimFormat | None:
    """The FIM format of the GGUF at ``path``, or None when its tokenizer has none."""
    path = Path(path)
    stat = path.stat()
    return _cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _cached(path: str, mtime_ns: int, size: int) -> FimFormat | None:
    ids, tokens = _read(path)
    for keys in ID_KEYS:
        if all(k in ids for k in keys) and all(0 <= ids[k] < len(tokens) for k in keys):
            prefix, suffix, middle = (tokens[ids[k]] for k in keys)
            return FimFormat(prefix, suffix, middle)
    vocabulary = set(tokens)
    for family in FAMILIES:
        if all(t in vocabulary for t in family):
            return FimFormat(*(t.replace("▁", "") for t in family))
    return None


def _read(path: str) -> tuple[dict[str, int], list[str]]:
    """The integer FIM ids and the token strings from a GGUF header."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        kv_count = struct.unpack_from("<Q", data, 16)[0]
        pos = 24
        ids: dict[str, int] = {}
        tokens: list[str] = []
        wanted = {k for keys in ID_KEYS for k in keys}

        def string() -> str:
            nonlocal pos
            length = struct.unpack_from("<Q", data, pos)[0]
            pos += 8 + length
            return data[pos - length:pos].decode("utf-8", "replace")

        def skip(vtype: int) -> None:
            nonlocal pos
            if vtype == 8:
                pos += 8 + struct.unpack_from("<Q", data, pos)[0]
            elif vtype == 9:
                item, count = struct.unpack_from("<IQ", data, pos)
                pos += 12
                if item in _SCALARS:
                    pos += count * struct.calcsize(_SCALARS[item])
                else:
                    for _ in range(count):
                        skip(item)
            else:
                pos += struct.calcsize(_SCALARS[vtype])

        for _ in range(kv_count):
            key = string()
            vtype = struct.unpack_from("<I", data, pos)[0]
            pos += 4
            if key == "tokenizer.ggml.tokens" and vtype == 9:
                item, count = struct.unpack_from("<IQ", data, pos)
                pos += 12
                tokens = [string() for _ in range(count)] if item == 8 else []
            elif key in wanted and vtype in _SCALARS:
                ids[key] = int(struct.unpack_from(_SCALARS[vtype], data, pos)[0])
                skip(vtype)
            else:
                skip(vtype)
    return ids, tokens

