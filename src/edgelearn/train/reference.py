"""The parity reference: which prompts the gate compares on, and the trained model's greedy answers.

Parity checks the export, not generalization, so a prompt from the training split is as good a
probe as a held-out one. Validation prompts come first (the gate's samples show them); training
prompts top the list up to ``train.parity_prompts`` when validation is small, because a gate
that needs 95% of its prompts to match allows no miss at all below 20 prompts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from edgelearn.gguf.parity import Generation

# prompts generated together: several times faster than one at a time on the CPU (bench/RESULTS.md, "Measurements behind choices in the code")
BATCH = 16


def pick_prompts(validation: Iterable[list[int]], training: Iterable[list[int]], limit: int,
                 max_len: int) -> tuple[list[list[int]], int]:
    """Distinct prompts of at most ``max_len`` tokens, validation first, then training, at most
    ``limit`` (read lazily: training prompts are tokenized only as far as needed); returns them
    and how many came from validation."""
    seen: set[tuple[int, ...]] = set()
    picked: list[list[int]] = []
    from_validation = 0
    for source, prompts in enumerate((validation, training)):
        if len(picked) == limit:
            break
        for prompt in prompts:
            key = tuple(prompt)
            if len(prompt) > max_len or key in seen:
                continue
            seen.add(key)
            picked.append(prompt)
            from_validation += source == 0
            if len(picked) == limit:
                break
    return picked, from_validation


def reference_model(hf_dir: Path, peft_dir: Path, device: str):
    """The saved adapter loaded by PEFT onto the float32 base (whatever precision training used)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).to(device)
    return PeftModel.from_pretrained(base, str(peft_dir)).eval()


def greedy(model, prompts: list[list[int]], max_tokens: int, eot: list[int], device,
           batch: int = BATCH) -> list[Generation]:
    """The model's greedy continuation of each prompt, cut after its first end-of-turn token."""
    return greedy_forks(model, prompts, max_tokens, eot, device, batch)[0]


def greedy_forks(model, prompts: list[list[int]], max_tokens: int, eot: list[int], device,
                 batch: int = BATCH) -> tuple[list[Generation], list[list[tuple[int, float]]]]:
    """The model's greedy continuation of each prompt, cut after its first end-of-turn token, and its
    forks: per answer token, the runner-up token and how many log-probability units the answer's own
    token leads it by (for the tool-call near-tie rule), read off the logits that chose the token.

    Prompts of similar length run together, left-padded under an attention mask; the answers
    are the same tokens as one prompt at a time (a test compares them)."""
    import torch

    answers: dict[int, Generation] = {}
    forks: dict[int, list[tuple[int, float]]] = {}
    for chunk in _chunks(prompts, batch):
        width = max(len(prompts[i]) for i in chunk)
        ids = torch.tensor([[eot[0]] * (width - len(prompts[i])) + prompts[i] for i in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in chunk], device=device)
        steps: list[tuple[torch.Tensor, torch.Tensor]] = []

        def record(_ids, scores, steps=steps):  # a logits processor that changes nothing
            top = torch.log_softmax(scores.float(), dim=-1).topk(2, dim=-1)
            steps.append((top.values[:, 0] - top.values[:, 1], top.indices[:, 1]))
            return scores

        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens, do_sample=False,
                                 repetition_penalty=1.0, eos_token_id=eot, pad_token_id=eot[0],
                                 logits_processor=[record])
        gaps = torch.stack([g for g, _ in steps], dim=1).tolist()
        alts = torch.stack([a for _, a in steps], dim=1).tolist()
        for k, (i, row) in enumerate(zip(chunk, out[:, width:].tolist())):
            answers[i] = _cut(row, eot)
            forks[i] = list(zip(alts[k], gaps[k]))[:len(answers[i].tokens)]
    return [answers[i] for i in range(len(prompts))], [forks[i] for i in range(len(prompts))]


def _chunks(prompts: list[list[int]], batch: int) -> list[list[int]]:
    """Indices of ``prompts`` by length, at most ``batch`` together and none padded past twice its
    own length (a 70-token prompt batched with 400-token ones would compute 400 positions)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    chunks: list[list[int]] = []
    for i in order:
        if chunks and len(chunks[-1]) < batch and len(prompts[i]) <= 2 * len(prompts[chunks[-1][0]]):
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


def _cut(tokens: list[int], eot: list[int]) -> Generation:
    for i, t in enumerate(tokens):
        if t in eot:
            return Generation(tokens[: i + 1], True)
    return Generation(tokens, False)
