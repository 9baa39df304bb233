"""The stand-in provider (tests/standin.py) that also serves OpenAI's ``POST /v1/responses`` and
``POST /v1/completions``, plain and streamed, from the same script, and Anthropic's token count: a
provider that speaks those APIs itself."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from standin import Reply, StandIn

_ids = itertools.count(1)


def _output(reply: Reply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.content():
        items.append({"type": "message", "id": f"msg_native{next(_ids)}", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": reply.content(), "annotations": []}]})
    for call in reply.tool_calls:
        items.append({"type": "function_call", "id": f"fc_native{next(_ids)}", "call_id": call.call_id(),
                      "name": call.name, "arguments": call.arguments_text(), "status": "completed"})
    return items


def _response(reply: Reply, model: str, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    p, c, cached = reply.usage
    return {"id": f"resp_native{next(_ids)}", "object": "response", "created_at": int(time.time()), "status": status,
            "model": model, "output": output, "error": None, "incomplete_details": None, "tools": [],
            "parallel_tool_calls": True, "tool_choice": "auto",
            "usage": {"input_tokens": p, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": c,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": p + c}}


def _events(reply: Reply, model: str) -> list[bytes]:
    seq = itertools.count()

    def event(kind: str, **fields: Any) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': next(seq), **fields})}\n\n".encode()

    output = _output(reply)
    events = [event("response.created", response=_response(reply, model, "in_progress", []))]
    for index, item in enumerate(output):
        opening = {**item, "status": "in_progress"}
        if item["type"] == "message":
            opening["content"] = []
            events.append(event("response.output_item.added", output_index=index, item=opening))
            text = item["content"][0]["text"]
            events += [event("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0,
                             delta=text[i:i + reply.chunk_chars]) for i in range(0, len(text), reply.chunk_chars)]
        else:
            opening["arguments"] = ""
            events.append(event("response.output_item.added", output_index=index, item=opening))
        events.append(event("response.output_item.done", output_index=index, item=item))
    events.append(event("response.completed", response=_response(reply, model, "completed", output)))
    return events


def _completion(reply: Reply, model: str, text: str, finish: str | None, usage: bool = True) -> dict[str, Any]:
    p, c, _ = reply.usage
    body = {"id": f"cmpl-native{next(_ids)}", "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}
    if usage:
        body["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    return body


def _completion_events(reply: Reply, model: str) -> list[bytes]:
    text = reply.content()
    pieces = [text[i:i + reply.chunk_chars] for i in range(0, len(text), reply.chunk_chars)]
    events = [_completion(reply, model, p, None, usage=False) for p in pieces]
    events.append(_completion(reply, model, "", "stop"))
    return [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


class WireStandIn(StandIn):
    """``StandIn`` plus ``POST /v1/responses``, ``POST /v1/completions`` and Anthropic's
    ``POST /v1/messages/count_tokens`` (1000 plus the length of the messages' JSON)."""

    async def _handle(self, seen, writer) -> None:
        if seen.method == "POST" and seen.path.endswith("/v1/messages/count_tokens"):
            body = json.loads(seen.body)
            return self._send(writer, 200, {"input_tokens": 1000 + len(json.dumps(body["messages"]))})
        legacy = seen.path.endswith("/v1/completions")
        if seen.method != "POST" or not (seen.path.endswith("/responses") or legacy):
            return await super()._handle(seen, writer)
        if self.key is not None and seen.headers.get("authorization") != f"Bearer {self.key}":
            return self._send(writer, 401, {"error": {"message": "Incorrect API key provided",
                                                      "type": "invalid_request_error", "param": None, "code": None}})
        reply = self.next_reply(seen)
        request = json.loads(seen.body)
        if reply.status >= 400:
            return self._send(writer, reply.status, {"error": {"message": f"stand-in failure {reply.status}",
                                                               "type": "server_error", "param": None, "code": None}})
        model = request.get("model", "?")
        if legacy and not request.get("stream"):
            return self._send(writer, 200, _completion(reply, model, reply.content(), "stop"))
        if legacy:
            return await self._stream(writer, reply, _completion_events(reply, model), False)
        if not request.get("stream"):
            return self._send(writer, 200, _response(reply, model, "completed", _output(reply)))
        await self._stream(writer, reply, _events(reply, model), False)
