"""The training loop's mechanics on a tiny random llama: packing isolates examples, the loss is the
assistant-token loss, training lowers it, and a stop request cancels between steps."""

import pytest
import torch

from edgelearn.train.data import Encoded
from edgelearn.train.trainer import Cancelled, _loss, eval_loss, train_lora


def examples():
    g = torch.Generator().manual_seed(1)
    out = []
    for n, first_label in ((9, 5), (14, 6), (6, 3)):
        ids = torch.randint(3, 64, (n,), generator=g).tolist()
        out.append(Encoded(ids, [i >= first_label for i in range(n)]))
    return out


def reference_loss(model, enc: Encoded) -> tuple[float, int]:
    """Plain HF loss on one unpadded example with non-assistant labels masked: (sum, count)."""
    ids = torch.tensor([enc.ids])
    labels = torch.tensor([[t if lab else -100 for t, lab in zip(enc.ids, enc.labels)]])
    with torch.no_grad():
        mean = model(input_ids=ids, labels=labels).loss.item()
    count = sum(enc.labels[1:])
    return mean * count, count


def test_packed_rows_give_the_same_loss_as_separate_examples(tiny_causal_lm):
    data = examples()
    sums = [reference_loss(tiny_causal_lm, e) for e in data]
    expected = sum(s for s, _ in sums) / sum(c for _, c in sums)
    with torch.no_grad():
        packed = _loss(tiny_causal_lm, [[0, 1, 2]], data, "cpu").item()  # one row, block-diagonal attention
        padded = _loss(tiny_causal_lm, [[0], [1], [2]], data, "cpu").item()  # right-padded rows
        mixed = _loss(tiny_causal_lm, [[1, 2], [0]], data, "cpu").item()
    assert packed == pytest.approx(expected, rel=1e-5)
    assert padded == pytest.approx(expected, rel=1e-5)
    assert mixed == pytest.approx(expected, rel=1e-5)


def test_training_lowers_the_loss_and_reports_each_step(tiny_causal_lm):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(tiny_causal_lm, LoraConfig(r=8, lora_alpha=16, target_modules=targets))
    data = examples()
    before = eval_loss(model, data)
    seen = []
    stats = train_lora(model, data, batch_size=2, epochs=20, lr=5e-2, seed=0, max_row=64, on_step=seen.append)
    after = eval_loss(model, data)
    assert after < before - 0.1  # a random tiny model learns slowly; the slow test checks real learning
    assert [s.step for s in seen] == list(range(1, stats.steps + 1)) and seen[-1].total_steps == stats.steps
    assert stats.tokens == sum(len(e.ids) for e in data) * 20 and stats.tokens_per_s > 0
    with pytest.raises(Cancelled):
        train_lora(model, data, batch_size=2, epochs=5, lr=1e-3, seed=0, max_row=64, should_stop=lambda: True)
    model.unload()


def test_bfloat16_mixed_precision_loss_stays_close_to_float32(tiny_causal_lm):
    data = examples()
    with torch.no_grad():
        full = _loss(tiny_causal_lm, [[0, 1, 2]], data, "cpu").item()
        mixed = _loss(tiny_causal_lm, [[0, 1, 2]], data, "cpu", autocast=torch.bfloat16).item()
    assert mixed == pytest.approx(full, rel=0.02)


def prefixed_examples():
    """Examples that begin with the same 12 tokens (a system prompt), one an exact duplicate."""
    g = torch.Generator().manual_seed(2)
    prefix = torch.randint(3, 64, (12,), generator=g).tolist()
    out = []
    for n, first_label in ((9, 5), (14, 6), (6, 3)):
        ids = prefix + torch.randint(3, 64, (n,), generator=g).tolist()
        out.append(Encoded(ids, [i >= 12 + first_label for i in range(len(ids))]))
    out.append(Encoded(list(out[2].ids), list(out[2].labels)))  # its labels fall inside the shared part
    return out


def test_packed_examples_share_their_common_prefix_with_the_same_loss_and_gradients():
    from transformers import LlamaConfig, LlamaForCausalLM

    from edgelearn.train.trainer import _tensors

    torch.manual_seed(0)  # a model of its own: the session's tiny model may have been frozen by PEFT
    tiny_causal_lm = LlamaForCausalLM(LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128)).eval()
    data = prefixed_examples()
    rows = [[0, 1, 2, 3]]
    assert _tensors(rows, data, "cpu", share=True)[0].shape[1] < _tensors(rows, data, "cpu")[0].shape[1]
    assert _tensors([[0], [1]], data, "cpu", share=True)[2] is None  # nothing shared: the model's own mask

    def loss_and_grads(share: bool):
        tiny_causal_lm.zero_grad()
        loss = _loss(tiny_causal_lm, rows, data, "cpu", share=share)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in tiny_causal_lm.parameters() if p.grad is not None])
        tiny_causal_lm.zero_grad()
        return loss.item(), grads

    shared, g_shared = loss_and_grads(True)
    alone, g_alone = loss_and_grads(False)
    sums = [reference_loss(tiny_causal_lm, e) for e in data]
    assert shared == pytest.approx(sum(s for s, _ in sums) / sum(c for _, c in sums), rel=1e-5)
    assert shared == pytest.approx(alone, rel=1e-5)
    assert torch.allclose(g_shared, g_alone, rtol=1e-4, atol=1e-7)
    # two rows of different widths: padding attends only to itself and never reaches a loss
    assert _loss(tiny_causal_lm, [[0, 1], [2]], data, "cpu", share=True).item() == pytest.approx(
        _loss(tiny_causal_lm, [[0, 1], [2]], data, "cpu", share=False).item(), rel=1e-5)


def test_models_with_sliding_window_layers_keep_their_own_masks():
    from transformers import LlamaConfig, Qwen2Config

    from edgelearn.train.trainer import common_prefix, shares_prefixes

    assert shares_prefixes(LlamaConfig(num_hidden_layers=2))
    assert shares_prefixes(Qwen2Config(num_hidden_layers=2, use_sliding_window=False))
    assert not shares_prefixes(Qwen2Config(num_hidden_layers=2, use_sliding_window=True, sliding_window=16))
    assert common_prefix([[1, 2, 3, 4], [1, 2, 3, 9]]) == 3
    assert common_prefix([[1, 2, 3], [1, 2, 3]]) == 2  # each keeps a token of its own


def test_under_autocast_adapter_inputs_are_not_cast_to_float32_and_the_setting_is_restored(tiny_causal_lm):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_causal_lm, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    layers = [m for m in model.modules() if hasattr(m, "cast_input_dtype_enabled")]
    seen = []
    train_lora(model, examples(), batch_size=2, epochs=1, lr=1e-3, seed=0, max_row=64, autocast=torch.bfloat16,
               on_step=lambda info: seen.append({m.cast_input_dtype_enabled for m in layers}))
    assert layers and seen and all(s == {False} for s in seen)
    assert {m.cast_input_dtype_enabled for m in layers} == {True}
    model.unload()
