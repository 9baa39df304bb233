"""A PEFT LoRA adapter directory as numpy arrays, and its llama.cpp LoRA GGUF.

The GGUF carries ``general.type=adapter``, ``adapter.type=lora`` and ``adapter.lora.alpha``;
llama.cpp scales each pair by alpha / rank, so an rsLoRA adapter (scale alpha / sqrt(rank))
is written with alpha * sqrt(rank).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgelearn.errors import ExportError
from edgelearn.gguf.meta import open_reader, read_hparams
from edgelearn.gguf.names import HParams, lora_pairs


@dataclass
class PeftAdapter:
    """A saved PEFT LoRA adapter: its tensors and the numbers that scale them."""

    state: dict[str, np.ndarray]
    rank: int
    alpha: float
    rslora: bool = False

    @property
    def scale(self) -> float:
        """The factor PEFT multiplies B @ A by."""
        return self.alpha / (math.sqrt(self.rank) if self.rslora else self.rank)

    @property
    def gguf_alpha(self) -> float:
        """The alpha to write so that llama.cpp's alpha / rank equals ``scale``."""
        return self.scale * self.rank


def load_peft_adapter(directory: Path | str) -> PeftAdapter:
    """Read ``adapter_config.json`` and ``adapter_model.safetensors`` without torch."""
    from safetensors.numpy import load_file

    directory = Path(directory)
    cfg_path, weights = directory / "adapter_config.json", directory / "adapter_model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise ExportError(f"{directory} is not a PEFT adapter directory (needs adapter_config.json "
                          "and adapter_model.safetensors)")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if cfg.get("peft_type", "LORA") != "LORA":
        raise ExportError(f"{directory}: adapter type {cfg.get('peft_type')!r} is not LoRA")
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise ExportError(f"{directory}: per-module rank or alpha patterns cannot be exported to one GGUF alpha")
    state = {k: v.astype(np.float32) for k, v in load_file(str(weights)).items()}
    return PeftAdapter(state, rank=int(cfg["r"]), alpha=float(cfg["lora_alpha"]),
                       rslora=bool(cfg.get("use_rslora", False)))


def write_adapter_gguf(adapter: PeftAdapter, base_gguf: Path | str, out: Path | str) -> dict:
    """Write ``adapter`` as a llama.cpp LoRA GGUF for the base ``base_gguf``; returns a summary.

    The file appears at ``out`` only when complete (written beside it, then renamed).
    """
    import gguf

    hp: HParams = read_hparams(open_reader(base_gguf))
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), hp.arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(adapter.gguf_alpha))
    n = 0
    for pair in lora_pairs(adapter.state, hp):
        writer.add_tensor(pair.tensor + ".lora_a", np.ascontiguousarray(pair.a))
        writer.add_tensor(pair.tensor + ".lora_b", np.ascontiguousarray(pair.b))
        n += 1
    if n == 0:
        raise ExportError("the adapter has no LoRA pairs to export")
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return {"arch": hp.arch, "pairs": n, "alpha": adapter.gguf_alpha, "rank": adapter.rank,
            "bytes": out.stat().st_size}
