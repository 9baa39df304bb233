"""A chat completions stream as an OpenAI Responses stream: the events Codex reads.

``response.created`` and ``response.in_progress``; per output item ``response.output_item.added``,
then for a message ``response.content_part.added``, ``response.output_text.delta``...,
``response.output_text.done``, ``response.content_part.done``, and for a function call
``response.function_call_arguments.delta``... and ``.done``; the item whole in
``response.output_item.done``; finally ``response.completed`` (or ``response.incomplete`` when
the token limit cut it) with the id and usage, or ``response.failed`` with the error.
"""

from __future__ import annotations

from typing import Any

import orjson

from edgelearn.serve.providers.responses_wire import call_item, message_item, response, usage_from_chat


class ResponseEvents:
    """``chat.completion.chunk`` objects in, Responses stream events (SSE bytes) out."""

    def __init__(self, response_id: str, data: dict[str, Any]) -> None:
        self.response_id, self.data = response_id, data
        self._seq = 0
        self._items: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None  # the item being written, with "_key" and "_text"
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def start(self) -> bytes:
        created = response(self.response_id, self.data, [], "in_progress")
        return (self._event("response.created", response=created)
                + self._event("response.in_progress", response=created))

    def _begin(self, key: str, item: dict[str, Any]) -> bytes:
        out = self._close()
        index = len(self._items)
        self._open = {"key": key, "item": item, "text": [], "index": index}
        out += self._event("response.output_item.added", output_index=index, item=item)
        if item["type"] == "message":
            out += self._event("response.content_part.added", item_id=item["id"], output_index=index,
                               content_index=0, part={"type": "output_text", "text": "", "annotations": []})
        return out

    def _close(self) -> bytes:
        current, self._open = self._open, None
        if current is None:
            return b""
        item, index, text = current["item"], current["index"], "".join(current["text"])
        if item["type"] == "message":
            done = message_item(item["id"], text)
            out = (self._event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                               text=text)
                   + self._event("response.content_part.done", item_id=item["id"], output_index=index,
                                 content_index=0, part=done["content"][0]))
        else:
            done = {**item, "arguments": text, "status": "completed"}
            out = self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                              arguments=text)
        self._items.append(done)
        return out + self._event("response.output_item.done", output_index=index, item=done)

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events for one chunk."""
        out = []
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self._open is None or self._open["key"] != "text":
                    item_id = f"msg_{self.response_id[5:]}_{len(self._items)}"
                    out.append(self._begin("text", message_item(item_id, "", "in_progress")))
                self._open["text"].append(delta["content"])
                out.append(self._event("response.output_text.delta", item_id=self._open["item"]["id"],
                                       output_index=self._open["index"], content_index=0, delta=delta["content"]))
            for fragment in delta.get("tool_calls") or ():
                key = f"call:{fragment.get('index', 0)}"
                function = fragment.get("function") or {}
                if self._open is None or self._open["key"] != key:
                    item_id = f"fc_{self.response_id[5:]}_{len(self._items)}"
                    call = {"id": fragment.get("id") or "", "function": {"name": function.get("name") or ""}}
                    out.append(self._begin(key, call_item(item_id, call, "in_progress")))
                if function.get("arguments"):
                    self._open["text"].append(function["arguments"])
                    out.append(self._event("response.function_call_arguments.delta", item_id=self._open["item"]["id"],
                                           output_index=self._open["index"], delta=function["arguments"]))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return b"".join(out)

    def end(self) -> bytes:
        """The last item's done events and ``response.completed`` (``.incomplete`` at the token limit)."""
        out = self._close()
        final = response(self.response_id, self.data, self._items, "completed", usage_from_chat(self._usage),
                         finish=self._finish)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        return out + self._event(kind, response=final)

    def fail(self, message: str, code: str = "server_error") -> bytes:
        """``response.failed`` carrying the error."""
        out = self._close()
        failed = response(self.response_id, self.data, self._items, "failed", usage_from_chat(self._usage),
                          error={"code": code, "message": message})
        return out + self._event("response.failed", response=failed)
