"""Runs with tools: their calls checked, their trajectory kept in OpenAI form, long ones fitted.

A gateway run keeps the tools it offered (``metadata.chat.tools``) and its answer as an assistant
message (``metadata.chat.output``: text, ``tool_calls`` or both). Such a run becomes a row
``{"messages": [...], "tools": "<JSON text>"}``, the shape TRL's SFT trainer reads (it parses a
``tools`` string as JSON; a string keeps HF ``datasets`` from unifying different schemas into one
Arrow struct). Messages stay in OpenAI form: earlier assistant ``tool_calls`` (arguments as JSON
text) and ``role: "tool"`` results (cut by ``serve.tools.truncate_result``, as serving cuts them)
are kept; the last message is the run's own answer, the only turn that carries loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from edgelearn.serve.tools import TOOL_RESULT_CHARS, content_text, render_chat, truncate_result

INVALID_JSON = "tool_call_invalid_json"
NOT_OFFERED = "tool_not_offered"
FAILED = "tool_call_failed"
TOO_LONG = "too_long"
BELOW_TOOL_REWARD = "below_tool_min_reward"
REASONS = (INVALID_JSON, NOT_OFFERED, FAILED, TOO_LONG, BELOW_TOOL_REWARD)

_ROLES = {"system": "system", "developer": "system", "user": "user", "human": "user",
          "assistant": "assistant", "model": "assistant", "ai": "assistant", "tool": "tool", "function": "tool"}
# what an agent's tool result looks like when the call failed (first characters, lower-cased)
_ERROR_STARTS = ("error", "traceback", "exception", "fatal:", "failed", "command failed", "tool error")

TokenCount = Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], int]


class Rejected(ValueError):
    """A tool run that must not become an example; ``reason`` is the rejection report's key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class ToolRun:
    """What a run's metadata says about tools: offered tools and the answer's calls."""

    tools: list[dict[str, Any]] | None
    calls: list[dict[str, Any]]

    @property
    def is_tool_run(self) -> bool:
        return bool(self.tools or self.calls)

    def names(self) -> list[str]:
        """The called tools' names, in order."""
        return [str((c.get("function") or {}).get("name", "")) for c in self.calls]


def tool_run(metadata_json: str | None) -> ToolRun:
    """The tools offered and the calls made, from a run's metadata (empty for a plain run)."""
    try:
        meta = orjson.loads(metadata_json) if metadata_json else {}
    except orjson.JSONDecodeError:
        meta = {}
    chat = meta.get("chat") if isinstance(meta, dict) else None
    if not isinstance(chat, dict):
        return ToolRun(None, [])
    tools = chat.get("tools") if isinstance(chat.get("tools"), list) else None
    output = chat.get("output") if isinstance(chat.get("output"), dict) else {}
    calls = [c for c in output.get("tool_calls") or [] if isinstance(c, dict)]
    return ToolRun(tools or None, calls)


def calls_key(calls_json: str | None) -> str:
    """The calls as compared for duplicates: names and arguments (canonical JSON), ids left out."""
    if not calls_json:
        return ""
    try:
        calls = orjson.loads(calls_json)
    except orjson.JSONDecodeError:
        return calls_json
    out = []
    for call in calls if isinstance(calls, list) else []:
        function = (call.get("function") or {}) if isinstance(call, dict) else {}
        arguments = function.get("arguments")
        try:
            arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            pass
        out.append([function.get("name"), arguments])
    return json.dumps(out, sort_keys=True, ensure_ascii=False)


def answer_text(output: str, calls_json: str | None) -> str:
    """An answer's text and calls, as near-duplicate detection compares them."""
    key = calls_key(calls_json)
    return f"{output}\n{key}" if key else output


def check_calls(run: ToolRun) -> None:
    """``Rejected`` when a call's arguments are not a JSON object or it names a tool not offered."""
    offered = {str((t.get("function") or {}).get("name")) for t in run.tools or [] if isinstance(t, dict)}
    for call in run.calls:
        function = call.get("function") or {}
        name, arguments = function.get("name"), function.get("arguments")
        try:
            value = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            raise Rejected(INVALID_JSON, f"arguments of {name!r} are not JSON") from None
        if not isinstance(value, dict):
            raise Rejected(INVALID_JSON, f"arguments of {name!r} are not a JSON object")
        if name not in offered:
            raise Rejected(NOT_OFFERED, f"{name!r} was not among the tools offered ({', '.join(sorted(offered))})")


def is_error_result(message: dict[str, Any]) -> bool:
    """Whether a ``role: "tool"`` message reports that the call failed."""
    if message.get("is_error") is True:
        return True
    text = content_text(message.get("content")).strip()
    if text[:1] == "{":
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict) and (value.get("error") or value.get("is_error") is True):
            return True
    return text.lower().startswith(_ERROR_STARTS)


class SessionResults:
    """The tool results later runs of some sessions carry: call id → (seq and session of the first run
    that carried it, whether it reports an error)."""

    def __init__(self, rows: list[tuple[int, str, str]]) -> None:
        self.results: dict[str, tuple[int, str, bool]] = {}
        for seq, session, raw in rows:
            try:
                messages = orjson.loads(raw) if raw else []
            except orjson.JSONDecodeError:
                continue
            for m in messages if isinstance(messages, list) else []:
                if isinstance(m, dict) and m.get("role") == "tool" and isinstance(m.get("tool_call_id"), str):
                    self.results.setdefault(m["tool_call_id"], (seq, session, is_error_result(m)))

    def failed_call(self, run: ToolRun, seq: int, session: str) -> str | None:
        """The name of a call of ``run`` (run ``seq`` of ``session``) whose result, carried by a later
        run of the same session, is an error; else None."""
        for call in run.calls:
            found = self.results.get(str(call.get("id") or ""))
            if found and found[0] > seq and found[1] == session and found[2]:
                return str((call.get("function") or {}).get("name"))
        return None


# --- the trajectory ------------------------------------------------------------------------------
def _call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {"id": str(call.get("id") or ""), "type": "function",
            "function": {"name": str(function.get("name", "")), "arguments": arguments}}


def _message(raw: dict[str, Any], result_chars: int) -> dict[str, Any] | None:
    role = _ROLES.get(str(raw.get("role", "")).lower(), "user")
    text = content_text(raw.get("content"))
    if role == "tool":
        return {"role": "tool", "content": truncate_result(text, result_chars),
                "tool_call_id": str(raw.get("tool_call_id") or ""), "name": str(raw.get("name") or "")}
    if role == "assistant" and raw.get("tool_calls"):
        return {"role": "assistant", "content": text, "tool_calls": [_call(c) for c in raw["tool_calls"]]}
    if not text.strip():
        return None
    return {"role": role, "content": text}


def trajectory(input_raw: str | None, task: str | None, output: str, run: ToolRun,
               result_chars: int = TOOL_RESULT_CHARS) -> list[dict[str, Any]]:
    """The run's messages in OpenAI form, ending with its answer (text, tool calls or both)."""
    messages: list[dict[str, Any]] = []
    data = None
    if input_raw and input_raw.lstrip()[:1] == "[":
        try:
            data = orjson.loads(input_raw)
        except orjson.JSONDecodeError:
            data = None
    if isinstance(data, list):
        messages = [m for m in (_message(d, result_chars) for d in data if isinstance(d, dict)) if m is not None]
    elif input_raw and input_raw.strip():
        messages = [{"role": "user", "content": input_raw}]
    if not any(m["role"] == "user" for m in messages) and task and task.strip():
        messages.append({"role": "user", "content": task})
    if not any(m["role"] == "user" for m in messages):
        raise Rejected("invalid", "no user message and no task")
    answer: dict[str, Any] = {"role": "assistant", "content": output}
    if run.calls:
        answer["tool_calls"] = [_call(c) for c in run.calls]
    return [*messages, answer]


def row_tools(run: ToolRun) -> str:
    """The ``tools`` column: the offered tools as JSON text ("[]" when none)."""
    return json.dumps(run.tools or [], ensure_ascii=False)


# --- long trajectories ---------------------------------------------------------------------------
def _groups(messages: list[dict[str, Any]]) -> tuple[int, list[tuple[int, int]]]:
    """(length of the kept prefix: system messages and the first user message, the middle turns as
    [start, end) ranges: a user message, or an assistant message with the tool results after it)."""
    head = 0
    while head < len(messages) - 1 and messages[head]["role"] == "system":
        head += 1
    if head < len(messages) - 1 and messages[head]["role"] == "user":
        head += 1
    groups, i, last = [], head, len(messages) - 1
    while i < last:
        j = i + 1
        if messages[i]["role"] == "assistant":
            while j < last and messages[j]["role"] == "tool":
                j += 1
        groups.append((i, j))
        i = j
    return head, groups


def rough_fits(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, max_len: int) -> bool:
    """True when the rendered text has no more characters than ``max_len`` (a token is at least one
    character, template markers aside), so no tokenizer is needed to know it fits."""
    rendered = render_chat(messages, tools)
    return sum(len(m["content"]) for m in rendered) + 16 * len(rendered) <= max_len


def fit(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, max_len: int,
        count: TokenCount) -> tuple[list[dict[str, Any]], int]:
    """(messages that fit ``max_len`` tokens, how many middle turns were dropped): the system and tools
    prefix, the task and the last turns stay, whole middle turns go oldest first; the answer is never cut.
    ``Rejected(too_long)`` when even the prefix and the answer do not fit."""
    if rough_fits(messages, tools, max_len) or count(messages, tools) <= max_len:
        return messages, 0
    head, groups = _groups(messages)
    for dropped in range(1, len(groups) + 1):
        keep = [i for g in groups[dropped:] for i in range(*g)]
        candidate = messages[:head] + [messages[i] for i in keep] + messages[-1:]
        if count(candidate, tools) <= max_len:
            return candidate, dropped
    raise Rejected(TOO_LONG, f"longer than max_seq_len={max_len} tokens even with every middle turn dropped")


def token_counter(tokenizer) -> TokenCount:
    """Tokens of a conversation as training renders it (``train.data.render_text``) with ``tokenizer``."""
    from edgelearn.train.data import render_text

    def count(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
        return len(tokenizer(render_text(tokenizer, messages, tools, False), add_special_tokens=False)["input_ids"])

    return count
