"""Running the exported GGUFs in llama.cpp: the parity gate, side-by-side samples, check-based eval."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgelearn.gguf.parity import (
    Fork,
    Generation,
    LlamaRunner,
    ParityResult,
    ServedModel,
    ToolCase,
    call_signature,
    check_parity,
    check_tool_parity,
)
from edgelearn.train.evaluate import run_evaluators
from edgelearn.train.spec import JobSpec

SAMPLES = 4


def _n_ctx(prompts: list[list[int]], max_tokens: int) -> int:
    need = max((len(p) for p in prompts), default=0) + max_tokens + 8
    return max(256, -(-need // 64) * 64)


def _threads(cfg) -> int:
    return cfg.threads or os.cpu_count() or 1


TOOL_CASES = 8  # tool-call examples the gate serves through each artifact


def tool_examples(val_ex: list[dict], train_ex: list[dict], limit: int = TOOL_CASES) -> list[dict]:
    """Examples whose answer makes tool calls, validation first, for the tool-call parity check."""
    return [ex for ex in val_ex + train_ex if ex["messages"][-1].get("tool_calls")][:limit]


def tool_cases(examples: list[dict], refs: list[Generation], eot: list[int], tok,
               runner_ups: list[list[tuple[int, float]]] | None = None) -> list[ToolCase]:
    """The trained model's calls (``refs``: its greedy answers) on each tool example, with the forks of
    each answer (``runner_ups``: per token, the runner-up and its log-probability gap) when given."""
    from edgelearn.train.data import example_tools

    cases = []
    for k, (ex, ref) in enumerate(zip(examples, refs)):
        tokens = [t for t in ref.tokens if t not in eot]
        text = tok.decode(tokens, skip_special_tokens=False)
        forks = []
        for i, (alt, gap) in enumerate((runner_ups[k] if runner_ups else [])[:len(tokens)]):
            start = len(tok.decode(tokens[:i], skip_special_tokens=False))
            forks.append(Fork(start, text[start:len(tok.decode(tokens[:i + 1], skip_special_tokens=False))],
                              tok.decode(tokens[:i] + [alt], skip_special_tokens=False)[start:], round(gap, 4)))
        cases.append(ToolCase(ex["messages"][:-1], example_tools(ex), call_signature(text), text, forks))
    return cases


def gate_artifacts(spec: JobSpec, cfg, base_gguf: Path, out: Path, prompts: list[list[int]],
                   refs: list[Generation], eot: list[int], tok,
                   tools: list[ToolCase] | None = None) -> tuple[dict[str, ParityResult], list[dict]]:
    """Parity of the adapter (on the unchanged base) and of the merged GGUF, tool calls served through
    each included; plus a few samples showing the trained model, both artifacts and the bare base side
    by side."""
    n_ctx = _n_ctx(prompts, cfg.parity_max_tokens)
    artifacts = {"adapter": (base_gguf, out / "adapter.gguf"), "merged": (out / "merged.gguf", None)}
    results: dict[str, ParityResult] = {}
    texts: dict[str, list[str]] = {"trained": [tok.decode(r.tokens, skip_special_tokens=True) for r in refs[:SAMPLES]]}
    for name, (model_path, lora) in artifacts.items():
        runner = LlamaRunner(model_path, lora, n_ctx=n_ctx, n_threads=_threads(cfg))
        try:
            results[name] = check_parity(
                name, runner, prompts, refs, n_tokens=cfg.parity_tokens, max_tokens=cfg.parity_max_tokens,
                stop_ids=eot, tie_margin=cfg.parity_tie_margin, min_match=cfg.parity_min_match,
                min_stop=cfg.parity_min_stop)
        finally:
            runner.close()
        if tools:
            served = ServedModel(model_path, lora, n_ctx=cfg.max_seq_len + cfg.parity_max_tokens,
                                 n_threads=_threads(cfg), max_tokens=cfg.parity_max_tokens)
            results[name].add_tool_parity(check_tool_parity(name, served, tools, min_match=cfg.parity_min_tool_match,
                                                             tie_margin=cfg.parity_tie_margin))
            del served
        texts[name] = [tok.decode(d.tokens, skip_special_tokens=True) for d in results[name].details[:SAMPLES]]
    runner = LlamaRunner(base_gguf, n_ctx=n_ctx, n_threads=_threads(cfg))
    try:
        texts["base"] = [tok.decode(runner.greedy(p, cfg.parity_max_tokens, eot).tokens, skip_special_tokens=True)
                         for p in prompts[:SAMPLES]]
    finally:
        runner.close()
    samples = [{"prompt": tok.decode(p, skip_special_tokens=False), **{k: v[i] for k, v in texts.items()}}
               for i, p in enumerate(prompts[:SAMPLES])]
    return results, samples


def evaluate_checks(spec: JobSpec, cfg, base_gguf: Path, out: Path, val_ex: list[dict], eot: list[int],
                    tok) -> dict[str, Any]:
    """Success of base vs adapter (llama.cpp, greedy) on validation examples with replayable checks."""
    if cfg.eval_tasks == 0 or not spec.evaluators:
        return {}
    if not any(isinstance(ex.get("check"), dict) and ex["check"].get("kind") in spec.evaluators for ex in val_ex):
        return {}
    from edgelearn.train.data import example_tools, prompt_ids

    max_tokens = spec.eval_max_tokens
    prompts = [prompt_ids(tok, ex["messages"][:-1], example_tools(ex)) for ex in val_ex]
    n_ctx = _n_ctx(prompts, max_tokens)
    runners = {"base": LlamaRunner(base_gguf, n_ctx=n_ctx, n_threads=_threads(cfg)),
               "adapter": LlamaRunner(base_gguf, out / "adapter.gguf", n_ctx=n_ctx, n_threads=_threads(cfg))}

    def generator(runner: LlamaRunner):
        def generate(messages: list[dict], tools: list[dict] | None = None) -> str:
            return tok.decode(runner.greedy(prompt_ids(tok, messages, tools), max_tokens, eot).tokens,
                              skip_special_tokens=True)
        return generate

    try:
        return run_evaluators(val_ex, spec.evaluators, {k: generator(r) for k, r in runners.items()}, cfg.eval_tasks)
    finally:
        for r in runners.values():
            r.close()
