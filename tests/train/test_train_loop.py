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
