"""The LoRA training loop shared by every backend.

Four things make it cheaper than a plain padded loop (bench/train.py measures it):
- the examples of a step are packed into rows (``data.pack_rows``) with position ids that
  restart at each example and a block-diagonal causal mask, so packed examples do not see each
  other and no padding is computed;
- examples packed together that begin alike (an agent's system prompt and instructions) hold
  that prefix once, each attending to it as if it were its own (``_tensors``); a step takes its
  examples from those that begin alike where it can (``data.plan_steps`` with groups), so one
  row holds one prefix and many short turns after it;
- the vocabulary projection runs only at the positions that predict an assistant token,
  not at every position (for a 49k vocabulary that is a large share of a small model's work);
- where the hardware runs it fast, the frozen base computes in bfloat16 (mixed precision: the
  LoRA weights, gradients and optimizer state stay float32), see ``backends.use_bfloat16``.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from edgelearn.errors import TrainingError
from edgelearn.train.data import MIN_SHARED_PREFIX, Encoded, common_prefix, pack_rows, plan_steps

# Longest packed row. The CPU attention kernels compute a masked row's full square, so packing
# two 450-token examples into one row costs more than two rows; short examples gain from sharing one.
PACK_ROW_TOKENS = 512
# Examples whose first tokens are equal go into the same steps: they share a longer prefix still.
GROUP_PREFIX_TOKENS = 32
# A row of examples that share a prefix may be this many times max_seq_len wide, as long as it
# computes no more attention than their separate rows (``data.pack_rows``): 4 agent turns of 60
# tokens after a 390-token prefix take 630 positions instead of 2 rows of 510.
WIDE_ROW_FACTOR = 2


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
    computed: int = 0  # positions the model ran so far: shared prefixes once, padding included

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
    computed: int = 0  # positions the model ran: shared prefixes once, padding included

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_s if self.train_s > 0 else 0.0


def _parts(model):
    """(decoder, lm_head, logit softcap) of a PEFT-wrapped causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings(), getattr(base.config, "final_logit_softcapping", None)


def shares_prefixes(config) -> bool:
    """Whether the model attends fully at every layer, so that an explicit mask (the one that lets
    packed examples share their common prefix) replaces none of its own (sliding windows)."""
    kinds = getattr(config, "layer_types", None)
    return not getattr(config, "use_sliding_window", False) and (kinds is None or set(kinds) <= {"full_attention"})


def _tensors(rows: list[list[int]], data: list[Encoded], device, share: bool = False) -> tuple:
    """Model inputs for packed rows, plus where to read hidden states and what to predict.

    Returns (input ids, position ids, mask, rows and columns of the hidden states that predict
    an assistant token, those tokens). With ``share``, the examples of a row that begin alike
    (the same system prompt, the same instructions) hold that common prefix once: each attends
    to it and to its own tokens, at the positions it would have alone, so every hidden state and
    the loss are those of separate examples, for fewer tokens. The mask is then an explicit
    additive 4D mask; where no row shares a prefix it is None, and restarting position ids keep
    packed examples apart (the model builds that mask itself).
    """
    layouts = []  # per row: (shared prefix length, [(example, column of its first own token)])
    for row in rows:
        shared = common_prefix([data[i].ids for i in row]) if share and len(row) > 1 else 0
        shared = shared if shared >= MIN_SHARED_PREFIX else 0
        cols, col = [], shared
        for i in row:
            cols.append((i, col))
            col += len(data[i].ids) - shared
        layouts.append((shared, cols, col))
    width = max(end for _, _, end in layouts)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    seg = torch.full((len(rows), width), -1, dtype=torch.long)  # 0: the shared prefix, k: example k
    at_row, at_col, targets = [], [], []
    for r, (shared, cols, end) in enumerate(layouts):
        if shared:
            first = data[cols[0][0]].ids
            ids[r, :shared] = torch.tensor(first[:shared])
            pos[r, :shared] = torch.arange(shared)
            seg[r, :shared] = 0
        for k, (i, col) in enumerate(cols, 1):
            enc = data[i]
            n = len(enc.ids)
            ids[r, col:col + n - shared] = torch.tensor(enc.ids[shared:])
            pos[r, col:col + n - shared] = torch.arange(shared, n)
            seg[r, col:col + n - shared] = k
            for p in range(1, n):
                if enc.labels[p]:
                    q = p - 1  # the hidden state before a token predicts it
                    at_row.append(r)
                    at_col.append(q if q < shared else col + q - shared)
                    targets.append(enc.ids[p])
        if end < width:  # right padding continues the positions: causal attention keeps it unseen
            last = pos[r, end - 1].item() + 1
            pos[r, end:] = torch.arange(last, last + width - end)
    mask = None
    if any(shared for shared, _, _ in layouts):  # else the model's own mask, as without sharing
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        same = (seg[:, :, None] == seg[:, None, :]) & (seg[:, :, None] >= 0)
        allowed = causal & (same | (seg[:, None, :] == 0)) | torch.eye(width, dtype=torch.bool)  # padding sees itself
        mask = torch.zeros(allowed.shape, dtype=torch.float32).masked_fill_(~allowed, torch.finfo(torch.float32).min)
        mask = mask[:, None].to(device)
    return (ids.to(device), pos.to(device), mask, torch.tensor(at_row, device=device),
            torch.tensor(at_col, device=device), torch.tensor(targets, device=device))


def _loss(model, rows, data, device, autocast=None, share: bool | None = None,
          computed: list[int] | None = None) -> torch.Tensor:
    """Mean loss over the assistant tokens of ``rows``; appends the positions run to ``computed``."""
    decoder, head, softcap = _parts(model)
    if share is None:
        share = shares_prefixes(decoder.config)
    ids, pos, mask, at_row, at_col, targets = _tensors(rows, data, device, share)
    if computed is not None:
        computed.append(ids.numel())
    kind = torch.device(device).type
    with torch.autocast(kind, dtype=autocast or torch.float32, enabled=autocast is not None):
        hidden = decoder(input_ids=ids, position_ids=pos, attention_mask=mask, use_cache=False).last_hidden_state
        logits = head(hidden[at_row, at_col])
    logits = logits.float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.nn.functional.cross_entropy(logits, targets)


def training_steps(model, data: list[Encoded], *, batch_size: int, epochs: float, lr: float, seed: int,
                   max_row: int, device="cpu", pack: bool = True, autocast=None) -> Iterator[StepInfo]:
    """Train the trainable (LoRA) parameters of ``model`` on ``data``, one optimizer step per item.

    ``pack=False`` puts each example in its own right-padded row (for attention kernels that do
    not treat restarting position ids as separate sequences); ``autocast`` is the mixed-precision
    compute dtype (None: float32). The model is back in eval mode once the generator is done or closed.
    """
    torch.manual_seed(seed)
    lengths = [len(e.ids) for e in data]
    # rows are sized by what they compute: shared prefixes once, where the model can share them
    seqs = [e.ids for e in data] if pack and shares_prefixes(_parts(model)[0].config) else None
    groups = [tuple(ids[:GROUP_PREFIX_TOKENS]) for ids in seqs] if seqs is not None else None
    steps = plan_steps(lengths, batch_size, epochs, seed, groups)
    params = [p for p in model.parameters() if p.requires_grad]
    # one fused kernel per step instead of a dozen small ops per LoRA matrix (420 of them here)
    fused = torch.device(device).type in ("cpu", "cuda")
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=fused)
    warmup = max(1, round(0.05 * len(steps)))

    def factor(step: int) -> float:  # linear warm-up, then cosine down to a tenth
        if step < warmup:
            return (step + 1) / warmup
        done = (step - warmup) / max(1, len(steps) - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, factor)
    model.train()
    tokens, computed, start = 0, [], time.monotonic()
    # under autocast, PEFT's cast of each LoRA input to float32 is undone by autocast at once: skip both
    with _adapter_input_casts(model, enabled=autocast is None):
        try:
            for k, indices in enumerate(steps):
                rows = (pack_rows(indices, lengths, min(max_row, PACK_ROW_TOKENS), seqs, WIDE_ROW_FACTOR * max_row)
                        if pack
                        else [[i] for i in indices])
                loss = _loss(model, rows, data, device, autocast, computed=computed)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optim.step()
                sched.step()
                optim.zero_grad(set_to_none=True)
                tokens += sum(lengths[i] for i in indices)
                yield StepInfo(k + 1, len(steps), (k + 1) * batch_size / len(data), float(loss.detach()), tokens,
                               time.monotonic() - start, sum(computed))
        finally:
            model.eval()


@contextlib.contextmanager
def _adapter_input_casts(model, enabled: bool):
    """PEFT casts each adapter's input to the adapter's dtype; ``enabled=False`` turns that off."""
    layers = [m for m in model.modules() if hasattr(m, "cast_input_dtype_enabled")]
    before = [m.cast_input_dtype_enabled for m in layers]
    for m in layers:
        m.cast_input_dtype_enabled = m.cast_input_dtype_enabled and enabled
    try:
        yield
    finally:
        for m, value in zip(layers, before):
            m.cast_input_dtype_enabled = value


def train_lora(model, data: list[Encoded], *, on_step: Callable[[StepInfo], None] | None = None,
               should_stop: Callable[[], bool] | None = None, **options) -> TrainStats:
    """Run ``training_steps`` to the end; raises Cancelled if ``should_stop()`` turns true between steps."""
    steps = training_steps(model, data, **options)
    losses, info = [], None
    with contextlib.closing(steps):
        while True:
            if should_stop and should_stop():
                raise Cancelled()
            step = next(steps, None)
            if step is None:
                break
            info = step
            losses.append(info.loss)
            if on_step:
                on_step(info)
    if info is None:
        raise TrainingError("the dataset gave no training step")
    return TrainStats(info.total_steps, len(data), info.tokens, info.elapsed_s, losses[-1],
                      sum(losses) / len(losses), info.computed)


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
