"""The demo's teacher: an OpenAI-compatible HTTP server on loopback standing in for a paid provider.

``edgelearn demo`` configures it as a provider like any other (``[providers.<name>]``, ``type =
"openai"``, a ``base_url`` on 127.0.0.1, an ``api_key_env``, made-up prices) and makes it the
``coder`` role's teacher, so the demo's requests take the real path: gateway → provider HTTP →
recorded run. It answers from the task packs' references: a code task with its reference
solution, a tool task with its call as a real ``tool_calls`` entry.

Endpoints: ``POST /v1/chat/completions`` (plain, and SSE with ``data: [DONE]`` when ``stream``
is true; tool calls as ``delta.tool_calls``; usage in the last chunk when
``stream_options.include_usage``), ``GET /v1/models``. Requests must carry the key as
``Authorization: Bearer``, else 401; bad JSON or a missing ``messages`` is a 400 in OpenAI's
error shape. Stdlib only (``http.server``, one thread per connection, HTTP/1.1 keep-alive,
TCP_NODELAY so small SSE writes are not held back by Nagle).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

BYTES_PER_TOKEN = 4  # the teacher's usage is an estimate: it has no tokenizer


@dataclass(frozen=True)
class Answer:
    """What the teacher says to one request: text and/or tool calls (``{"name", "arguments"}``)."""

    text: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()


Answerer = Callable[[dict[str, Any]], Answer]


def _tokens(text: str) -> int:
    return max(1, len(text.encode()) // BYTES_PER_TOKEN)


def _openai_calls(answer: Answer, tag: str) -> list[dict[str, Any]]:
    return [{"id": f"call_{tag}_{i}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))}}
            for i, c in enumerate(answer.tool_calls)]


class TeacherServer:
    """``start()``/``stop()`` or a ``with`` block; ``requests`` counts completions served over HTTP."""

    def __init__(self, answer: Answerer, key: str, model: str, port: int = 0) -> None:
        self.answer = answer
        self.key = key
        self.model = model
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """What an OpenAI-type client takes: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "TeacherServer":
        """Serve from a background thread (once; a started server is returned as is)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._server.serve_forever, name="edgelearn-demo-teacher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "TeacherServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def completion(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
        """(the plain response, its stream chunks, finish reason) for one request body."""
        answer = self.answer(body)
        tag = uuid.uuid4().hex[:12]
        calls = _openai_calls(answer, tag)
        text = answer.text if answer.text is not None else ("" if calls else "")
        finish = "tool_calls" if calls else "stop"
        prompt = _tokens(json.dumps(body.get("messages", [])) + json.dumps(body.get("tools") or []))
        out = _tokens(text + "".join(c["function"]["arguments"] for c in calls))
        usage = {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}
        head = {"id": f"chatcmpl-{tag}", "created": int(time.time()), "model": self.model}
        message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
        if calls:
            message["tool_calls"] = calls
        plain = {**head, "object": "chat.completion", "usage": usage,
                 "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
        chunk = {**head, "object": "chat.completion.chunk"}
        chunks = [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                          "finish_reason": None}]}]
        for start in range(0, len(text), 24):
            chunks.append({**chunk, "choices": [{"index": 0, "delta": {"content": text[start:start + 24]},
                                                 "finish_reason": None}]})
        for i, call in enumerate(calls):
            chunks.append({**chunk, "choices": [{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
                {"index": i, "id": call["id"], "type": "function",
                 "function": {"name": call["function"]["name"], "arguments": call["function"]["arguments"]}}]}}]})
        chunks.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**chunk, "choices": [], "usage": usage})
        return plain, chunks, finish


def _handler(teacher: TeacherServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the demo prints its own progress

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str) -> None:
            self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

        def _authorized(self) -> bool:
            if self.headers.get("authorization", "") == f"Bearer {teacher.key}":
                return True
            self._error(401, "missing or wrong API key (Authorization: Bearer)", "invalid_request_error")
            return False

        def do_GET(self) -> None:
            if not self._authorized():
                return
            if self.path.rstrip("/") != "/v1/models":
                self._error(404, f"no route {self.path}", "not_found_error")
                return
            self._json(200, {"object": "list", "data": [{"id": teacher.model, "object": "model", "created": 0,
                                                        "owned_by": "edgelearn-demo"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not self._authorized():
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, f"no route {self.path}", "not_found_error")
                return
            try:
                body = json.loads(raw)
            except ValueError as exc:
                self._error(400, f"the body is not JSON: {exc}", "invalid_request_error")
                return
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
                self._error(400, "messages: a non-empty list of messages is required", "invalid_request_error")
                return
            teacher._count()
            plain, chunks, _ = teacher.completion(body)
            if not body.get("stream"):
                self._json(200, plain)
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for event in [*(f"data: {json.dumps(c)}\n\n" for c in chunks), "data: [DONE]\n\n"]:
                data = event.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    return Handler


def pack_answerer(tasks, tool_tasks=()) -> Answerer:
    """Answers from the demo packs: a code task's reference solution (labelled as such by the demo),
    a tool task's call when tools are offered; anything else gets a short refusal."""
    by_prompt = {t.prompt.strip(): t for t in tasks}
    tools_by_prompt = {t.prompt.strip(): t for t in tool_tasks}

    def answer(body: dict[str, Any]) -> Answer:
        user = next((m.get("content") for m in reversed(body["messages"])
                     if isinstance(m, dict) and m.get("role") == "user"), "")
        user = user.strip() if isinstance(user, str) else ""
        if body.get("tools") and user in tools_by_prompt:
            return Answer(tool_calls=(tools_by_prompt[user].expected,))
        task = by_prompt.get(user)
        if task is None:
            return Answer(text="I can only answer tasks of the tidekit pack.")
        return Answer(text=f"```python\n{task.reference.strip()}\n```")

    return answer
