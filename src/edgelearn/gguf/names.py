"""Per-architecture knowledge for exporting LoRA weights to llama.cpp: tensor names and row order.

PEFT names a LoRA pair after the Hugging Face module it wraps
(``base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight``); llama.cpp names the
base tensor (``blk.3.attn_q.weight``) and the pair ``.lora_a`` / ``.lora_b`` after it.

The llama converter of llama.cpp stores the rows of q and k permuted for its RoPE layout, so a
llama adapter must permute ``lora_B`` of q_proj with (n_head, n_head) and of k_proj with
(n_head, n_head_kv) before it matches the GGUF weights. qwen2 and the gemma family are
converted without that permutation, so their pairs are written as PEFT has them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from edgelearn.errors import ExportError


@dataclass(frozen=True)
class ArchSpec:
    """What export needs to know about one GGUF architecture."""

    name: str
    permute_qk: bool  # llama.cpp's converter permuted q/k rows for RoPE


ARCHS: dict[str, ArchSpec] = {
    "llama": ArchSpec("llama", permute_qk=True),
    "qwen2": ArchSpec("qwen2", permute_qk=False),
    "gemma": ArchSpec("gemma", permute_qk=False),
    "gemma2": ArchSpec("gemma2", permute_qk=False),
    "gemma3": ArchSpec("gemma3", permute_qk=False),
}

# Hugging Face ``model_type`` of a checkpoint directory -> GGUF architecture name.
HF_MODEL_TYPES: dict[str, str] = {
    "llama": "llama",
    "qwen2": "qwen2",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3_text": "gemma3",
}

_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[A-Za-z0-9_-]+)?\.weight$")


@dataclass(frozen=True)
class HParams:
    """The base model's shape, read from its GGUF metadata."""

    arch: str
    n_layers: int
    n_head: int
    n_head_kv: int


@dataclass
class LoraPair:
    """One LoRA pair as llama.cpp wants it: ``b`` already in the GGUF's row order."""

    module: str  # Hugging Face module name, e.g. model.layers.0.self_attn.q_proj
    tensor: str  # GGUF base tensor name, e.g. blk.0.attn_q.weight
    a: np.ndarray  # (r, in)
    b: np.ndarray  # (out, r)


def arch_spec(arch: str) -> ArchSpec:
    """The spec of a supported architecture; ExportError names the supported ones otherwise."""
    try:
        return ARCHS[arch]
    except KeyError:
        raise ExportError(f"architecture {arch!r} is not supported for LoRA export; "
                          f"supported: {', '.join(sorted(ARCHS))}") from None


def permute_rows(x: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's RoPE row permutation of a (rows, cols) matrix (convert_hf_to_gguf ``permute``)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    rows = x.shape[0]
    if rows % (2 * n_head):
        raise ExportError(f"cannot permute {rows} rows into {n_head} heads")
    return x.reshape(n_head, 2, rows // n_head // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)


def gguf_tensor_name(arch: str, module: str, n_layers: int) -> str:
    """The GGUF name of the weight of Hugging Face module ``module`` (e.g. ``blk.0.attn_q.weight``)."""
    import gguf

    arch_spec(arch)
    enum = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    name = gguf.get_tensor_name_map(enum, n_layers).get_name(module + ".weight", try_suffixes=(".weight",))
    if name is None:
        raise ExportError(f"no llama.cpp tensor for module {module!r} of a {arch} model")
    return name


def orient_b(spec: ArchSpec, hp: HParams, module: str, b: np.ndarray) -> np.ndarray:
    """``lora_B`` in the row order of the GGUF base tensor (permuted for llama q and k)."""
    if not spec.permute_qk:
        return b
    if module.endswith("q_proj"):
        return permute_rows(b, hp.n_head, hp.n_head)
    if module.endswith("k_proj"):
        return permute_rows(b, hp.n_head, hp.n_head_kv)
    return b


def lora_pairs(state: dict[str, np.ndarray], hp: HParams) -> Iterator[LoraPair]:
    """The LoRA pairs of a PEFT state dict, named and oriented for llama.cpp.

    Raises ExportError for tensors llama.cpp cannot apply (modules_to_save copies of
    embeddings or lm_head, LoRA on embeddings) or a pair with a missing half.
    """
    spec = arch_spec(hp.arch)
    halves: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        match = _LORA_KEY.match(key)
        if match is None or "lora_embedding" in key:
            raise ExportError(f"adapter tensor {key!r} is not a LoRA A/B weight; llama.cpp only applies "
                              "LoRA pairs (train without modules_to_save and without embedding LoRA)")
        halves.setdefault(match["module"], {})[match["ab"]] = np.asarray(value, dtype=np.float32)
    for module in sorted(halves, key=_natural):
        pair = halves[module]
        if set(pair) != {"A", "B"}:
            raise ExportError(f"LoRA pair of {module} is incomplete (has {sorted(pair)})")
        a, b = pair["A"], pair["B"]
        if a.shape[0] != b.shape[1]:
            raise ExportError(f"LoRA pair of {module}: A {a.shape} and B {b.shape} disagree on the rank")
        yield LoraPair(module, gguf_tensor_name(hp.arch, module, hp.n_layers), a, orient_b(spec, hp, module, b))


def _natural(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]
