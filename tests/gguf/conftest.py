"""Synthetic GGUF models and PEFT adapters, small enough to build in milliseconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
MODULES = {  # HF module -> (GGUF tensor, rows, cols, stored type)
    "self_attn.q_proj": ("attn_q", 64, 64, "Q8_0"),
    "self_attn.k_proj": ("attn_k", 32, 64, "Q8_0"),
    "self_attn.v_proj": ("attn_v", 32, 64, "F16"),
    "self_attn.o_proj": ("attn_output", 64, 64, "F32"),
}
HP = {"n_layers": 2, "n_head": 4, "n_head_kv": 2}


def write_model(path: Path, arch: str = "llama", seed: int = 0) -> Path:
    """A tiny GGUF with the metadata kinds real models carry: strings (non-ASCII too), arrays of
    strings, floats and ints, bools, a chat template, and Q8_0 / F16 / F32 tensors."""
    import gguf
    from gguf.quants import quantize

    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_string("general.name", "tiny test model – ünïcode")
    w.add_uint32(f"{arch}.block_count", HP["n_layers"])
    w.add_uint32(f"{arch}.attention.head_count", HP["n_head"])
    w.add_uint32(f"{arch}.attention.head_count_kv", HP["n_head_kv"])
    w.add_uint32(f"{arch}.embedding_length", 64)
    w.add_float32(f"{arch}.rope.freq_base", 100000.0)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_uint64("general.some_count", 2**40 + 3)
    w.add_int8("general.small", -7)
    w.add_string("tokenizer.ggml.model", "gpt2")
    tokens = ["<|im_start|>", "<|im_end|>", "a", "Ġb", "ü", "日本"] + [f"t{i}" for i in range(10)]
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.scores", [float(i) / 3 for i in range(16)])
    w.add_key_value("tokenizer.ggml.token_type", [1] * 14 + [3, 3], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32)
    w.add_array("tokenizer.ggml.merges", ["Ġ b", "a b"])
    w.add_uint32("tokenizer.ggml.eos_token_id", 1)
    w.add_string("tokenizer.chat_template", TEMPLATE)
    w.add_tensor("token_embd.weight", rng.normal(size=(16, 64)).astype(np.float32))
    for layer in range(HP["n_layers"]):
        w.add_tensor(f"blk.{layer}.attn_norm.weight", rng.normal(size=(64,)).astype(np.float32))
        for name, rows, cols, kind in MODULES.values():
            weight = rng.normal(size=(rows, cols)).astype(np.float32)
            qtype = getattr(gguf.GGMLQuantizationType, kind)
            w.add_tensor(f"blk.{layer}.{name}.weight", quantize(weight, qtype), raw_dtype=qtype)
    w.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def make_adapter(rank: int = 4, alpha: float = 8.0, seed: int = 1, layers=(0, 1)):
    from edgelearn.gguf.adapter import PeftAdapter

    rng = np.random.default_rng(seed)
    state = {}
    for layer in layers:
        for module, (_, rows, cols, _) in MODULES.items():
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            state[f"{prefix}.lora_A.weight"] = rng.normal(size=(rank, cols)).astype(np.float32) * 0.1
            state[f"{prefix}.lora_B.weight"] = rng.normal(size=(rows, rank)).astype(np.float32) * 0.1
    return PeftAdapter(state, rank=rank, alpha=alpha)


@pytest.fixture
def tiny_model(tmp_path):
    """Factory: ``tiny_model(arch)`` writes a tiny GGUF of that architecture and returns its path."""
    return lambda arch="llama", seed=0: write_model(tmp_path / f"tiny-{arch}-{seed}.gguf", arch, seed)


@pytest.fixture
def tiny_adapter():
    """Factory: ``tiny_adapter(rank, alpha)`` returns a PeftAdapter for the tiny model (LoRA on q, k, v, o)."""
    return make_adapter


@pytest.fixture
def hparams():
    return dict(HP)
