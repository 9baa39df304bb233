"""A chat completions stream as an Anthropic Messages stream, in the documented event order:
``message_start``; per content block ``content_block_start``, ``content_block_delta`` (``text_delta``,
``thinking_delta``, ``input_json_delta``) and ``content_block_stop``; ``message_delta`` with
``stop_reason`` (``end_turn``, ``tool_use``, ``max_tokens``) and usage; ``message_stop``. A failure
is an ``error`` event.
"""

from __future__ import annotations

from typing import Any

import orjson

from edgelearn.serve.providers.messages_wire import STOP_REASONS, error_body, usage_from_openai


def sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class EventWriter:
    """OpenAI ``chat.completion.chunk`` objects in, Anthropic stream events (SSE bytes) out."""

    def __init__(self, message_id: str, model: str) -> None:
        self.message_id, self.model = message_id, model
        self._index = -1
        self._open: str | None = None    # the open block: "text" | "thinking" | "tool:<n>"
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def start(self) -> bytes:
        message = {"id": self.message_id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                   "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}
        return sse("message_start", {"type": "message_start", "message": message}) + sse("ping", {"type": "ping"})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return sse("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _begin(self, key: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._open = key
        return out + sse("content_block_start", {"type": "content_block_start", "index": self._index,
                                                 "content_block": block})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events for one chunk."""
        out = []
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                if self._open != "thinking":
                    out.append(self._begin("thinking", {"type": "thinking", "thinking": "", "signature": ""}))
                out.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
            if delta.get("content"):
                if self._open != "text":
                    out.append(self._begin("text", {"type": "text", "text": ""}))
                out.append(self._delta({"type": "text_delta", "text": delta["content"]}))
            for fragment in delta.get("tool_calls") or ():
                key = f"tool:{fragment.get('index', 0)}"
                function = fragment.get("function") or {}
                if self._open != key:
                    out.append(self._begin(key, {"type": "tool_use", "id": fragment.get("id") or "",
                                                 "name": function.get("name") or "", "input": {}}))
                if function.get("arguments"):
                    out.append(self._delta({"type": "input_json_delta", "partial_json": function["arguments"]}))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return b"".join(out)

    def end(self) -> bytes:
        """``message_delta`` and ``message_stop``, after the last block closes."""
        usage = usage_from_openai(self._usage)
        delta = {"type": "message_delta",
                 "delta": {"stop_reason": STOP_REASONS.get(self._finish or "stop", "end_turn"), "stop_sequence": None},
                 "usage": {"output_tokens": usage["output_tokens"], "input_tokens": usage["input_tokens"]}}
        return self._close() + sse("message_delta", delta) + sse("message_stop", {"type": "message_stop"})

    def error(self, message: str, kind: str = "api_error") -> bytes:
        return sse("error", error_body(message, kind))
