"""The quick loop behind the tool-call figures in bench/results/tools_efficacy.md: train once on the
demo pack's rows as the training job does, then answer the held-out quill tool tasks greedily with
the trained torch model, rendered exactly as serving renders them and parsed by ``serve.tools``.

    .venv/bin/python bench/tool_sweep.py [--epochs 6] [--lr 1e-3] [--rank 32] [--copies 1] [--no-code] [--code-eval]
                                          [--batch 4] [--dropout 0] [--seed 0] [--phrases]

It skips the demo's teacher, gateway, export and A/B (``bench/efficacy.py`` runs the whole cycle);
the rows are the pack's train tasks as the teacher answers them, less the 10 % validation split, plus
their copy variants (``train.augment``, titles too with ``--phrases``; no word of a
held-out request is swapped in).
Beside right or wrong it prints each held-out task's smallest lead (teacher-forced, in nats) of the
expected call's tokens over the best other token: two settings that get as many tasks right can
still differ in how near their answers came to a miss.
A minute or two per epoch on 2 quiet cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from edgelearn.config import TrainSettings
from edgelearn.demo import tool_pack as TP
from edgelearn.demo.pack import SYSTEM_PROMPT, check, load_pack
from edgelearn.serve.tools import parse_tool_calls
from edgelearn.train import data as D
from edgelearn.train.augment import copy_variants, spelled_words
from edgelearn.train.backends import PeftBackend
from edgelearn.train.base import hf_directory, resolve_base
from edgelearn.train.reference import greedy
from edgelearn.train.trainer import train_lora


def answer_row(task: TP.ToolTask) -> list[dict]:
    """The task's conversation with its expected call as the final assistant turn."""
    call = {"id": "c", "type": "function", "function": {"name": task.expected["name"],
                                                        "arguments": json.dumps(task.expected["arguments"])}}
    return [*task.messages(), {"role": "assistant", "content": "", "tool_calls": [call]}]


def rows(with_code: bool) -> list[dict]:
    """The training rows: each train tool task with its call, and the code tasks with their reference."""
    out = [{"messages": answer_row(t), "tools": TP.TOOLS} for t in TP.load_tool_pack() if t.split == "train"]
    if with_code:
        out += [{"messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": t.prompt},
                              {"role": "assistant", "content": f"```python\n{t.reference.strip()}\n```"}]}
                for t in load_pack() if t.split == "train"]
    return [r for r in out if not D.is_validation({"messages": r["messages"]}, 0.1)]


def tool_accuracy(model, tok, eot, device, tasks, show: bool) -> int:
    prompts = [D.prompt_ids(tok, t.messages(), TP.TOOLS) for t in tasks]
    right = 0
    for task, gen in zip(tasks, greedy(model, prompts, 64, eot, device)):
        text = tok.decode(gen.tokens, skip_special_tokens=True)
        _, calls = parse_tool_calls(text)
        ok = TP.check_calls(task, calls)
        right += ok
        if show and not ok:
            print(f"  miss: {task.prompt!r} -> {' '.join(text.split())[:150]}")
    return right


def margins(model, tok, eot, device, tasks) -> list[float]:
    """Per task, the smallest lead (in nats) of the expected call's token over the best other token, teacher
    forced: greater than 0 where greedy decoding writes the call. A finer measure than right or wrong: two
    trainings that get the same tasks right differ in how near their answers came to a miss."""
    out = []
    for task in tasks:
        enc = D.encode(tok, answer_row(task), 4096, eot, TP.TOOLS)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([enc.ids], device=device)).logits[0].float()
        lead = []
        for j in range(1, len(enc.ids)):
            if enc.labels[j]:
                row = torch.log_softmax(logits[j - 1], -1)
                right = row[enc.ids[j]].item()
                row[enc.ids[j]] = float("-inf")
                lead.append(right - row.max().item())
        out.append(min(lead))
    return out


def neftune_hook(alpha: float):
    """NEFTune (Jain et al., 2023): while training, uniform noise of scale alpha / sqrt(length * width)
    on the input embeddings; none in eval mode."""
    def hook(module, args, out):
        if not module.training:
            return out
        return out + torch.empty_like(out).uniform_(-1, 1) * (alpha / (out.shape[-2] * out.shape[-1]) ** 0.5)

    return hook


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=float, default=6.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--seq", type=int, default=560)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--copies", type=int, default=TrainSettings().copy_variants, help="train.copy_variants")
    ap.add_argument("--vocab", type=int, default=TrainSettings().copy_words, help="train.copy_words")
    ap.add_argument("--no-code", action="store_true", help="the tool rows alone")
    ap.add_argument("--code-eval", action="store_true", help="also the held-out code tasks")
    ap.add_argument("--base", action="store_true", help="measure the base only (no training)")
    ap.add_argument("--dropout", type=float, default=0.0, help="LoRA dropout")
    ap.add_argument("--neftune", type=float, default=0.0,
                    help="NEFTune alpha: uniform noise on the input embeddings while training (0: none)")
    ap.add_argument("--phrases", action=argparse.BooleanOptionalAction, default=TrainSettings().copy_phrases,
                    help="copy variants of phrases too (train.copy_phrases: a ticket's title among the tool's calls)")
    ap.add_argument("--seed", type=int, default=0, help="the training's seed (step order, LoRA init)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    home = Path(os.environ.get("EDGELEARN_HOME") or Path(tempfile.gettempdir()) / "edgelearn-bench")
    cfg = TrainSettings(epochs=a.epochs, learning_rate=a.lr, max_seq_len=a.seq, batch_size=a.batch, rank=a.rank,
                        alpha=2 * a.rank, dropout=a.dropout)
    prep = PeftBackend().prepare(hf_directory(resolve_base(""), home / "cache"), cfg)
    tok, eot = prep.tokenizer, D.end_of_turn_ids(prep.tokenizer)
    train = rows(not a.no_code)
    words = spelled_words(tok, a.vocab, frozenset(TP.heldout_words()))
    train += copy_variants(train, a.copies, 0, words, phrases=a.phrases)
    enc, dropped = D.encode_all(tok, train, a.seq, eot)
    print(f"rows {len(train)} ({sum(1 for r in train if r.get('tools'))} with tools), dropped {dropped}, "
          f"tokens {sum(len(e.ids) for e in enc)}, load {os.getloadavg()[0]:.1f}", flush=True)
    started = time.monotonic()
    if a.neftune:
        prep.model.get_input_embeddings().register_forward_hook(neftune_hook(a.neftune))
    if not a.base:
        st = train_lora(prep.model, enc, batch_size=a.batch, epochs=a.epochs, lr=a.lr, seed=a.seed, max_row=a.seq,
                        device=prep.device, pack=prep.pack, autocast=prep.autocast)
        print(f"trained {st.steps} steps in {st.train_s:.0f} s, {st.tokens_per_s:.0f} tokens/s, final loss "
              f"{st.final_loss:.3f}, load {os.getloadavg()[0]:.1f}", flush=True)
    model = prep.model.eval()
    with model.disable_adapter() if a.base else contextlib.nullcontext():
        tasks = TP.load_tool_pack()
        held = [t for t in tasks if t.split == "heldout"]
        print(f"held-out tool calls {tool_accuracy(model, tok, eot, prep.device, held, True)}/{len(held)}")
        lead = margins(model, tok, eot, prep.device, held)
        print(f"held-out smallest lead per task (nats): mean {sum(min(x, 5.0) for x in lead) / len(lead):.2f} "
              f"(each capped at 5), under 1 nat: {sum(x < 1 for x in lead)}, "
              f"lowest: {', '.join(f'{x:.2f}' for x in sorted(lead)[:4])}")
        seen = [t for t in tasks if t.split == "train"]
        print(f"train tool calls {tool_accuracy(model, tok, eot, prep.device, seen, False)}/{len(seen)}")
        if a.code_eval:
            code = [t for t in load_pack() if t.split == "heldout"]
            prompts = [D.prompt_ids(tok, [{"role": "system", "content": SYSTEM_PROMPT},
                                          {"role": "user", "content": t.prompt}]) for t in code]
            solved = sum(r.total > 0 and r.passed == r.total for r in
                         (check(t, tok.decode(g.tokens, skip_special_tokens=True))
                          for t, g in zip(code, greedy(model, prompts, 64, eot, prep.device))))
            print(f"held-out code {solved}/{len(code)}")
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
