"""Adapter GGUF and merged GGUF on a synthetic model: names, values, and metadata byte for byte."""

import gguf
import numpy as np
import pytest
from gguf.quants import dequantize

from edgelearn.errors import ExportError
from edgelearn.gguf.adapter import load_peft_adapter, write_adapter_gguf
from edgelearn.gguf.merge import merge_gguf
from edgelearn.gguf.names import permute_rows


def raw_fields(reader) -> dict[str, bytes]:
    return {k: b"".join(p.tobytes() for p in f.parts) for k, f in reader.fields.items()}


def weights(reader) -> dict[str, np.ndarray]:
    return {t.name: dequantize(t.data, t.tensor_type).astype(np.float32) for t in reader.tensors}


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
def test_merge_copies_every_metadata_field_byte_for_byte(tiny_model, tiny_adapter, tmp_path, arch):
    base = tiny_model(arch)
    merge_gguf(base, tiny_adapter(), tmp_path / "merged.gguf")
    before, after = raw_fields(gguf.GGUFReader(base)), raw_fields(gguf.GGUFReader(tmp_path / "merged.gguf"))
    assert list(before) == list(after)  # same keys, same order
    for key in before:
        assert before[key] == after[key], key
    assert "tokenizer.chat_template" in after and "tokenizer.ggml.tokens" in after


@pytest.mark.parametrize("arch,quant", [("llama", "q8_0"), ("qwen2", "q8_0"), ("gemma3", "q8_0"), ("llama", "f16")])
def test_merged_weights_are_base_plus_scaled_delta_in_gguf_row_order(tiny_model, tiny_adapter, hparams, tmp_path,
                                                                      arch, quant):
    base = tiny_model(arch)
    adapter = tiny_adapter(rank=4, alpha=8.0)
    report = merge_gguf(base, adapter, tmp_path / "m.gguf", quant=quant)
    r_base, r_merged = gguf.GGUFReader(base), gguf.GGUFReader(tmp_path / "m.gguf")
    w_base, w_merged = weights(r_base), weights(r_merged)
    types = {t.name: t.tensor_type.name for t in r_merged.tensors}
    assert report.merged_tensors == 8 and report.copied_tensors == len(r_base.tensors) - 8
    for layer in (0, 1):
        for module, short, n_kv in (("q_proj", "attn_q", hparams["n_head"]), ("k_proj", "attn_k", hparams["n_head_kv"]),
                                    ("v_proj", "attn_v", None), ("o_proj", "attn_output", None)):
            name = f"blk.{layer}.{short}.weight"
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            a, b = adapter.state[prefix + ".lora_A.weight"], adapter.state[prefix + ".lora_B.weight"]
            if arch == "llama" and n_kv is not None:
                b = permute_rows(b, hparams["n_head"], n_kv)
            expected = w_base[name] + 2.0 * (b @ a)  # alpha / rank = 2
            tol = np.abs(expected).max() / (127 if quant == "q8_0" else 1000)  # one quantization step
            np.testing.assert_allclose(w_merged[name], expected, atol=tol)
            assert types[name] == quant.upper()
            if arch == "llama" and n_kv is not None:  # a merge without the permutation would be far off
                unpermuted = w_base[name] + 2.0 * (adapter.state[prefix + ".lora_B.weight"] @ a)
                assert np.abs(w_merged[name] - unpermuted).max() > 5 * tol


def test_untouched_tensors_keep_their_raw_bytes(tiny_model, tiny_adapter, tmp_path):
    base = tiny_model("llama")
    merge_gguf(base, tiny_adapter(layers=(0,)), tmp_path / "m.gguf")
    r_base, r_merged = gguf.GGUFReader(base), gguf.GGUFReader(tmp_path / "m.gguf")
    merged = {t.name: t for t in r_merged.tensors}
    untouched = [t for t in r_base.tensors if not t.name.startswith("blk.0.attn_")]
    assert [t.name for t in r_base.tensors] == [t.name for t in r_merged.tensors]
    for t in untouched:
        assert merged[t.name].tensor_type == t.tensor_type
        assert merged[t.name].data.tobytes() == t.data.tobytes(), t.name


def test_adapter_gguf_layout(tiny_model, tiny_adapter, hparams, tmp_path):
    base = tiny_model("llama")
    adapter = tiny_adapter(rank=4, alpha=8.0)
    info = write_adapter_gguf(adapter, base, tmp_path / "a.gguf")
    r = gguf.GGUFReader(tmp_path / "a.gguf")
    assert r.fields["general.architecture"].contents() == "llama"
    assert r.fields["general.type"].contents() == "adapter"
    assert r.fields["adapter.type"].contents() == "lora"
    assert r.fields["adapter.lora.alpha"].contents() == pytest.approx(8.0)
    tensors = {t.name: t for t in r.tensors}
    assert info["pairs"] == 8 and len(tensors) == 16
    a = tensors["blk.1.attn_k.weight.lora_a"].data
    b = tensors["blk.1.attn_k.weight.lora_b"].data
    prefix = "base_model.model.model.layers.1.self_attn.k_proj"
    np.testing.assert_array_equal(a, adapter.state[prefix + ".lora_A.weight"])
    np.testing.assert_array_equal(b, permute_rows(adapter.state[prefix + ".lora_B.weight"], 4, 2))


def test_rslora_alpha_is_rescaled_for_llama_cpp(tiny_adapter):
    adapter = tiny_adapter(rank=16, alpha=8.0)
    adapter.rslora = True
    assert adapter.scale == pytest.approx(8.0 / 4.0)
    assert adapter.gguf_alpha / adapter.rank == pytest.approx(adapter.scale)


def test_adapter_for_missing_tensors_fails_and_leaves_no_file(tiny_model, tiny_adapter, tmp_path):
    base = tiny_model("llama")
    adapter = tiny_adapter()
    adapter.state["base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"] = np.zeros((4, 64), np.float32)
    adapter.state["base_model.model.model.layers.0.mlp.up_proj.lora_B.weight"] = np.zeros((128, 4), np.float32)
    with pytest.raises(ExportError, match="lacks: blk.0.ffn_up.weight"):
        merge_gguf(base, adapter, tmp_path / "m.gguf")
    with pytest.raises(ExportError, match="no llama.cpp tensor"):
        merge_gguf(base, tiny_adapter(layers=(0, 5)), tmp_path / "m.gguf")  # beyond the model's layers
    assert list(tmp_path.glob("m.gguf*")) == []


def test_load_peft_adapter_reads_config_and_refuses_other_dirs(tmp_path, tiny_adapter):
    from safetensors.numpy import save_file

    adapter = tiny_adapter()
    (tmp_path / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 4, "lora_alpha": 8}')
    save_file(adapter.state, str(tmp_path / "adapter_model.safetensors"))
    loaded = load_peft_adapter(tmp_path)
    assert loaded.rank == 4 and loaded.alpha == 8.0 and set(loaded.state) == set(adapter.state)
    with pytest.raises(ExportError, match="not a PEFT adapter"):
        load_peft_adapter(tmp_path / "nowhere")
