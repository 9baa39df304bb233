"""One training job from base model to gated artifacts (runs inside the training child).

load base → encode data → validation loss of the base → train → validation loss of the adapter
→ save the PEFT adapter → reference generations → adapter GGUF + merged GGUF → parity gate
→ optional check-based evaluation → report.json. Everything is written into the job's ``out/``
directory; publishing (the rename into ``<home>/artifacts/``) is the child's last step.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Protocol

from edgelearn.config import TrainSettings
from edgelearn.errors import ExportError, TrainingError
from edgelearn.train.spec import JobSpec
from edgelearn.train.trainer import StepInfo


class Context(Protocol):
    def stage(self, name: str) -> None: ...
    def step(self, info: StepInfo) -> None: ...
    def should_stop(self) -> bool: ...


def run_job(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    """Run the job described by ``spec``; returns the report (also written to out/report.json).

    Raises TrainingError / ExportError (the parity gate) with the reason; the report of a
    failed gate is still written so the reason can be inspected.
    """
    import torch

    from edgelearn.train import data as D
    from edgelearn.train.augment import copy_variants, spelled_words
    from edgelearn.train.base import hf_directory, resolve_base
    from edgelearn.train.trainer import eval_loss, train_lora

    cfg = TrainSettings.model_validate(spec.train)
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    out = spec.out_dir
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.monotonic() - clock, 2)
        clock = time.monotonic()

    ctx.stage("loading")
    base = resolve_base(spec.base_model)
    backend = _backend(spec)
    scratch = None if cfg.cache_base else spec.job_dir / "hf"
    hf_dir = hf_directory(base, Path(spec.home) / "cache", scratch=scratch)
    prep = backend.prepare(hf_dir, cfg)
    tok = prep.tokenizer
    eot = D.end_of_turn_ids(tok)
    train_ex = D.read_examples(Path(spec.dataset_dir) / "train.jsonl")
    val_ex = D.read_examples(Path(spec.dataset_dir) / "val.jsonl")
    words = (spelled_words(tok, cfg.copy_words, frozenset(w.lower() for w in cfg.copy_exclude))
             if cfg.copy_variants and any(ex["messages"][-1].get("tool_calls") for ex in train_ex) else ())
    variants = copy_variants(train_ex, cfg.copy_variants, cfg.seed, words, phrases=cfg.copy_phrases)
    train_enc, dropped = D.encode_all(tok, train_ex + variants, cfg.max_seq_len, eot)
    val_enc, _ = D.encode_all(tok, val_ex, cfg.max_seq_len, eot)
    if not train_enc:
        raise TrainingError(f"no training example of {spec.dataset_dir} has an answer within "
                            f"train.max_seq_len={cfg.max_seq_len} tokens")
    lap("loading")

    ctx.stage("evaluating")
    with prep.model.disable_adapter():
        base_loss = eval_loss(prep.model, val_enc, device=prep.device, pack=prep.pack, autocast=prep.autocast)
    lap("base_val_loss")

    ctx.stage("training")
    stats = train_lora(prep.model, train_enc, batch_size=cfg.batch_size, epochs=cfg.epochs, lr=cfg.learning_rate,
                       seed=cfg.seed, max_row=cfg.max_seq_len, device=prep.device, pack=prep.pack,
                       autocast=prep.autocast, on_step=ctx.step, should_stop=ctx.should_stop)
    lap("training")
    ctx.stage("evaluating")
    adapter_loss = eval_loss(prep.model, val_enc, device=prep.device, pack=prep.pack, autocast=prep.autocast)
    prep.model.save_pretrained(out / "peft")
    tok.save_pretrained(out / "peft")
    precision = str(prep.autocast or "float32").removeprefix("torch.")
    device = prep.device
    del prep
    gc.collect()
    # the parity reference: the saved adapter on the float32 base, the weights the GGUFs carry
    from edgelearn.train import reference as R

    def prompt_of(ex: dict) -> list[int]:
        return D.prompt_ids(tok, ex["messages"][:-1], D.example_tools(ex))

    prompts, from_val = R.pick_prompts((prompt_of(ex) for ex in val_ex), (prompt_of(ex) for ex in train_ex),
                                       cfg.parity_prompts, cfg.max_seq_len)
    from edgelearn.train.gate import tool_cases, tool_examples

    with_calls = tool_examples(val_ex, train_ex)
    tool_prompts = [prompt_of(ex) for ex in with_calls]
    # one pass over every distinct prompt: the tool examples are often parity prompts already
    distinct = list(dict.fromkeys(map(tuple, prompts + tool_prompts)))
    reference = R.reference_model(hf_dir, out / "peft", device)
    answers, forks = R.greedy_forks(reference, [list(p) for p in distinct], cfg.parity_max_tokens, eot, device)
    at = {p: i for i, p in enumerate(distinct)}
    refs = [answers[at[tuple(p)]] for p in prompts]
    tools = tool_cases(with_calls, [answers[at[tuple(p)]] for p in tool_prompts], eot, tok,
                       [forks[at[tuple(p)]] for p in tool_prompts])
    del reference
    gc.collect()
    lap("adapter_val_loss_and_references")

    from edgelearn.gguf.adapter import load_peft_adapter, write_adapter_gguf
    from edgelearn.gguf.merge import merge_gguf

    ctx.stage("exporting")
    adapter = load_peft_adapter(out / "peft")
    adapter_info = write_adapter_gguf(adapter, base.gguf, out / "adapter.gguf")
    merge = merge_gguf(base.gguf, adapter, out / "merged.gguf", quant=spec.merged_quant)
    lap("export")

    from edgelearn.train.gate import evaluate_checks, gate_artifacts

    ctx.stage("parity")
    parity, samples = gate_artifacts(spec, cfg, base.gguf, out, prompts, refs, eot, tok, tools)
    lap("parity")
    report: dict[str, Any] = {
        "job_id": spec.job_id, "role": spec.role, "created_at": time.time(),
        "base_model": {"gguf": str(base.gguf), "arch": base.arch, "hf_dir": str(base.hf_dir) if base.hf_dir else None},
        "dataset": {"version": spec.dataset_version, "dir": spec.dataset_dir, "train_examples": len(train_enc),
                    "copy_variants": len(variants),
                    "val_examples": len(val_enc), "dropped_too_long": dropped,
                    "parity_prompts": {"validation": from_val, "training": len(prompts) - from_val}},
        "backend": backend.name, "device": device, "precision": precision, "train_config": cfg.model_dump(),
        "training": {"steps": stats.steps, "examples": stats.examples, "tokens": stats.tokens,
                     "seconds": round(stats.train_s, 2), "tokens_per_s": round(stats.tokens_per_s, 1),
                     "final_loss": round(stats.final_loss, 4), "mean_loss": round(stats.mean_loss, 4)},
        "val_loss": {"base": _round(base_loss), "adapter": _round(adapter_loss)},
        "parity": {name: r.summary() for name, r in parity.items()},
        "artifacts": {"peft": "peft", "adapter_gguf": "adapter.gguf", "merged_gguf": "merged.gguf",
                      "merged_quant": spec.merged_quant, "adapter_bytes": adapter_info["bytes"],
                      "merged_bytes": merge.bytes, "merged_f16_fallbacks": merge.f16_fallbacks},
        "samples": samples, "eval": {}, "timings": timings,
    }
    report["parity"]["passed"] = all(r.passed for r in parity.values())
    failed = [r.reason for r in parity.values() if not r.passed]
    if not failed:
        ctx.stage("evaluating")
        report["eval"] = evaluate_checks(spec, cfg, base.gguf, out, val_ex, eot, tok)
        lap("eval")
    _write_json(out / "report.json", report)
    if failed:
        raise ExportError("parity gate failed: " + "; ".join(failed))
    return report


def _backend(spec: JobSpec):
    from edgelearn.train.backends import get_backend

    backend = get_backend(spec.backend)
    if spec.backend == "unsloth" and spec.backend_requested == "auto":
        try:
            backend.check()
            import unsloth  # noqa: F401
        except (TrainingError, ImportError, NotImplementedError, RuntimeError):
            return get_backend("peft")  # auto never fails for want of Unsloth
    return backend


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
