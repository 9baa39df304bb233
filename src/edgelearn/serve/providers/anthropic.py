"""OpenAI chat completions <-> Anthropic Messages, both ways, tools and streams included.

``/v1/chat/completions`` uses it to put an Anthropic-type provider behind an OpenAI client; the
native ``/v1/messages`` endpoint (the wire-API issue) can reuse the same pieces the other way.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from edgelearn.serve.providers.record import Output, split_events, sse_objects

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI clients often leave it out
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length",
                "pause_turn": "stop", "refusal": "content_filter"}


# -- request: OpenAI -> Anthropic --------------------------------------------------------------
def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def _image(part: dict[str, Any]) -> dict[str, Any]:
    url = (part.get("image_url") or {}).get("url", "")
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        out = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                out.append({"type": "text", "text": part.get("text", "")})
            elif kind == "image_url":
                out.append(_image(part))
        return out
    text = _text(content)
    return [{"type": "text", "text": text}] if text else []


def _arguments(text: Any) -> Any:
    if isinstance(text, dict):
        return text
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {"_arguments": text}  # kept, not lost: Anthropic takes only an object
    return value if isinstance(value, dict) else {"_arguments": value}


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    if role == "tool":
        content = message.get("content")
        result = _text(content) if isinstance(content, list) else ("" if content is None else str(content))
        return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""),
                                              "content": result}]}
    blocks = _blocks(message.get("content"))
    if role == "assistant":
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            blocks.append({"type": "tool_use", "id": call.get("id", ""), "name": function.get("name", ""),
                           "input": _arguments(function.get("arguments"))})
        return {"role": "assistant", "content": blocks}
    return {"role": "user", "content": blocks}


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    if isinstance(choice, dict):
        out: dict[str, Any] = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    else:
        out = {"type": {"required": "any", "none": "none"}.get(choice, "auto")}
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def request_from_openai(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic Messages request for an OpenAI chat completions ``body``, for ``model``."""
    system = [_text(m.get("content")) for m in body.get("messages", ()) if m.get("role") in ("system", "developer")]
    messages: list[dict[str, Any]] = []
    for message in body.get("messages", ()):
        if message.get("role") in ("system", "developer"):
            continue
        converted = _message(message)
        if messages and messages[-1]["role"] == converted["role"]:  # tool results of one turn share a message
            messages[-1]["content"] = messages[-1]["content"] + converted["content"]
        else:
            messages.append(converted)
    out: dict[str, Any] = {"model": model, "messages": messages,
                           "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS}
    if system:
        out["system"] = "\n\n".join(system)
    for name in ("temperature", "top_p", "stream"):
        if body.get(name) is not None:
            out[name] = body[name]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [{"name": (t.get("function") or {}).get("name", ""),
                         "description": (t.get("function") or {}).get("description", ""),
                         "input_schema": (t.get("function") or {}).get("parameters") or {"type": "object", "properties": {}}}
                        for t in body["tools"] if t.get("type", "function") == "function"]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and body.get("tools"):
        out["tool_choice"] = choice
    if body.get("user"):
        out["metadata"] = {"user_id": body["user"]}
    return out


# -- response: Anthropic -> OpenAI -------------------------------------------------------------
def usage_to_openai(usage: dict[str, Any]) -> dict[str, Any]:
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + cached + (usage.get("cache_creation_input_tokens") or 0)
    completion = usage.get("output_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def response_to_openai(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for an Anthropic ``message``."""
    text, reasoning, calls = [], [], []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text", ""))
        elif kind == "thinking":
            reasoning.append(block.get("thinking", ""))
        elif kind == "tool_use":
            calls.append({"id": block.get("id", ""), "type": "function",
                          "function": {"name": block.get("name", ""),
                                       "arguments": orjson.dumps(block.get("input") or {}).decode()}})
    out: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if reasoning:
        out["reasoning_content"] = "".join(reasoning)
    if calls:
        out["tool_calls"] = calls
    finish = STOP_REASONS.get(message.get("stop_reason") or "end_turn", "stop")
    return {"id": message.get("id", ""), "object": "chat.completion", "created": int(time.time()),
            "model": message.get("model", ""),
            "choices": [{"index": 0, "message": out, "logprobs": None, "finish_reason": finish}],
            "usage": usage_to_openai(message.get("usage") or {})}


def error_to_openai(body: bytes) -> dict[str, Any]:
    """OpenAI's error shape for an Anthropic error body (or any body)."""
    try:
        error = orjson.loads(body).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        error = {}
    message = error.get("message") or body[:500].decode("utf-8", "replace")
    return {"error": {"message": message, "type": error.get("type", "upstream_error"), "param": None, "code": None}}


class StreamTranslator:
    """Anthropic stream events in, OpenAI ``chat.completion.chunk`` SSE bytes out."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self._buffer = b""
        self._base: dict[str, Any] = {"id": "", "object": "chat.completion.chunk", "created": int(time.time()),
                                      "model": ""}
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._usage: dict[str, Any] = {}
        self._finish: str | None = None

    def feed(self, data: bytes) -> bytes:
        """The OpenAI SSE bytes for the complete events in ``data`` (and what was left over before)."""
        payloads, self._buffer = split_events(self._buffer + data.replace(b"\r\n", b"\n"))
        out = []
        for payload in payloads:
            try:
                out.extend(self._event(orjson.loads(payload)))
            except UpstreamStreamError as exc:
                exc.before = b"".join(out)  # the events that came before it in the same read
                raise
        return b"".join(out)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {**self._base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(data) + b"\n\n"

    def _event(self, event: dict[str, Any]) -> list[bytes]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._base["id"], self._base["model"] = message.get("id", ""), message.get("model", "")
            self._usage = dict(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self._tools[event.get("index", 0)] = len(self._tools)
                return [self._chunk({"tool_calls": [{"index": index, "id": block.get("id", ""), "type": "function",
                                                     "function": {"name": block.get("name", ""), "arguments": ""}}]})]
            return []
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                return [self._chunk({"content": delta.get("text", "")})]
            if dtype == "thinking_delta":
                return [self._chunk({"reasoning_content": delta.get("thinking", "")})]
            if dtype == "input_json_delta":
                index = self._tools.get(event.get("index", 0), 0)
                return [self._chunk({"tool_calls": [{"index": index,
                                                     "function": {"arguments": delta.get("partial_json", "")}}]})]
            return []
        if kind == "message_delta":
            self._usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            reason = (event.get("delta") or {}).get("stop_reason")
            self._finish = STOP_REASONS.get(reason or "end_turn", "stop")
            return [self._chunk({}, self._finish)]
        if kind == "message_stop":
            out = []
            if self.include_usage:
                data = {**self._base, "choices": [], "usage": usage_to_openai(self._usage)}
                out.append(b"data: " + orjson.dumps(data) + b"\n\n")
            return [*out, b"data: [DONE]\n\n"]
        if kind == "error":
            error = event.get("error") or {}
            raise UpstreamStreamError(error.get("message", "provider stream error"), error.get("type", "api_error"))
        return []  # ping, content_block_stop, signature deltas


def output_from_events(raw: bytes) -> Output:
    """What a run keeps of a relayed Anthropic Messages stream, however much of it arrived, read once:
    text, thinking and tool calls apart, the stop reason and usage in OpenAI's terms, an error event."""
    out = Output()
    text, reasoning = [], []
    calls: dict[int, dict[str, Any]] = {}  # content block index -> the tool call
    usage: dict[str, Any] = {}
    for event in sse_objects(raw):
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                text.append(delta.get("text", ""))
            elif dtype == "thinking_delta":
                reasoning.append(delta.get("thinking", ""))
            elif dtype == "input_json_delta" and event.get("index", 0) in calls:
                calls[event.get("index", 0)]["function"]["arguments"] += delta.get("partial_json", "")
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                calls[event.get("index", 0)] = {"id": block.get("id", ""), "type": "function",
                                                "function": {"name": block.get("name", ""), "arguments": ""}}
        elif kind == "message_start":
            message = event.get("message") or {}
            out.model = message.get("model")
            usage.update(message.get("usage") or {})
        elif kind == "message_delta":
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            out.finish_reason = STOP_REASONS.get((event.get("delta") or {}).get("stop_reason") or "end_turn", "stop")
        elif kind == "error":
            out.error = str((event.get("error") or {}).get("message") or "error event")[:500]
    out.text, out.reasoning = "".join(text), "".join(reasoning)
    out.tool_calls = [calls[i] for i in sorted(calls)]
    if usage:
        out.take_usage(usage_to_openai(usage))
    return out


class UpstreamStreamError(Exception):
    """An ``error`` event inside an Anthropic stream."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.before = b""  # what the translator made of the events before it
