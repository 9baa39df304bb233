"""The LoRA training loop shared by every backend.

Two things make it cheaper than a plain padded loop (bench/train.py measures it):
- the examples of a step are packed into rows (``data.pack_rows``) with position ids that
  restart at each example; transformers turns restarting positions into a block-diagonal
  causal mask, so packed examples do not see each other and no padding is computed;
- the vocabulary projection runs only at the positions that predict an assistant token,
  not at every position (for a 49k vocabulary that is a large share of a small model's work);
- where the hardware runs it fast, the frozen base computes in bfloat16 (mixed precision: the
  LoRA weights, gradients and optimizer state stay float32), see ``backends.use_bfloat16``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from edgelearn.train.data import Encoded, pack_rows, plan_steps


# Longest packed row. The CPU attention kernels compute a masked row's full square, so packing
# two 450-token examples into one row costs more than two rows; short examples gain from sharing one.
PACK_ROW_TOKENS = 512


class Cancelled(Exception):
    """Raised inside the loop when the job was asked to stop."""


@dataclass
class StepInfo:
    """Progress after one optimizer step."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    tokens: int  # real tokens processed so far (no padding)
    elapsed_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float:
        return self.elapsed_s / self.step * (self.total_steps - self.step) if self.step else 0.0


@dataclass
class TrainStats:
    """What a finished training run did."""

    steps: int
    examples: int
    tokens: int
    train_s: float
    final_loss: float
    mean_loss: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_s if self.train_s > 0 else 0.0


def _parts(model):
    """(decoder, lm_head, logit softcap) of a PEFT-wrapped causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings(), getattr(base.config, "final_logit_softcapping", None)


def _tensors(rows: list[list[int]], data: list[Encoded], device) -> tuple[torch.Tensor, ...]:
    """input ids and position ids of packed rows, plus where to read hidden states and what to predict."""
    width = max(sum(len(data[i].ids) for i in row) for row in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    at_row, at_col, targets = [], [], []
    for r, row in enumerate(rows):
        col = 0
        for i in row:
            enc = data[i]
            n = len(enc.ids)
            ids[r, col:col + n] = torch.tensor(enc.ids)
            pos[r, col:col + n] = torch.arange(n)
            for p in range(1, n):
                if enc.labels[p]:
                    at_row.append(r)
                    at_col.append(col + p - 1)  # the hidden state before a token predicts it
                    targets.append(enc.ids[p])
            col += n
        if col < width:  # right padding continues the positions: causal attention keeps it unseen
            pos[r, col:] = torch.arange(n, n + width - col)
    return (ids.to(device), pos.to(device), torch.tensor(at_row, device=device),
            torch.tensor(at_col, device=device), torch.tensor(targets, device=device))


def _loss(model, rows, data, device, autocast=None) -> torch.Tensor:
    decoder, head, softcap = _parts(model)
    ids, pos, at_row, at_col, targets = _tensors(rows, data, device)
    kind = torch.device(device).type
    with torch.autocast(kind, dtype=autocast or torch.float32, enabled=autocast is not None):
        hidden = decoder(input_ids=ids, position_ids=pos, use_cache=False).last_hidden_state
        logits = head(hidden[at_row, at_col])
    logits = logits.float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.nn.functional.cross_entropy(logits, targets)


def train_lora(model, data: list[Encoded], *, batch_size: int, epochs: float, lr: float, seed: int,
               max_row: int, device="cpu", pack: bool = True, autocast=None,
               on_step: Callable[[StepInfo], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> TrainStats:
    """Train the trainable (LoRA) parameters of ``model`` on ``data``; raises Cancelled if asked to stop.

    ``pack=False`` puts each example in its own right-padded row (for attention kernels that do
    not treat restarting position ids as separate sequences); ``autocast`` is the mixed-precision
    compute dtype (None: float32).
    """
    torch.manual_seed(seed)
    lengths = [len(e.ids) for e in data]
    steps = plan_steps(lengths, batch_size, epochs, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = max(1, round(0.05 * len(steps)))

    def factor(step: int) -> float:  # linear warm-up, then cosine down to a tenth
        if step < warmup:
            return (step + 1) / warmup
        done = (step - warmup) / max(1, len(steps) - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, factor)
    model.train()
    tokens, losses, start = 0, [], time.monotonic()
    for k, indices in enumerate(steps):
        if should_stop and should_stop():
            raise Cancelled()
        rows = pack_rows(indices, lengths, min(max_row, PACK_ROW_TOKENS)) if pack else [[i] for i in indices]
        loss = _loss(model, rows, data, device, autocast)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        tokens += sum(lengths[i] for i in indices)
        losses.append(float(loss.detach()))
        if on_step:
            on_step(StepInfo(k + 1, len(steps), (k + 1) * batch_size / len(data), losses[-1], tokens,
                             time.monotonic() - start))
    model.eval()
    elapsed = time.monotonic() - start
    return TrainStats(len(steps), len(data), tokens, elapsed, losses[-1], sum(losses) / len(losses))


@torch.no_grad()
def eval_loss(model, data: list[Encoded], *, device="cpu", max_row: int = 2048, pack: bool = True,
              autocast=None) -> float | None:
    """Mean loss per assistant token over ``data`` (None for no data)."""
    if not data:
        return None
    model.eval()
    lengths = [len(e.ids) for e in data]
    total, count = 0.0, 0
    for i in range(0, len(data), 8):
        chunk = list(range(i, min(i + 8, len(data))))
        n = sum(sum(data[j].labels[1:]) for j in chunk)
        rows = pack_rows(chunk, lengths, min(max_row, PACK_ROW_TOKENS)) if pack else [[j] for j in chunk]
        total += float(_loss(model, rows, data, device, autocast)) * n
        count += n
    return total / count if count else None
