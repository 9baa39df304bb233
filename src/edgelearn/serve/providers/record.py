"""What a gateway call keeps: the messages in OpenAI form, the output message, finish and usage.

Parsing happens on copies of what was relayed, after the answer (never per chunk on the hot path).
Image and audio data in content parts are replaced by a placeholder with their size and sha256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import orjson

_BLOB_PARTS = {"image_url": ("image_url", "url"), "input_audio": ("input_audio", "data"),
               "file": ("file", "file_data")}


@dataclass
class Output:
    """The assistant's answer as recorded: text, tool calls and reasoning apart; finish; usage."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cached_tokens: int | None = None
    model: str | None = None  # as the provider named it
    error: str | None = None  # an error event inside the stream

    def message(self) -> dict[str, Any]:
        """The output in OpenAI's assistant-message form."""
        out: dict[str, Any] = {"role": "assistant", "content": self.text or (None if self.tool_calls else "")}
        if self.reasoning:
            out["reasoning_content"] = self.reasoning
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        return out

    def take_usage(self, usage: dict[str, Any] | None) -> None:
        if not usage:
            return
        self.tokens_in, self.tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
        details = usage.get("prompt_tokens_details") or {}
        self.cached_tokens = details.get("cached_tokens")


def _placeholder(data: str) -> dict[str, Any]:
    raw = data.encode()
    return {"omitted": True, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


def _part(part: Any) -> Any:
    if not isinstance(part, dict) or part.get("type") not in _BLOB_PARTS:
        return part
    key, field_name = _BLOB_PARTS[part["type"]]
    inner = part.get(key)
    if not isinstance(inner, dict):
        return part
    data = inner.get(field_name)
    if not isinstance(data, str) or (field_name == "url" and not data.startswith("data:")):
        return part  # an http(s) URL is kept: it is small and says where the image was
    return {**part, key: {**{k: v for k, v in inner.items() if k != field_name}, field_name: _placeholder(data)}}


def recorded_messages(messages: Any) -> list[dict[str, Any]] | None:
    """Messages as stored: as sent, with inline image/audio/file data replaced by a placeholder."""
    if not isinstance(messages, list):
        return None
    out = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") in _BLOB_PARTS for p in content):
            message = {**message, "content": [_part(p) for p in content]}
        out.append(message)
    return out


def last_user_text(messages: Any) -> str | None:
    """The task in words: the text of the last user message."""
    for message in reversed(messages if isinstance(messages, list) else ()):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
            return content if isinstance(content, str) else None
    return None


def event_data(event: bytes) -> bytes:
    """The payload of one SSE event (``\\n`` line ends): its ``data:`` lines' values, joined."""
    return b"".join(line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:"))


def split_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The payloads of the complete SSE events in ``buffer`` (``\\n`` line ends; those without data
    left out), and the start of the next event, still incomplete."""
    *events, rest = buffer.split(b"\n\n")
    return [payload for event in events if (payload := event_data(event))], rest


def sse_objects(raw: bytes) -> Iterator[dict[str, Any]]:
    """The JSON objects of a relayed SSE stream, however much of it arrived: ``[DONE]``, a torn last
    event and anything not an object are left out."""
    for event in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        payload = event_data(event)
        if not payload or payload == b"[DONE]":
            continue
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue  # a torn last event of a dropped stream
        if isinstance(data, dict):
            yield data


def from_completion(body: Any) -> Output:
    """The output of a ``chat.completion`` (the first choice; others stay in the provider's answer)."""
    out = Output()
    if not isinstance(body, dict):
        return out
    out.model = body.get("model")
    out.take_usage(body.get("usage"))
    choices = body.get("choices") or []
    if choices and isinstance(choices[0], dict):
        message = choices[0].get("message") or {}
        out.text = message.get("content") or ""
        out.reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
        out.tool_calls = list(message.get("tool_calls") or [])
        out.finish_reason = choices[0].get("finish_reason")
    return out


def from_stream(raw: bytes) -> Output:
    """The output of a relayed SSE stream of ``chat.completion.chunk`` events (choice 0), however
    much of it arrived: tool-call fragments are joined by their index."""
    out = Output()
    text, reasoning = [], []
    calls: dict[int, dict[str, Any]] = {}
    for chunk in sse_objects(raw):
        if isinstance(chunk.get("error"), dict):
            out.error = str(chunk["error"].get("message") or "error event")[:500]
            continue
        out.model = out.model or chunk.get("model")
        out.take_usage(chunk.get("usage"))
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(delta["content"])
            if delta.get("reasoning_content") or delta.get("reasoning"):
                reasoning.append(delta.get("reasoning_content") or delta.get("reasoning"))
            for fragment in delta.get("tool_calls") or ():
                call = calls.setdefault(fragment.get("index", len(calls)),
                                        {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                call["id"] = fragment.get("id") or call["id"]
                function = fragment.get("function") or {}
                call["function"]["name"] += function.get("name") or ""
                call["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                out.finish_reason = choice["finish_reason"]
    out.text, out.reasoning = "".join(text), "".join(reasoning)
    out.tool_calls = [calls[i] for i in sorted(calls)]
    return out
