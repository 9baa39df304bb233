"""A stand-in model provider: a real HTTP/1.1 server on loopback that speaks OpenAI chat completions
and Anthropic Messages, answers from a per-test script, and records every request it gets.

It stands in for a paid provider (OpenAI, OpenRouter, Anthropic, a vLLM box), the one thing that
cannot run here. Use it from a test or a benchmark::

    with StandIn() as provider:                  # serves on 127.0.0.1, a free port
        provider.script(Reply(text="hi"), Reply(tool_calls=[ToolCall("ls", {"path": "."})]),
                        Reply(status=429, retry_after=0))
        ...  # point a client at provider.openai_base (".../v1") or provider.url (Anthropic)
        provider.requests[0].json["tools"]

Endpoints: ``POST /v1/chat/completions`` (plain and SSE, ``delta.tool_calls`` fragments split
across chunks, ``stream_options.include_usage``, ``[DONE]``), ``GET /v1/models`` and
``POST /v1/messages`` (plain and the documented SSE event order, ``input_json_delta``). A scripted
reply is taken per request, in order; when the script is empty, ``default`` answers. A reply can
also fail: a status code with a body (and ``Retry-After``), a delay before the headers (for
timeouts), a drop of the connection after some stream chunks, or a pause after some chunks.

Run it by hand: ``python tests/standin.py --port 8999 --text "hello"``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

_ids = itertools.count(1)


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)  # a str is sent as is (bad JSON too)
    id: str | None = None

    def call_id(self, prefix: str = "call_") -> str:
        return self.id or f"{prefix}standin{next(_ids):04d}"

    def arguments_text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Reply:
    """One scripted answer (or failure) to one request."""

    text: str | None = None           # default: "ok", or nothing when there are tool calls
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None      # OpenAI: delta/message.reasoning_content; Anthropic: a thinking block
    finish_reason: str | None = None  # default: "tool_calls" when there are calls, else "stop"
    usage: tuple[int, int, int] = (11, 7, 0)  # prompt, completion, cached prompt tokens
    chunk_chars: int = 3              # characters of text / arguments per stream chunk
    # failures
    status: int = 200
    body: Any = None                  # error body (dict -> JSON); default: the protocol's error shape
    retry_after: float | None = None  # seconds, sent as the Retry-After header
    delay: float = 0.0                # seconds before the response starts (a timeout for the caller)
    chunk_delay: float = 0.0          # seconds between stream chunks
    drop_after: int | None = None     # close the connection after this many stream chunks
    pause_after: int | None = None    # after this many stream chunks, wait for ``StandIn.release()``
    error_after: int | None = None    # after this many stream chunks, send the protocol's error event and end
    rechunk: int | None = None        # the stream in HTTP chunks of this many bytes, events cut anywhere, 1 ms apart

    def content(self) -> str:
        return self.text if self.text is not None else ("" if self.tool_calls else "ok")

    def finish(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


@dataclass
class Seen:
    """One request the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _Dropped(Exception):
    pass


class StandIn:
    """The stand-in provider; ``start()``/``stop()`` or a ``with`` block. See the module docstring."""

    def __init__(self, port: int = 0, key: str | None = None, default: Reply | None = None,
                 models: tuple[str, ...] = ("small", "big"), choose: Callable[[dict], Reply] | None = None) -> None:
        self.port = port
        self.choose = choose  # when set, replies come from the request's JSON body instead of the script
        self.key = key  # when set, requests must carry it (Bearer or x-api-key), else 401
        self.default = default or Reply()
        self.models = list(models)
        self.requests: list[Seen] = []
        self._script: collections.deque[Reply] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._release: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control (any thread) ---------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL an Anthropic-type client takes (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base(self) -> str:
        """The base URL an OpenAI-type client takes (``.../v1``)."""
        return f"{self.url}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies, taken one per completion request, in order."""
        self._script.extend(replies)

    def pending(self) -> int:
        return len(self._script)

    def release(self) -> None:
        """Let streams paused by ``pause_after`` go on."""
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def completions(self) -> list[Seen]:
        """The completion requests (OpenAI and Anthropic) received so far."""
        return [r for r in self.requests if r.method == "POST"]

    def reset(self) -> None:
        self._script.clear()
        self.requests.clear()

    def next_reply(self, seen: Seen) -> Reply:
        """The reply to the completion request ``seen``: ``choose(body)`` when given (agents send side
        requests in any order), else the next scripted one, else the default."""
        if self.choose is not None:
            try:
                body = seen.json
            except ValueError:
                return Reply(text="done")
            return self.choose(body if isinstance(body, dict) else {})
        return self._script.popleft() if self._script else self.default

    def start(self) -> StandIn:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name="standin")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the stand-in provider did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- server (its own thread and loop) -----------------------------------------------------
    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._release = asyncio.Event()
        self._server = loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", self.port, backlog=1024))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()
        loop.close()

    def _shutdown(self) -> None:
        assert self._loop is not None and self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._release.set()
        self._loop.call_later(0.05, self._loop.stop)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:  # without it, a reused connection stalls ~40 ms (Nagle + delayed ACK)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                seen = Seen(method, target.split("?", 1)[0], headers, body)
                self.requests.append(seen)
                await self._handle(seen, writer)
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, _Dropped, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _handle(self, seen: Seen, writer: asyncio.StreamWriter) -> None:
        if self.key is not None and self.key not in (seen.headers.get("authorization", "").removeprefix("Bearer "),
                                                     seen.headers.get("x-api-key")):
            anthropic = seen.path.endswith("/messages")
            body = ({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
                    if anthropic else {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                                 "param": None, "code": "invalid_api_key"}})
            return self._send(writer, 401, body)
        if seen.method == "GET" and seen.path.rstrip("/").endswith("/models"):
            return self._send(writer, 200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "standin"} for m in self.models]})
        if seen.method != "POST" or not seen.path.endswith(("/chat/completions", "/messages")):
            return self._send(writer, 404, {"error": {"message": f"no route {seen.method} {seen.path}",
                                                      "type": "invalid_request_error", "param": None, "code": None}})
        reply = self.next_reply(seen)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        anthropic = seen.path.endswith("/messages")
        try:
            request = json.loads(seen.body)
        except ValueError:
            return self._send(writer, 400, {"error": {"message": "malformed JSON", "type": "invalid_request_error"}})
        if reply.status >= 400:
            body = reply.body if reply.body is not None else _error_body(reply.status, anthropic)
            extra = {"retry-after": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
            return self._send(writer, reply.status, body, extra)
        model = request.get("model", "?")
        if not request.get("stream"):
            body = _anthropic_message(reply, model) if anthropic else _openai_completion(reply, model, request)
            return self._send(writer, 200, body)
        events = (_anthropic_events(reply, model) if anthropic else _openai_events(reply, model, request))
        await self._stream(writer, reply, events, anthropic)

    def _send(self, writer: asyncio.StreamWriter, status: int, body: Any, extra: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "content-type: application/json",
                f"content-length: {len(data)}", *(f"{k}: {v}" for k, v in (extra or {}).items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)

    async def _stream(self, writer: asyncio.StreamWriter, reply: Reply, events: list[bytes], anthropic: bool) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        if reply.rechunk:
            data = b"".join(events)
            for i in range(0, len(data), reply.rechunk):
                writer.write(b"%x\r\n%s\r\n" % (len(data[i:i + reply.rechunk]), data[i:i + reply.rechunk]))
                await writer.drain()
                await asyncio.sleep(0.001)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return
        for i, event in enumerate(events):
            if reply.drop_after is not None and i >= reply.drop_after:
                await writer.drain()
                writer.transport.abort()
                raise _Dropped
            if reply.error_after is not None and i == reply.error_after:
                event = _error_event(anthropic)
                writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event))
                await writer.drain()
                return
            if reply.pause_after is not None and i == reply.pause_after:
                await writer.drain()
                await self._release.wait()
            if reply.chunk_delay and i:
                await asyncio.sleep(reply.chunk_delay)
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 408: "Request Timeout",
            422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 529: "Overloaded"}


def _error_body(status: int, anthropic: bool) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
            529: "overloaded_error"}.get(status, "api_error" if status >= 500 else "invalid_request_error")
    message = f"stand-in failure {status}"
    if anthropic:
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _error_event(anthropic: bool) -> bytes:
    if anthropic:
        data = {"type": "error", "error": {"type": "overloaded_error", "message": "stand-in overloaded mid-stream"}}
        return f"event: error\ndata: {json.dumps(data)}\n\n".encode()
    data = {"error": {"message": "stand-in failure mid-stream", "type": "server_error", "param": None, "code": None}}
    return f"data: {json.dumps(data)}\n\n".encode()


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), max(1, size))]


# -- OpenAI chat completions ---------------------------------------------------------------------
def _openai_usage(reply: Reply) -> dict[str, Any]:
    p, c, cached = reply.usage
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
            "prompt_tokens_details": {"cached_tokens": cached}}


def _openai_completion(reply: Reply, model: str, request: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content() or None if reply.tool_calls else reply.content()}
    if reply.reasoning is not None:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [{"id": c.call_id(), "type": "function",
                                  "function": {"name": c.name, "arguments": c.arguments_text()}}
                                 for c in reply.tool_calls]
    choices = [{"index": i, "message": message, "logprobs": None, "finish_reason": reply.finish()}
               for i in range(int(request.get("n") or 1))]
    return {"id": f"chatcmpl-standin{next(_ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": choices, "usage": _openai_usage(reply), "system_fingerprint": "fp_standin"}


def _openai_events(reply: Reply, model: str, request: dict[str, Any]) -> list[bytes]:
    base = {"id": f"chatcmpl-standin{next(_ids)}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "system_fingerprint": "fp_standin"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"reasoning_content": p}) for p in _pieces(reply.reasoning or "", reply.chunk_chars)]
    events += [chunk({"content": p}) for p in _pieces(reply.content(), reply.chunk_chars)]
    for index, call in enumerate(reply.tool_calls):
        events.append(chunk({"tool_calls": [{"index": index, "id": call.call_id(), "type": "function",
                                             "function": {"name": call.name, "arguments": ""}}]}))
        events += [chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]})
                   for p in _pieces(call.arguments_text(), reply.chunk_chars)]
    events.append(chunk({}, reply.finish()))
    if (request.get("stream_options") or {}).get("include_usage"):
        data = {**base, "choices": [], "usage": _openai_usage(reply)}
        events.append(b"data: " + json.dumps(data).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


# -- Anthropic Messages --------------------------------------------------------------------------
_STOP = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


def _anthropic_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        blocks.append({"type": "thinking", "thinking": reply.reasoning, "signature": "standin-signature"})
    if reply.content():
        blocks.append({"type": "text", "text": reply.content()})
    for call in reply.tool_calls:
        arguments = call.arguments if isinstance(call.arguments, dict) else json.loads(call.arguments)
        blocks.append({"type": "tool_use", "id": call.call_id("toolu_"), "name": call.name, "input": arguments})
    return blocks


def _anthropic_usage(reply: Reply) -> dict[str, Any]:
    p, c, cached = reply.usage
    return {"input_tokens": p, "output_tokens": c, "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0}


def _anthropic_message(reply: Reply, model: str) -> dict[str, Any]:
    return {"id": f"msg_standin{next(_ids)}", "type": "message", "role": "assistant", "model": model,
            "content": _anthropic_blocks(reply), "stop_reason": _STOP.get(reply.finish(), reply.finish()),
            "stop_sequence": None, "usage": _anthropic_usage(reply)}


def _anthropic_events(reply: Reply, model: str) -> list[bytes]:
    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    usage = _anthropic_usage(reply)
    start = {"id": f"msg_standin{next(_ids)}", "type": "message", "role": "assistant", "model": model,
             "content": [], "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}
    events = [event("message_start", {"type": "message_start", "message": start}), event("ping", {"type": "ping"})]
    for index, block in enumerate(_anthropic_blocks(reply)):
        kind = block["type"]
        if kind == "text":
            opening, deltas = {"type": "text", "text": ""}, [
                {"type": "text_delta", "text": p} for p in _pieces(block["text"], reply.chunk_chars)]
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"], reply.chunk_chars)]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": p}
                      for p in _pieces(json.dumps(block["input"]), reply.chunk_chars)]
        events.append(event("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": opening}))
        events += [event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
                   for d in deltas]
        events.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(event("message_delta", {"type": "message_delta", "delta": {
        "stop_reason": _STOP.get(reply.finish(), reply.finish()), "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"]}}))
    events.append(event("message_stop", {"type": "message_stop"}))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the stand-in provider on 127.0.0.1 for manual tries.")
    parser.add_argument("--port", type=int, default=8999)
    parser.add_argument("--text", help="what every completion answers (default \"ok\")")
    parser.add_argument("--tool", help="answer with one call to this tool (arguments {})")
    parser.add_argument("--key", help="require this API key")
    args = parser.parse_args()
    reply = Reply(text=args.text, tool_calls=[ToolCall(args.tool)] if args.tool else [])
    with StandIn(port=args.port, key=args.key, default=reply) as provider:
        print(f"stand-in provider: OpenAI type at {provider.openai_base}, Anthropic type at {provider.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
