"""Helpers for the serving tests: GGUF stand-ins for trained artifacts.

No training is needed to test serving: a copy of the base GGUF with another ``general.name``
(written with the gguf package, the way the merge code writes a merged model) stands in for
``merged.gguf``, and a LoRA GGUF whose B matrices are zero (so it changes nothing) for
``adapter.gguf``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def copy_gguf(src: Path, dst: Path, name: str) -> Path:
    """``src`` with ``general.name`` set to ``name``; every other field and tensor byte for byte."""
    import gguf

    reader = gguf.GGUFReader(str(src))
    writer = gguf.GGUFWriter(str(dst), arch=str(reader.fields["general.architecture"].contents()))
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = name if field.name == "general.name" else field.contents()
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    for tensor in reader.tensors:
        writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes,
                               tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    return dst


def metadata_only_gguf(src: Path, dst: Path, name: str) -> Path:
    """The header and key-value metadata of ``src`` (tokenizer, chat template) with no tensors and
    ``general.name`` = ``name``: small and fast to hash and upload; llama.cpp cannot load it.

    Copied at the byte level (``gguf.GGUFReader`` takes many seconds on the 50k-token vocabulary).
    """
    data = src.read_bytes()
    pos = 24  # magic, version, tensor count, kv count
    kv_count = struct.unpack_from("<Q", data, 16)[0]
    out = bytearray(data[:8] + struct.pack("<Q", 0) + data[16:24])

    def skip_value(vtype: int) -> None:
        nonlocal pos
        if vtype == 8:
            pos += 8 + struct.unpack_from("<Q", data, pos)[0]
        elif vtype == 9:
            item, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            for _ in range(count):
                skip_value(item)
        else:
            pos += {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}[vtype]

    for _ in range(kv_count):
        start = pos
        key_len = struct.unpack_from("<Q", data, pos)[0]
        key = data[pos + 8:pos + 8 + key_len].decode()
        pos += 8 + key_len
        vtype = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        skip_value(vtype)
        if key == "general.name":
            encoded = name.encode()
            out += data[start:start + 8 + key_len] + struct.pack("<IQ", 8, len(encoded)) + encoded
        else:
            out += data[start:pos]
    dst.write_bytes(bytes(out))
    return dst


def zero_lora_gguf(dst: Path, *, width: int = 576, rank: int = 2) -> Path:
    """A llama.cpp LoRA adapter GGUF on blk.0.attn_q whose B is zero: it loads and changes nothing."""
    import gguf

    writer = gguf.GGUFWriter(str(dst), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(rank))
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.full((rank, width), 0.01, dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.zeros((width, rank), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst
