"""Tensor names and the llama q/k row permutation, per architecture, on synthetic tensors."""

import numpy as np
import pytest

from edgelearn.errors import ExportError
from edgelearn.gguf.names import ARCHS, HParams, gguf_tensor_name, lora_pairs, orient_b, permute_rows


def reference_permute(weights, n_head, n_head_kv):
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute, verbatim."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma", "gemma2", "gemma3"])
def test_module_names_map_to_llama_cpp_tensors(arch):
    expect = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down"}
    for module, name in expect.items():
        assert gguf_tensor_name(arch, f"model.layers.7.{module}", 30) == f"blk.7.{name}.weight"


def test_unknown_architecture_and_module_are_export_errors():
    with pytest.raises(ExportError, match="supported: gemma"):
        gguf_tensor_name("gpt2", "model.layers.0.self_attn.q_proj", 2)
    with pytest.raises(ExportError, match="no llama.cpp tensor"):
        gguf_tensor_name("llama", "model.layers.0.self_attn.nonsense", 2)


def test_permutation_matches_llama_cpp_and_commutes_with_the_lora_product():
    rng = np.random.default_rng(0)
    for rows, n_head, n_kv in ((576, 9, 9), (192, 9, 3), (64, 4, 2)):
        w = rng.normal(size=(rows, 40))
        b, a = rng.normal(size=(rows, 8)), rng.normal(size=(8, 40))
        np.testing.assert_array_equal(permute_rows(w, n_head, n_kv), reference_permute(w, n_head, n_kv))
        # llama.cpp holds P(W); the merged weight must be P(W + B A) = P(W) + P(B) A
        np.testing.assert_allclose(permute_rows(w + b @ a, n_head, n_kv),
                                   permute_rows(w, n_head, n_kv) + permute_rows(b, n_head, n_kv) @ a)
        assert not np.allclose(permute_rows(b, n_head, n_kv), b)  # the test would notice a missing permutation


def test_only_llama_permutes_and_only_q_and_k():
    rng = np.random.default_rng(1)
    b_q, b_k, b_v = rng.normal(size=(64, 4)), rng.normal(size=(32, 4)), rng.normal(size=(32, 4))
    for arch in ARCHS:
        hp = HParams(arch, 2, 4, 2)
        q = orient_b(ARCHS[arch], hp, "model.layers.0.self_attn.q_proj", b_q)
        k = orient_b(ARCHS[arch], hp, "model.layers.0.self_attn.k_proj", b_k)
        v = orient_b(ARCHS[arch], hp, "model.layers.0.self_attn.v_proj", b_v)
        np.testing.assert_array_equal(v, b_v)
        if arch == "llama":
            np.testing.assert_array_equal(q, reference_permute(b_q, 4, 4))
            np.testing.assert_array_equal(k, reference_permute(b_k, 4, 2))
        else:  # qwen2 and gemma are converted without the RoPE permutation
            np.testing.assert_array_equal(q, b_q)
            np.testing.assert_array_equal(k, b_k)


def test_lora_pairs_parse_saved_and_in_memory_keys():
    a, b = np.ones((2, 64), np.float32), np.ones((64, 2), np.float32)
    state = {"base_model.model.model.layers.1.self_attn.o_proj.lora_A.weight": a,
             "base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight": b,
             "base_model.model.model.layers.0.mlp.up_proj.lora_A.default.weight": np.ones((2, 64), np.float32),
             "base_model.model.model.layers.0.mlp.up_proj.lora_B.default.weight": np.ones((128, 2), np.float32)}
    pairs = list(lora_pairs(state, HParams("qwen2", 2, 4, 2)))
    assert [p.tensor for p in pairs] == ["blk.0.ffn_up.weight", "blk.1.attn_output.weight"]


@pytest.mark.parametrize("key", ["base_model.model.model.embed_tokens.weight",
                                 "base_model.model.lm_head.modules_to_save.default.weight",
                                 "base_model.model.model.embed_tokens.lora_embedding_A.weight"])
def test_tensors_llama_cpp_refuses_are_export_errors(key):
    with pytest.raises(ExportError, match="not a LoRA A/B weight"):
        list(lora_pairs({key: np.zeros((4, 4), np.float32)}, HParams("llama", 2, 4, 2)))


def test_incomplete_pair_is_an_export_error():
    with pytest.raises(ExportError, match="incomplete"):
        list(lora_pairs({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros((2, 64))},
                        HParams("llama", 2, 4, 2)))
