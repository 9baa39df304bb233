"""A fake Ollama server on loopback that follows the API documented in FACTS.md (Ollama section).

It is a test double for the one thing that cannot run here: no Ollama binary installs on these
machines. Endpoints: ``GET /api/version``, ``HEAD``/``POST /api/blobs/sha256:<hex>`` (digest checked,
400 on mismatch, 201 new / 200 present), ``POST /api/create`` (NDJSON progress; a body with neither
``from`` nor ``files`` gets 400 "neither 'from' or 'files' was specified"; errors after streaming began
arrive as a final ``{"error": ...}`` line under status 200; servers from 0.34.1 refuse ``adapters``),
``POST /api/show``, ``GET /api/tags``, ``DELETE /api/delete``, and an echoing ``POST /api/chat``.
Every request is kept in ``requests`` as (method, path, JSON body or byte count) for assertions.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ADAPTERS_REFUSED = "the adapter layer is carried over but new adapters cannot be created"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def _full(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class FakeOllama:
    """``with FakeOllama(tmp_path, version="0.33.0") as fake: fake.url``; ``start``/``stop`` may repeat."""

    def __init__(self, blob_dir: Path, *, version: str = "0.34.1", port: int = 0) -> None:
        self.blob_dir = Path(blob_dir)
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.version = version
        self.port = port
        self.blobs: dict[str, Path] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.fail_create_midstream: str | None = None  # next create ends with {"error": this}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def blob_path(self, digest: str) -> Path:
        return self.blobs[digest]

    def start(self) -> "FakeOllama":
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> "FakeOllama":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- the API ------------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> tuple[int, Any]:
        """(400, error) before streaming, or (200, list of NDJSON objects)."""
        name = body.get("model")
        if not name:
            return 400, {"error": "model is required"}
        if not body.get("from") and not body.get("files"):
            return 400, {"error": "neither 'from' or 'files' was specified"}
        if body.get("adapters") and _version_tuple(self.version) >= (0, 34, 1):
            return 400, {"error": ADAPTERS_REFUSED}
        lines: list[dict[str, Any]] = [{"status": "gathering model components"}]
        for filename, digest in {**body.get("files", {}), **body.get("adapters", {})}.items():
            if digest not in self.blobs:
                return 200, lines + [{"error": f"{filename}: blob {digest} does not exist"}]
            if self.blobs[digest].read_bytes()[:4] != b"GGUF":
                return 200, lines + [{"error": f"{filename}: invalid file magic"}]
            lines.append({"status": f"using existing layer {digest}"})
        if len(body.get("adapters", {})) > 1:
            return 200, lines + [{"error": "only one adapter is currently supported"}]
        if body.get("from") and _full(body["from"]) not in self.models:
            return 200, lines + [{"error": f"model '{body['from']}' not found"}]
        if self.fail_create_midstream:
            message, self.fail_create_midstream = self.fail_create_midstream, None
            return 200, lines + [{"error": message}]
        parent = self.models.get(_full(body["from"])) if body.get("from") else {}
        self.models[_full(name)] = {
            "files": body.get("files") or parent.get("files", {}), "adapters": body.get("adapters", {}),
            "from": body.get("from"), "template": body.get("template", parent.get("template", "{{ .Prompt }}")),
            "system": body.get("system", parent.get("system")),
            "parameters": body.get("parameters", parent.get("parameters", {})),
            "modified_at": datetime.now(timezone.utc).isoformat()}
        return 200, lines + [{"status": "writing manifest"}, {"status": "success"}]

    def show(self, name: str) -> tuple[int, Any]:
        model = self.models.get(_full(name))
        if model is None:
            return 404, {"error": f"model '{name}' not found"}
        params = "\n".join(f'{k} "{v}"' for k, vs in model["parameters"].items()
                           for v in (vs if isinstance(vs, list) else [vs]))
        return 200, {"modelfile": f"FROM {name}\n", "parameters": params, "template": model["template"],
                     "system": model["system"], "details": {"format": "gguf", "family": "llama"},
                     "model_info": {"general.architecture": "llama"}, "capabilities": ["completion"],
                     "modified_at": model["modified_at"]}


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeOllama
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload: Any = None, content_type: str = "application/json") -> None:
        data = b"" if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self) -> Any:
        raw = self._body()
        body = json.loads(raw or b"{}")
        self.server_state.requests.append((self.command, self.path, body))
        return body

    def do_GET(self) -> None:
        fake = self.server_state
        fake.requests.append(("GET", self.path, None))
        if self.path == "/api/version":
            return self._send(200, {"version": fake.version})
        if self.path == "/api/tags":
            return self._send(200, {"models": [
                {"name": n, "model": n, "modified_at": m["modified_at"], "size": 1, "digest": "0" * 64,
                 "details": {"format": "gguf", "family": "llama"}} for n, m in fake.models.items()]})
        self._send(404, {"error": "not found"})

    def do_HEAD(self) -> None:
        fake = self.server_state
        fake.requests.append(("HEAD", self.path, None))
        digest = self.path.removeprefix("/api/blobs/")
        self._send(200 if digest in fake.blobs else 404)

    def do_POST(self) -> None:
        fake = self.server_state
        if self.path.startswith("/api/blobs/"):
            data = self._body()
            digest = self.path.removeprefix("/api/blobs/")
            fake.requests.append(("POST", self.path, len(data)))
            actual = "sha256:" + hashlib.sha256(data).hexdigest()
            if actual != digest:
                return self._send(400, {"error": f"digest mismatch, expected \"{digest}\", got \"{actual}\""})
            if digest in fake.blobs:
                return self._send(200)
            path = fake.blob_dir / digest.replace(":", "-")
            path.write_bytes(data)
            fake.blobs[digest] = path
            return self._send(201)
        body = self._json()
        if self.path == "/api/create":
            status, payload = fake.create(body)
            if status != 200:
                return self._send(status, payload)
            return self._send(200, b"".join(json.dumps(p).encode() + b"\n" for p in payload),
                              "application/x-ndjson")
        if self.path == "/api/show":
            return self._send(*fake.show(body.get("model", "")))
        if self.path == "/api/chat":
            return self._chat(body)
        self._send(404, {"error": "not found"})

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.server_state
        name = body.get("model", "")
        if _full(name) not in fake.models:
            return self._send(404, {"error": f"model '{name}' not found, try pulling it first"})
        last = next((m["content"] for m in reversed(body.get("messages", [])) if m["role"] == "user"), "")
        words = f"ollama says: {last}".split(" ")
        limit = body.get("options", {}).get("num_predict", 1000)
        words, reason = (words[:limit], "length") if len(words) > limit else (words, "stop")
        now = datetime.now(timezone.utc).isoformat()
        lines = [{"model": name, "created_at": now, "message": {"role": "assistant", "content": (" " if i else "") + w},
                  "done": False} for i, w in enumerate(words)]
        lines.append({"model": name, "created_at": now, "message": {"role": "assistant", "content": ""},
                      "done": True, "done_reason": reason, "prompt_eval_count": len(last.split()),
                      "eval_count": len(words)})
        self._send(200, b"".join(json.dumps(p).encode() + b"\n" for p in lines), "application/x-ndjson")

    def do_DELETE(self) -> None:
        fake = self.server_state
        body = self._json()
        name = _full(body.get("model", ""))
        if name not in fake.models:
            return self._send(404, {"error": f"model '{body.get('model')}' not found"})
        del fake.models[name]
        self._send(200)
