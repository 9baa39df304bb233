"""The FastAPI app: security middleware, error mapping, and the routers of each stage.

The calls an agent makes on every run (``POST /v1/runs``, ``POST /v1/select``, and the floor
``POST /v1/ping``) are served by ``HotRoutes``, a plain ASGI layer in front of FastAPI's
routing, from their module's ``HOT`` handlers: FastAPI's routing, request object and dependency
pass cost more than recording the run itself. The guard and CORS middleware sit outside it, as
for every route. Their FastAPI routes stay for the OpenAPI schema and call the same handlers.
"""

from __future__ import annotations

import hmac
import importlib
import logging
from typing import Any, Awaitable, Callable

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from edgelearn.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    CurationError,
    EdgelearnError,
    ExportError,
    InvalidInput,
    MalformedJSON,
    NotFound,
    SelectionError,
    StoreError,
    TrainingError,
)
from edgelearn.heap import freeze_long_lived
from edgelearn.security import host_allowed

log = logging.getLogger(__name__)

# routers of each stage, included when the module exists (each stage owns its module)
ROUTER_MODULES = ("hook", "select", "datasets", "proxy", "models", "jobs", "learning", "sessions", "agent_hooks",
                  "messages", "responses", "completions")

# a hot handler: (runtime, request body) -> (status, JSON-able payload); raises EdgelearnError
Hot = Callable[[Any, bytes], Awaitable[tuple[int, Any]]]


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def error_body(status: int, message: str, type_: str, field: str | None = None) -> JSON:
    err: dict[str, Any] = {"message": message, "type": type_, "param": field, "code": None}
    return JSON({"error": err}, status_code=status)


_STATUS = [
    (NotFound, 404, "not_found"),
    (MalformedJSON, 400, "invalid_request_error"),
    (InvalidInput, 422, "invalid_request_error"),
    (SelectionError, 409, "selection_error"),
    (CurationError, 409, "curation_error"),
    (TrainingError, 409, "training_error"),
    (ExportError, 500, "export_error"),
    (BackendUnavailable, 503, "backend_unavailable"),
    (BackendError, 502, "backend_error"),
    (ConfigError, 500, "config_error"),
    (StoreError, 503, "store_error"),
    (EdgelearnError, 500, "server_error"),
]


def status_for(exc: EdgelearnError) -> tuple[int, str]:
    for cls, status, type_ in _STATUS:
        if isinstance(exc, cls):
            return status, type_
    return 500, "server_error"


def error_response(exc: EdgelearnError, method: str, path: str) -> JSON:
    status, type_ = status_for(exc)
    if status >= 500:
        log.warning("%s %s failed: %s", method, path, exc)
    return error_body(status, str(exc), type_, getattr(exc, "field", None))


class GuardMiddleware:
    """Host check (DNS rebinding), bearer token, and the body-size limit, as plain ASGI."""

    def __init__(self, app, runtime) -> None:
        self.app = app
        self.runtime = runtime
        self._token = f"Bearer {runtime.token}".encode()
        self._key = runtime.token.encode()  # as x-api-key on /v1/messages: what ANTHROPIC_API_KEY sends

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        server = self.runtime.settings.server
        host = headers.get(b"host", b"").decode("latin-1")
        if not host_allowed(host, frozenset(h.lower() for h in server.allowed_hosts)):
            return await _send(send, error_body(403, f"Host {host!r} is not a loopback name; add it to "
                                                     "server.allowed_hosts to allow it", "forbidden"))
        if scope["path"] != "/healthz":
            auth = headers.get(b"authorization", b"")
            if not hmac.compare_digest(auth, self._token) and not (
                    scope["path"].startswith("/v1/messages") and hmac.compare_digest(headers.get(b"x-api-key", b""),
                                                                                      self._key)):
                return await _send(send, error_body(
                    401, "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the token "
                         "from the token file in the edgelearn home", "unauthorized"))
        limit = server.max_body_bytes
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _send(send, error_body(413, f"body of {int(length)} bytes is over the limit of {limit} "
                                                     "(server.max_body_bytes)", "payload_too_large"))
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            receive = _limited(receive, limit)
        try:
            await self.app(scope, receive, send)
        except _TooLarge:
            await _send(send, error_body(413, f"body is over the limit of {limit} bytes (server.max_body_bytes)",
                                         "payload_too_large"))


class _TooLarge(Exception):
    pass


def _limited(receive, limit: int):
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge()
        return message

    return wrapped


async def _send(send, response: Response) -> None:
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


async def _read_body(receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class HotRoutes:
    """Serves the hot handlers for their (method, path) without FastAPI's routing; everything
    else goes on to the FastAPI app."""

    def __init__(self, app, runtime, hot: dict[tuple[str, str], Hot]) -> None:
        self.app = app
        self.runtime = runtime
        self.hot = hot

    async def __call__(self, scope, receive, send):
        handler = self.hot.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if handler is None:
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        if body is None:
            return
        try:
            status, payload = await handler(self.runtime, body)
        except EdgelearnError as exc:
            return await _send(send, error_response(exc, scope["method"], scope["path"]))
        content = orjson.dumps(payload, default=str)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]})
        await send({"type": "http.response.body", "body": content})


async def ping(runtime, body: bytes) -> tuple[int, Any]:
    """The authenticated no-op: the floor a hot handler is measured against."""
    return 200, {"ok": True}


def create_app(runtime) -> FastAPI:
    """The HTTP app over a runtime; every stage's router that is installed is included."""
    app = FastAPI(title="edgelearn", version="0.1.0", default_response_class=JSON,
                  description="Local learning loop for coding agents: record runs, score, select, train, serve.")
    app.state.runtime = runtime

    @app.exception_handler(EdgelearnError)
    async def _edgelearn_error(request: Request, exc: EdgelearnError):
        return error_response(exc, request.method, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path"))
        if err.get("type") == "json_invalid":
            return error_body(400, f"malformed JSON: {err.get('msg')}", "invalid_request_error")
        return error_body(422, f"{loc}: {err['msg']}" if loc else err["msg"], "invalid_request_error", loc or None)

    @app.get("/healthz", tags=["status"])
    async def healthz():
        return {"ok": True}

    @app.post("/v1/ping", tags=["status"], summary="Authenticated no-op (also the floor of bench/hook.py)")
    async def ping_route(request: Request):
        return await hot_route(ping, request)

    hot: dict[tuple[str, str], Hot] = {("POST", "/v1/ping"): ping}
    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(f"edgelearn.server.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"edgelearn.server.{name}":
                continue
            raise
        app.include_router(module.router)
        hot.update(getattr(module, "HOT", {}))

    # add_middleware puts each one outside those added before; a request meets the guard, CORS (when
    # configured), the hot routes, then FastAPI's routing
    app.add_middleware(HotRoutes, runtime=runtime, hot=hot)
    if runtime.settings.server.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=runtime.settings.server.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(GuardMiddleware, runtime=runtime)
    return app


async def hot_route(handler: Hot, request: Request) -> JSON:
    """A hot handler as a FastAPI route: it gives the OpenAPI schema (HotRoutes answers the calls
    before FastAPI's routing sees them, so this runs only for an app served without that layer)."""
    status, payload = await handler(request.app.state.runtime, await request.body())
    return JSON(payload, status_code=status)


def serve(runtime, host: str | None = None, port: int | None = None, ready=None) -> None:
    """Run the app on uvicorn (blocking) with the runtime started around it."""
    import uvicorn

    settings = runtime.settings.server
    config = uvicorn.Config(create_app(runtime), host=host or settings.host, port=settings.port if port is None else port,
                            log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5,
                            # no proxy in front of a loopback hook: X-Forwarded-* must not rewrite the client
                            proxy_headers=False)
    server = uvicorn.Server(config)
    runtime.start()
    freeze_long_lived()  # the app, the runtime and their imports: out of every later full GC pass
    try:
        import asyncio

        async def main():
            task = asyncio.create_task(server.serve())
            if ready is not None:
                while not server.started and not task.done():
                    await asyncio.sleep(0.02)
                if server.started:
                    ready(server)
            await task
            # the runs of the last streams, recorded after their last bytes (Recorder.later): before
            # the loop closes, which would cancel them
            await runtime.recorder.settled(timeout=10.0)

        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:  # uvloop when installed
            runner.run(main())
    finally:
        runtime.stop()


def serve_in_thread(runtime, host: str | None = None, port: int = 0):
    """Start the runtime and serve it from a background thread; returns (url, stop)."""
    import threading

    holder: dict = {}
    ready = threading.Event()

    def on_ready(server):
        holder["server"] = server
        ready.set()

    thread = threading.Thread(target=serve, args=(runtime,), kwargs={"host": host, "port": port, "ready": on_ready},
                              name="edgelearn-http", daemon=True)
    thread.start()
    if not ready.wait(60):
        raise RuntimeError("the HTTP server did not start within 60 s")
    server = holder["server"]
    bound = server.servers[0].sockets[0].getsockname()
    url = f"http://{bound[0]}:{bound[1]}"

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=60)

    return url, stop
