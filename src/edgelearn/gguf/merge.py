"""Merge a LoRA adapter into its base GGUF with the ``gguf`` package alone (no llama.cpp checkout).

Every tensor a LoRA pair touches is dequantized, gets ``scale * B @ A`` added (B in the GGUF's
row order, see ``names``), and is quantized again (Q8_0 by default, F16 on request; F16 also
where a row length is not a multiple of the Q8_0 block). Every other tensor keeps its raw
bytes, and every key-value field of the base (tokenizer, chat template, hyperparameters) is
written back byte for byte, which is checked by reading the result before it is renamed into
place: a merged model cannot lose its template or stop tokens on the way.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgelearn.errors import ExportError
from edgelearn.gguf.adapter import PeftAdapter
from edgelearn.gguf.meta import field_value, metadata_differences, open_reader, read_hparams
from edgelearn.gguf.names import lora_pairs

QUANTS = ("q8_0", "f16")


@dataclass
class MergeReport:
    """What a merge did."""

    merged_tensors: int
    copied_tensors: int
    quant: str
    f16_fallbacks: int
    bytes: int
    seconds: float


def merge_gguf(base_gguf: Path | str, adapter: PeftAdapter, out: Path | str, quant: str = "q8_0") -> MergeReport:
    """Write ``out``: the base GGUF with ``adapter`` folded into its weights.

    Raises ExportError when the adapter names a tensor the base lacks, a tensor type cannot be
    dequantized, or the written metadata would differ from the base's.
    """
    import gguf

    if quant not in QUANTS:
        raise ExportError(f"merged quantization {quant!r} is not one of {', '.join(QUANTS)}")
    start = time.monotonic()
    reader = open_reader(base_gguf)
    hp = read_hparams(reader)
    pairs = {p.tensor: p for p in lora_pairs(adapter.state, hp)}
    missing = sorted(set(pairs) - {t.name for t in reader.tensors})
    if missing:
        raise ExportError(f"the adapter touches tensors the base GGUF lacks: {', '.join(missing[:5])}")
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), hp.arch)
    alignment = reader.fields.get("general.alignment")
    if alignment is not None:
        writer.data_alignment = int(alignment.contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue  # header counts and the architecture are written by the writer itself
        value, kind, sub = field_value(field)
        writer.add_key_value(key, value, kind, sub_type=sub)
    fallbacks = 0
    for tensor in reader.tensors:
        pair = pairs.get(tensor.name)
        if pair is None:
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
            continue
        data, qtype = _merged(tensor, pair, adapter.scale, quant)
        fallbacks += quant == "q8_0" and qtype != gguf.GGMLQuantizationType.Q8_0
        writer.add_tensor(tensor.name, data, raw_dtype=qtype)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        differing = metadata_differences(reader, open_reader(tmp))
        if differing:
            raise ExportError(f"merged GGUF metadata differs from the base in: {', '.join(differing[:5])}")
        os.replace(tmp, out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return MergeReport(len(pairs), len(reader.tensors) - len(pairs), quant, fallbacks,
                       out.stat().st_size, round(time.monotonic() - start, 2))


def _merged(tensor, pair, scale: float, quant: str):
    """The merged weight of one tensor, quantized; returns (data, ggml type)."""
    import gguf
    from gguf.quants import dequantize, quantize

    try:
        weight = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
    except NotImplementedError as exc:
        raise ExportError(f"cannot dequantize {tensor.name} ({tensor.tensor_type.name}): {exc}") from exc
    delta = scale * (pair.b @ pair.a)
    if weight.shape != delta.shape:
        raise ExportError(f"{tensor.name}: base weight {weight.shape} and LoRA delta {delta.shape} differ")
    merged = weight + delta
    q8 = gguf.GGMLQuantizationType.Q8_0
    block = gguf.GGML_QUANT_SIZES[q8][0]
    qtype = q8 if quant == "q8_0" and merged.shape[-1] % block == 0 else gguf.GGMLQuantizationType.F16
    return quantize(merged, qtype), qtype
