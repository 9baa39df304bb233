"""Writing a tool run's line: checks (bad, failed, over-rewarded calls), the trajectory fitted to
``train.max_seq_len``, redaction of contents, call arguments and schemas, per-tool counts.

``export._write`` calls ``tool_line`` for every run that offered tools, made calls, or carries
earlier calls and results in its input (``has_tool_turns``); the rules are in ``curate.tools``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from edgelearn.config import ExportSettings, Settings
from edgelearn.curate import tools as T
from edgelearn.curate.formats import FORMATS, NotAnExample
from edgelearn.record.privacy import Redactor
from edgelearn.serve.tools import render_chat


@dataclass
class ToolTally:
    """What tool rows add to the manifest."""

    tools: dict[str, Counter] = field(default_factory=dict)  # tool name → examples, calls, rejection reasons
    dropped_turns: dict[str, int] = field(default_factory=dict)  # run id → middle turns dropped to fit
    redactions: Counter = field(default_factory=Counter)

    def rejected(self, run: T.ToolRun, reason: str) -> None:
        """Count a rejected run under each tool it called."""
        for name in set(run.names()):
            self.tools.setdefault(name, Counter())[reason] += 1


@dataclass
class Limits:
    """How long a trajectory may be (``train.max_seq_len``) and how it is measured."""

    max_seq_len: int
    count: T.TokenCount


def base_counter(settings: Settings) -> T.TokenCount:
    """Token counts with the base model's tokenizer, loaded on first use."""
    loaded: list[T.TokenCount] = []

    def count(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
        if not loaded:
            from transformers import AutoTokenizer

            from edgelearn.train.base import resolve_base

            base = resolve_base(settings.train.base_model)
            tok = (AutoTokenizer.from_pretrained(str(base.hf_dir)) if base.hf_dir
                   else AutoTokenizer.from_pretrained(str(base.gguf.parent), gguf_file=base.gguf.name))
            loaded.append(T.token_counter(tok))
        return loaded[0](messages, tools)

    return count


def has_tool_turns(input_raw: str | None) -> bool:
    """Whether a run's input (JSON messages) carries earlier tool calls or results."""
    return bool(input_raw) and ('"tool_calls"' in input_raw or '"tool_call_id"' in input_raw)


def session_results(repo, rows: dict[int, tuple]) -> T.SessionResults:
    """The tool results that later runs of these runs' sessions carry (for failed calls)."""
    after: dict[str, int] = {}  # session -> its earliest run here that made calls
    for seq, row in rows.items():
        if row[6] and T.tool_run(row[5]).calls:
            after[row[6]] = min(seq, after.get(row[6], seq))
    return T.SessionResults(repo.tool_result_inputs(after))


def tool_line(results: T.SessionResults, seq: int, session: str | None, input_raw: str | None, task: str | None,
              output: str, run: T.ToolRun, cfg: ExportSettings, red: Redactor | None, out: ToolTally, limits: Limits,
              meta: dict[str, Any]) -> dict[str, Any]:
    """One tool run's line; raises ``T.Rejected`` (a bad or failed call, too long) or NotAnExample."""
    if not output.strip() and not run.calls:
        raise NotAnExample("empty output")
    T.check_calls(run)
    names = run.names()
    floor = max((cfg.tool_min_reward.get(name, 0.0) for name in names), default=0.0)
    if meta["reward"] < floor:
        raise T.Rejected(T.BELOW_TOOL_REWARD, f"reward {meta['reward']} < {floor} (export.tool_min_reward)")
    if session and run.calls:
        failed = results.failed_call(run, seq, session)
        if failed is not None:
            raise T.Rejected(T.FAILED, f"{failed!r} returned an error later in session {session!r}")
    try:
        messages = T.trajectory(input_raw, task, output, run)
    except T.Rejected as exc:
        raise NotAnExample(str(exc)) from exc
    messages, dropped = T.fit(messages, run.tools, limits.max_seq_len, limits.count)
    if dropped:
        out.dropped_turns[meta["run_id"]] = dropped
    if red is not None:
        messages = [redact_message(red, m, out.redactions) for m in messages]
    for name in set(names):
        out.tools.setdefault(name, Counter())["examples"] += 1
    for name in names:
        out.tools[name]["calls"] += 1
    if cfg.format == "messages":
        tools = T.ToolRun(red.any(run.tools) if red is not None and run.tools else run.tools, run.calls)
        return {"messages": [full_message(m) for m in messages], "tools": T.row_tools(tools), **meta}
    return FORMATS[cfg.format](render_chat(messages, run.tools), meta)


def full_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message with every field a tool row's messages have (null when absent): HF ``datasets``
    then reads one Arrow type for the whole column."""
    return {"role": message["role"], "content": message.get("content") or "",
            "tool_calls": message.get("tool_calls"), "tool_call_id": message.get("tool_call_id"),
            "name": message.get("name")}


def redact_message(red: Redactor, message: dict[str, Any], tally: Counter) -> dict[str, Any]:
    """A message with its content and its calls' arguments redacted."""
    out = {**message, "content": redact_text(red, message.get("content") or "", tally)}
    if message.get("tool_calls"):
        out["tool_calls"] = [{**c, "function": {**c["function"],
                                                "arguments": redact_text(red, c["function"]["arguments"], tally)}}
                             for c in message["tool_calls"]]
    return out


def redact_text(red: Redactor, text: str, tally: Counter) -> str:
    clean = red.text(text)
    if clean != text:
        tally.update(kind for kind, _ in red.findings(text))
    return clean
