"""The parity gate: does an exported GGUF reproduce the trained model's greedy output and stop?

The reference is the trained (PEFT) model's greedy continuation of each validation prompt, as
token ids; the artifact (base GGUF + adapter GGUF, or the merged GGUF) runs in llama.cpp on
the very same prompt token ids. Per artifact:

- ``exact_match``: share of prompts whose first ``n_tokens`` generated tokens equal the
  reference's (free-running greedy generation, the strict measure);
- ``token_agreement``: share of the reference's first ``n_tokens`` tokens that the artifact
  ranks first when fed the reference prefix (teacher forcing: one divergence does not cascade);
- ``match``: share of prompts where, under teacher forcing, every one of the first
  ``n_tokens`` positions agrees or is a numerical near-tie: the reference token scores within
  ``tie_margin`` logits of the artifact's top token. This is the gated measure. The trained
  model runs float32 over dequantized weights while llama.cpp multiplies quantized weights by
  quantized activations, so near-ties can flip (measured on the base model alone: every
  disagreement had a gap under 0.25 logits); export bugs (wrong row order, adapter not applied,
  wrong scale) disagree by whole logits on many positions;
- ``stop_rate``: among prompts where the reference ended its turn within ``max_tokens``, the
  share where the artifact's free-running generation also ended with an end-of-turn token
  within ``max_tokens``, and where it ranks end-of-turn first (or within the margin) at the
  reference's stopping point.

Tool-call examples are also checked the way an agent meets the artifact (``check_tool_parity``):
the conversation goes through embedded serving (the GGUF's own chat template and ``serve.tools``,
the parser on the output), and the calls that come back must equal the trained model's calls,
name and arguments compared as JSON. The token comparison above feeds both sides the same prompt
ids, so it cannot see a wrong chat template in the export; this check can. A served call that differs
is still accepted, and counted as a near-tie, only when the trained model itself hesitated where the
two texts part: at the token where the served text takes the trained model's runner-up instead of
its own token (at or before the first differing character), that token's log-probability was within
``tie_margin`` of the runner-up's (``Fork``, ``ToolCase.parting_gap``). A broken export parts where
the trained model was sure, so it still fails; a mismatch names the gap where there was one. The
gate lets one of its 8 tool examples differ (``parity_min_tool_match``): a trained model unsure how
to spell a name it never saw (``roll-elimiter`` against ``ratelimiter``, 0.82 log-probability apart)
may be outvoted by a quantized export, and a broken export gets none right.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgelearn.cpu import avoid_amx
from edgelearn.errors import BackendUnavailable, ExportError


@dataclass
class Generation:
    """Greedy output as token ids; ``stopped`` when it ended with an end-of-turn token."""

    tokens: list[int]
    stopped: bool


@dataclass
class PromptParity:
    exact: bool
    prefix: int  # leading tokens equal in free-running generation
    agreement: float  # teacher-forced top-1 agreement over the first n tokens
    near_tie_only: bool  # every teacher-forced disagreement was a near-tie
    max_gap: float  # largest gap (logits) of a disagreement, 0 when none
    ref_stopped: bool
    stopped: bool
    stop_forced: bool  # end-of-turn ranked first (or within the margin) where the reference stopped
    tokens: list[int] = field(default_factory=list)


@dataclass
class ParityResult:
    """One artifact's parity with the trained model, and whether it passes the gate."""

    artifact: str
    prompts: int
    exact_match: float
    token_agreement: float
    match: float
    stop_rate: float | None
    passed: bool
    reason: str | None
    details: list[PromptParity]
    tool_calls: ToolParity | None = None

    def summary(self) -> dict:
        """The figures without per-prompt details (for the job's metrics)."""
        out = asdict(self)
        out.pop("details")
        return out

    def add_tool_parity(self, tools: ToolParity) -> None:
        """Gate on the tool-call check too: a mismatch fails the artifact."""
        self.tool_calls = tools
        if not tools.passed:
            self.passed = False
            self.reason = "; ".join(r for r in (self.reason, tools.reason) if r)


Calls = list[tuple[str, Any]]


@dataclass
class Fork:
    """One token of the trained model's answer: where its text starts in the answer, the text, its
    runner-up's text and the log-probability gap between them (top-1 minus top-2)."""

    start: int
    text: str
    alt: str
    gap: float


@dataclass
class ToolCase:
    """A tool-call example for the gate: the conversation before the answer, the tools offered, the
    calls the trained model made (name, arguments), and (for the near-tie rule) its answer's text and
    token forks; without them a differing call is always a mismatch."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    expected: Calls
    text: str = ""
    forks: list[Fork] = field(default_factory=list)

    def parting_gap(self, got: str) -> float | None:
        """The trained model's gap at the token where ``got`` leaves its answer for the runner-up, or
        None when ``got`` takes no runner-up there. That token starts at or before the first differing
        character and its runner-up reaches past it: the tokens may part before the characters do
        (trained ``che`` + ``st``, served ``check`` + ``out``: they part at ``che``, where the runner-up
        was ``check``). Where several tokens qualify, the smallest gap."""
        at = next((i for i, (a, b) in enumerate(zip(self.text, got)) if a != b), min(len(self.text), len(got)))
        gaps = [f.gap for f in self.forks if f.alt and f.start <= at < f.start + len(f.alt)
                and got[:f.start] == self.text[:f.start] and got[f.start:].startswith(f.alt)]
        return min(gaps, default=None)

    def near_tie(self, got: str, margin: float) -> bool:
        """Whether ``got`` parts from the trained answer at a token where the trained model's top two
        were within ``margin`` and ``got`` takes the runner-up."""
        gap = self.parting_gap(got)
        return gap is not None and gap <= margin


@dataclass
class ToolParity:
    """Whether an artifact, served, makes the trained model's tool calls."""

    artifact: str
    cases: int
    with_calls: int  # cases where the trained model made a call
    equal: int
    passed: bool
    reason: str | None
    mismatches: list[dict[str, Any]] = field(default_factory=list)  # the first few: expected and got
    near_ties: int = 0  # differing calls accepted because the trained model was itself at a near-tie there
    ties: list[dict[str, Any]] = field(default_factory=list)  # the first few of those: expected, got, gap


def call_signature(text: str) -> Calls:
    """(name, arguments as JSON values) of each call in a model's output text, as serving parses it."""
    from edgelearn.serve.tools import parse_tool_calls

    _, calls = parse_tool_calls(text)
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


def check_tool_parity(artifact: str, generate: Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], str],
                      cases: list[ToolCase], *, min_match: float, tie_margin: float = 0.0) -> ToolParity:
    """Serve every case through ``generate(messages, tools) -> output text`` and compare its calls with
    the trained model's; passes when the share of equal cases, near-ties included (``ToolCase.near_tie``
    under ``tie_margin``), reaches ``min_match`` (or there is none)."""
    equal, ties, mismatches, tied = 0, 0, [], []
    for case in cases:
        text = generate(case.messages, case.tools)
        got = call_signature(text)
        if got == case.expected:
            equal += 1
            continue
        gap = case.parting_gap(text)  # None: not at one of the trained model's runner-ups
        if gap is not None and gap <= tie_margin:
            ties += 1
            if len(tied) < 5:
                tied.append({"expected": case.expected, "got": got, "gap": gap})
        elif len(mismatches) < 5:
            mismatches.append({"expected": case.expected, "got": got, "gap": gap})
    n = len(cases)
    passed = n == 0 or (equal + ties) / n >= min_match
    reason = None if passed else (f"{artifact}: served with tools, it makes the trained model's tool calls on only "
                                  f"{equal} of {n} examples, {ties} more at near-ties (need {min_match:.0%}; first mismatch: expected "
                                  f"{mismatches[0]['expected']}, got {mismatches[0]['got']}{_gap_note(mismatches[0]['gap'])})")
    return ToolParity(artifact, n, sum(1 for c in cases if c.expected), equal, passed, reason, mismatches, ties, tied)


def _gap_note(gap: float | None) -> str:
    return (", not at a runner-up of the trained model" if gap is None
            else f", at a runner-up {gap:.2f} log-probability below the trained model's token")


class ServedModel:
    """A GGUF (and adapter) behind the embedded backend, greedy: what the gateway would answer."""

    def __init__(self, model_path: Path | str, lora_path: Path | str | None = None, *, n_ctx: int, n_threads: int,
                 max_tokens: int) -> None:
        from edgelearn.serve.backends import Target
        from edgelearn.serve.llamacpp import EmbeddedBackend

        self.backend = EmbeddedBackend(cache_size=1, n_threads=n_threads, n_ctx=n_ctx)
        self.target = Target("parity", model_path=str(model_path), lora_path=str(lora_path) if lora_path else None)
        self.max_tokens = max_tokens

    def __call__(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        from edgelearn.serve.backends import GenerateRequest

        request = GenerateRequest(messages=messages, tools=tools, max_tokens=self.max_tokens, temperature=0.0, seed=0)
        return "".join(chunk.text for chunk in self.backend.stream(self.target, request))


class LlamaRunner:
    """One llama.cpp model (optionally with a LoRA adapter) for greedy and teacher-forced runs.

    Decoding is done here (evaluate, take the argmax) rather than through a sampler so both
    runs read the same logits: the prompt is evaluated in one batch, then one token at a time,
    exactly as llama.cpp's own greedy generation does.
    """

    def __init__(self, model_path: Path | str, lora_path: Path | str | None = None, *, n_ctx: int,
                 n_threads: int) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise BackendUnavailable("llama-cpp-python is not installed: pip install llama-cpp-python") from exc
        self._api = llama_cpp
        avoid_amx()
        try:
            # n_threads_batch defaults to every core: on a busy machine its spinning threads made a
            # 40-token prompt take 7 s instead of 0.2 s, so it follows n_threads
            self.llm = llama_cpp.Llama(model_path=str(model_path), lora_path=str(lora_path) if lora_path else None,
                                       n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                                       n_batch=min(512, n_ctx), verbose=False)
        except (ValueError, RuntimeError) as exc:
            what = f"{model_path}" + (f" with adapter {lora_path}" if lora_path else "")
            raise ExportError(f"llama.cpp cannot load {what}: {exc}") from exc
        self.n_vocab = self.llm.n_vocab()

    def _logits(self) -> np.ndarray:
        ptr = self._api.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def _start(self, prompt: list[int]) -> np.ndarray:
        """Evaluate ``prompt``, keeping what it shares with the context's tokens (an agent's prompts
        share their system turn and tool schemas), as llama.cpp's server and llama-cpp-python's chat
        completions do; the logits after its last token."""
        held = self.llm.input_ids[:self.llm.n_tokens]
        keep = 0
        limit = min(len(held), len(prompt) - 1)  # the last token is always evaluated: its logits are read
        while keep < limit and held[keep] == prompt[keep]:
            keep += 1
        self.llm.n_tokens = keep  # eval drops the cache past n_tokens
        self.llm.eval(prompt[keep:])
        return self._logits()

    def greedy(self, prompt: list[int], max_tokens: int, stop_ids: list[int]) -> Generation:
        """Greedy continuation of ``prompt`` (temperature 0, no penalties), cut after an end-of-turn."""
        logits = self._start(prompt)
        out: list[int] = []
        while len(out) < max_tokens:
            tok = int(logits.argmax())
            out.append(tok)
            if tok in stop_ids:
                return Generation(out, True)
            self.llm.eval([tok])
            logits = self._logits()
        return Generation(out, False)

    def forced(self, prompt: list[int], reference: list[int]) -> tuple[list[int], list[float]]:
        """Fed the prompt and the reference prefix, the artifact's top token before each reference
        token, and by how many logits that top token beats the reference token (0 where equal).

        The reference is fed one token at a time, as decoding feeds it: evaluated in one batch,
        llama.cpp's logits differed from those by up to 0.4 (of ~40) on the bundled base."""
        logits = self._start(prompt)
        tops, gaps = [], []
        for i, tok in enumerate(reference):
            top = int(logits.argmax())
            tops.append(top)
            gaps.append(float(logits[top] - logits[tok]))
            if i + 1 < len(reference):
                self.llm.eval([tok])
                logits = self._logits()
        return tops, gaps

    def close(self) -> None:
        self.llm.close()


def compare_prompt(ref: Generation, runner: LlamaRunner, prompt: list[int], *, n_tokens: int, max_tokens: int,
                   tie_margin: float, stop_ids: list[int]) -> PromptParity:
    """Parity of one prompt: teacher-forced along the reference, and free-running where they differ."""
    tops, gaps = runner.forced(prompt, ref.tokens)
    if tops == ref.tokens:
        got = ref  # same logits at every step, so free-running greedy reproduces the reference exactly
    else:
        got = runner.greedy(prompt, max_tokens, stop_ids)
    head_ref, head_got = ref.tokens[:n_tokens], got.tokens[:n_tokens]
    prefix = next((i for i, (a, b) in enumerate(zip(head_ref, head_got)) if a != b), min(len(head_ref), len(head_got)))
    head_gaps = [g for t, r, g in zip(tops[:n_tokens], head_ref, gaps) if t != r]
    stop_forced = True
    if ref.stopped:  # where the reference ended its turn, does the artifact rank end-of-turn first (or nearly)?
        stop_forced = tops[-1] in stop_ids or gaps[-1] <= tie_margin
    return PromptParity(
        exact=head_ref == head_got, prefix=prefix,
        agreement=(len(head_ref) - len(head_gaps)) / len(head_ref) if head_ref else 1.0,
        near_tie_only=all(g <= tie_margin for g in head_gaps), max_gap=round(max(head_gaps, default=0.0), 4),
        ref_stopped=ref.stopped, stopped=got.stopped, stop_forced=stop_forced, tokens=got.tokens)


def check_parity(artifact: str, runner: LlamaRunner, prompts: list[list[int]], references: list[Generation], *,
                 n_tokens: int, max_tokens: int, stop_ids: list[int], tie_margin: float, min_match: float,
                 min_stop: float) -> ParityResult:
    """Run ``runner`` on every prompt and compare it with the references; decide the gate."""
    # in token order, so prompts that begin alike follow each other and share the evaluated prefix
    done = {i: compare_prompt(references[i], runner, prompts[i], n_tokens=n_tokens, max_tokens=max_tokens,
                              tie_margin=tie_margin, stop_ids=stop_ids)
            for i in sorted(range(len(prompts)), key=lambda i: prompts[i])}
    details = [done[i] for i in range(len(prompts))]
    n = len(details)
    stoppers = [d for d in details if d.ref_stopped]
    stop_rate = sum(d.stopped and d.stop_forced for d in stoppers) / len(stoppers) if stoppers else None
    match = sum(d.near_tie_only for d in details) / n if n else 0.0
    reasons = []
    if n == 0:
        reasons.append("no validation prompts to compare")
    if match < min_match:
        worst = max(d.max_gap for d in details)
        reasons.append(f"{artifact}: only {match:.0%} of prompts match the trained model's first {n_tokens} tokens "
                       f"(need {min_match:.0%}; largest logit gap {worst:.2f} > near-tie margin {tie_margin})")
    if stop_rate is not None and stop_rate < min_stop:
        reasons.append(f"{artifact}: ends its turn where the trained model does on only {stop_rate:.0%} of prompts "
                       f"(need {min_stop:.0%}; within {max_tokens} tokens)")
    return ParityResult(
        artifact=artifact, prompts=n, exact_match=round(sum(d.exact for d in details) / n, 4) if n else 0.0,
        token_agreement=round(sum(d.agreement for d in details) / n, 4) if n else 0.0, match=round(match, 4),
        stop_rate=None if stop_rate is None else round(stop_rate, 4), passed=not reasons,
        reason="; ".join(reasons) or None, details=details)
