"""Turning a stored run into a training example, in each dataset format.

Every format starts from the same conversation: the run's input (plain text becomes one user
message; a JSON list of chat messages is kept as it is, system prompt included), else its
task, then the run's output as the assistant's answer. Roles are reduced to the three every
chat template knows (``developer`` → system, tool results → user).

    messages    {"messages": [...], "run_id", "role", "reward", "check"}   (TRL, Unsloth, HF datasets)
    alpaca      {"instruction", "input", "output", "system", "run_id", "role", "reward", "check"}
    completion  {"prompt", "completion", "run_id", "role", "reward", "check"}
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

Conversation = list[dict[str, str]]

_ROLE_MAP = {"system": "system", "developer": "system", "user": "user", "human": "user",
             "assistant": "assistant", "model": "assistant", "ai": "assistant"}
_TOOL_ROLES = {"tool", "function", "ipython"}
_TITLES = {"system": "System", "user": "User", "assistant": "Assistant"}


class NotAnExample(ValueError):
    """A run that cannot become an example (the reason is the message)."""


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text parts
        parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
        return "\n".join(p for p in parts if p)
    return str(content)


def _message(raw: dict[str, Any]) -> dict[str, str] | None:
    role = str(raw.get("role", "")).lower()
    content = _content_text(raw.get("content"))
    if role in _TOOL_ROLES:
        role, content = "user", f"Tool result:\n{content}"
    role = _ROLE_MAP.get(role, "user")
    if not content.strip():
        return None  # e.g. an assistant turn that only called tools
    return {"role": role, "content": content}


def _input_messages(raw: str | None) -> Conversation:
    if raw is None or not raw.strip():
        return []
    if raw.lstrip()[:1] == "[":
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, list) and all(isinstance(m, dict) and "role" in m for m in data):
            return [m for m in (_message(d) for d in data) if m is not None]
    return [{"role": "user", "content": raw}]


def conversation(input_raw: str | None, task: str | None, output: str) -> Conversation:
    """The run as chat messages ending with the assistant's output; raises NotAnExample."""
    if not output.strip():
        raise NotAnExample("empty output")
    messages = _input_messages(input_raw)
    if not any(m["role"] == "user" for m in messages):
        if not task or not task.strip():
            raise NotAnExample("no user message and no task")
        messages.append({"role": "user", "content": task})
    return [*messages, {"role": "assistant", "content": output}]


def check_of(metadata_json: str | None) -> dict[str, Any] | None:
    """The run's replayable check (metadata key ``check``) when it is an object."""
    if not metadata_json:
        return None
    try:
        meta = orjson.loads(metadata_json)
    except orjson.JSONDecodeError:
        return None
    check = meta.get("check") if isinstance(meta, dict) else None
    return check if isinstance(check, dict) else None


def _transcript(messages: Conversation) -> str:
    return "\n\n".join(f"{_TITLES[m['role']]}: {m['content']}" for m in messages)


def to_messages(conv: Conversation, meta: dict[str, Any]) -> dict[str, Any]:
    return {"messages": conv, **meta}


def to_alpaca(conv: Conversation, meta: dict[str, Any]) -> dict[str, Any]:
    *prompt, answer = conv
    lead = 0
    while lead < len(prompt) and prompt[lead]["role"] == "system":
        lead += 1
    system = "\n\n".join(m["content"] for m in prompt[:lead])
    rest = prompt[lead:]
    last_user = max(i for i, m in enumerate(rest) if m["role"] == "user")
    history = rest[:last_user] + rest[last_user + 1:]
    return {"instruction": rest[last_user]["content"], "input": _transcript(history), "output": answer["content"],
            "system": system, **meta}


def to_completion(conv: Conversation, meta: dict[str, Any]) -> dict[str, Any]:
    *prompt, answer = conv
    return {"prompt": _transcript(prompt) + "\n\nAssistant:", "completion": " " + answer["content"], **meta}


FORMATS: dict[str, Callable[[Conversation, dict[str, Any]], dict[str, Any]]] = {
    "messages": to_messages,
    "alpaca": to_alpaca,
    "completion": to_completion,
}


def example(fmt: str, conv: Conversation, *, run_id: str, role: str, reward: float,
            check: dict[str, Any] | None) -> dict[str, Any]:
    """One line of a dataset file in format ``fmt``."""
    return FORMATS[fmt](conv, {"run_id": run_id, "role": role, "reward": reward, "check": check})
