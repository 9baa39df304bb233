"""The parity gate's cost on a finished job: the references and the llama.cpp parity runs as the
pipeline does them now, beside how it did them before (both arms in one process, in turn).

- **references**: now one greedy pass in torch over the distinct prompts (the tool examples are often
  parity prompts too), batches never padded past twice a prompt's length, the forks of each tool
  answer read off the logits that chose it. Before: the parity prompts in fixed batches of 16 by
  length, the tool prompts again, then a teacher-forced pass for the forks.
- **parity**: now each ``LlamaRunner`` keeps the prefix a prompt shares with the one before, and
  the gate visits the prompts in token order. Before: every prompt evaluated from scratch, in the
  gate's order. The tool-call check (the embedded backend, with its own prefix cache) is the same
  in both arms and is not timed here.

Both arms must agree: the same reference tokens, and for every artifact the same teacher-forced
tops and gaps (bit for bit: a kept prefix gives the logits of a whole evaluation).

    PYTHONPATH=src .venv/bin/python bench/gate.py --home /tmp/edgelearn-home/demo   # its newest job

Results go to bench/results/gate.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from benchenv import cpu_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def before_references(model, prompts, tool_prompts, max_tokens, eot):
    """The references as the pipeline made them before: two greedy passes in fixed batches, then forks
    teacher-forced."""
    import torch

    from edgelearn.train.reference import _cut

    def greedy(ps):
        order = sorted(range(len(ps)), key=lambda i: len(ps[i]))
        answers = {}
        for start in range(0, len(order), 16):
            chunk = order[start:start + 16]
            width = max(len(ps[i]) for i in chunk)
            ids = torch.tensor([[eot[0]] * (width - len(ps[i])) + ps[i] for i in chunk])
            mask = torch.tensor([[0] * (width - len(ps[i])) + [1] * len(ps[i]) for i in chunk])
            with torch.no_grad():
                out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens, do_sample=False,
                                     repetition_penalty=1.0, eos_token_id=eot, pad_token_id=eot[0])
            for i, row in zip(chunk, out[:, width:].tolist()):
                answers[i] = _cut(row, eot)
        return [answers[i] for i in range(len(ps))]

    refs, tool_refs = greedy(prompts), greedy(tool_prompts)
    for prompt, answer in zip(tool_prompts, tool_refs):  # the teacher-forced forks
        with torch.no_grad():
            model(input_ids=torch.tensor([prompt + answer.tokens]))
    return refs, tool_refs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", required=True, help="an edgelearn home whose artifacts/ holds a finished job")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gate.md"))
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from edgelearn.config import TrainSettings
    from edgelearn.gguf.parity import LlamaRunner
    from edgelearn.train import data as D
    from edgelearn.train import reference as R
    from edgelearn.train.gate import _n_ctx, tool_examples

    torch.set_num_threads(args.threads)
    home = Path(args.home)
    job = max((home / "artifacts").glob("job-*/report.json"), key=os.path.getmtime).parent
    report = json.loads((job / "report.json").read_text())
    cfg = TrainSettings.model_validate(report["train_config"])
    dataset = Path(report["dataset"]["dir"])
    hf = next((home / "cache").glob("hf-*"))
    tok = AutoTokenizer.from_pretrained(job / "peft")
    eot = D.end_of_turn_ids(tok)
    train_ex, val_ex = D.read_examples(dataset / "train.jsonl"), D.read_examples(dataset / "val.jsonl")

    def prompt_of(ex):
        return D.prompt_ids(tok, ex["messages"][:-1], D.example_tools(ex))

    prompts, _ = R.pick_prompts(map(prompt_of, val_ex), map(prompt_of, train_ex), cfg.parity_prompts, cfg.max_seq_len)
    tool_prompts = [prompt_of(ex) for ex in tool_examples(val_ex, train_ex)]
    model = R.reference_model(hf, job / "peft", "cpu")
    t = {}
    start = time.monotonic()
    old_refs, old_tools = before_references(model, prompts, tool_prompts, cfg.parity_max_tokens, eot)
    t["references before"] = time.monotonic() - start
    start = time.monotonic()
    distinct = list(dict.fromkeys(map(tuple, prompts + tool_prompts)))
    answers, _ = R.greedy_forks(model, [list(p) for p in distinct], cfg.parity_max_tokens, eot, "cpu")
    t["references now"] = time.monotonic() - start
    at = {p: i for i, p in enumerate(distinct)}
    refs = [answers[at[tuple(p)]] for p in prompts]
    assert [r.tokens for r in refs] == [r.tokens for r in old_refs], "the two arms' references differ"
    assert [answers[at[tuple(p)]].tokens for p in tool_prompts] == [r.tokens for r in old_tools]
    del model

    class FromScratch(LlamaRunner):
        def _start(self, prompt):
            self.llm.reset()
            self.llm.eval(prompt)
            return self._logits()

    base = report["base_model"]["gguf"]
    n_ctx = _n_ctx(prompts, cfg.parity_max_tokens)
    for name, (model_path, lora) in {"adapter": (base, job / "adapter.gguf"), "merged": (job / "merged.gguf", None)}.items():
        forced = {}
        for arm, cls, order in (("before", FromScratch, range(len(prompts))),
                                ("now", LlamaRunner, sorted(range(len(prompts)), key=lambda i: prompts[i]))):
            runner = cls(model_path, lora, n_ctx=n_ctx, n_threads=args.threads)
            try:
                start = time.monotonic()
                forced[arm] = {i: runner.forced(prompts[i], refs[i].tokens) for i in order}
                t[f"{name} parity {arm}"] = time.monotonic() - start
            finally:
                runner.close()
        assert forced["before"] == forced["now"], f"{name}: a kept prefix changed the logits"

    lines = [
        "# Parity gate: references and llama.cpp parity, now beside before (bench/gate.py)",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, torch "
        f"{torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f} at the end.",
        f"Job: {job.name} of `{home}` ({len(prompts)} parity prompts, {len(tool_prompts)} tool examples, "
        f"{sum(len(p) > 200 for p in prompts)} parity prompts over 200 tokens; the answers up to "
        f"{cfg.parity_max_tokens} tokens).",
        "",
        "| stage | before | now |",
        "| --- | --- | --- |",
        f"| references (torch, float32) | {t['references before']:.1f} s | {t['references now']:.1f} s |",
        f"| adapter parity (llama.cpp, teacher-forced) | {t['adapter parity before']:.1f} s | "
        f"{t['adapter parity now']:.1f} s |",
        f"| merged parity (llama.cpp, teacher-forced) | {t['merged parity before']:.1f} s | "
        f"{t['merged parity now']:.1f} s |",
        "",
        "Both arms gave the same reference tokens and, for each artifact, the same teacher-forced tops and "
        "gaps bit for bit.",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
