"""``edgelearn tui`` (and ``edgelearn`` alone): open the TUI.

When a runtime already answers on the configured port, the TUI attaches to it over HTTP
(``edgelearn.connect``, token from ``<home>/token``); otherwise it starts the runtime in this process and serves
HTTP from a background thread, so agents keep recording while the TUI is open.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from edgelearn.errors import InvalidInput


def register(sub) -> None:
    """Add ``edgelearn tui``."""
    p = sub.add_parser("tui", help="watch and steer the learning loop (the default command)")
    p.add_argument("--config", help="config file (default: edgelearn.toml in the edgelearn home)")
    p.add_argument("--port", type=int, help="port to attach to or serve on (default: server.port)")
    p.add_argument("--url", help="attach to the runtime at this URL instead of looking on the port")
    p.add_argument("--no-serve", action="store_true", help="do not serve HTTP when starting the runtime here")
    p.add_argument("--store", help="open a store file read-mostly, with no runtime (e.g. a copy of edgelearn.db)")
    p.set_defaults(handler=default_handler)


def default_handler(args: argparse.Namespace) -> int:
    """Open the TUI: attach to a running runtime, or run one here (``edgelearn`` with no arguments)."""
    from edgelearn.cli.core import load
    from edgelearn.client import EmbeddedClient, HttpClient, probe
    from edgelearn.tui.source import ClientSource

    settings, home = load(args)
    if getattr(args, "store", None):
        return _open_store(Path(args.store), settings)
    port = settings.server.port if getattr(args, "port", None) is None else args.port
    url = getattr(args, "url", None) or f"http://127.0.0.1:{port}"
    if getattr(args, "url", None) or (port and probe(url)):
        return _run(ClientSource(HttpClient(url, home=home), owns=True))

    from edgelearn.runtime import Runtime

    runtime = Runtime(settings, home=home)
    server = None
    try:
        runtime.start()
        if not getattr(args, "no_serve", False):
            server = _serve(runtime, settings.server.host, port)
        return _run(ClientSource(EmbeddedClient.over_runtime(runtime)), runtime=runtime, served=server)
    finally:
        if server is not None:
            server.stop()
        runtime.stop()


def _open_store(path: Path, settings) -> int:
    from edgelearn.client import EmbeddedClient
    from edgelearn.store import Store
    from edgelearn.tui.source import ClientSource

    if not path.is_file():
        raise InvalidInput(f"--store: {path} is not a file", field="store")
    store = Store(path)
    try:
        return _run(ClientSource(EmbeddedClient.over_store(store, settings)))
    finally:
        store.close()


def _run(source, *, runtime: Any = None, served: _Server | None = None) -> int:
    from edgelearn.tui.app import EdgelearnApp, run_app

    app = EdgelearnApp(source, runtime=runtime)
    if served is not None and served.error:
        app.notify(f"HTTP not served: {served.error}", severity="warning", timeout=15, markup=False)
    return run_app(app)


class _Server:
    """uvicorn serving the runtime's HTTP app from a daemon thread."""

    def __init__(self, runtime, host: str, port: int) -> None:
        import uvicorn

        from edgelearn.server.app import create_app

        config = uvicorn.Config(create_app(runtime), host=host, port=port, log_level="error", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=3)
        self.server = uvicorn.Server(config)
        self.error: str | None = None
        self.thread = threading.Thread(target=self._serve, name="edgelearn-http", daemon=True)

    def _serve(self) -> None:
        try:
            self.server.run()
        except BaseException as exc:  # noqa: BLE001 - uvicorn exits (SystemExit) when the port is taken
            self.error = str(exc) or type(exc).__name__
        if not self.server.started and self.error is None:
            self.error = "the server did not start (is the port taken?)"

    def start(self, wait_s: float = 10.0) -> None:
        self.thread.start()
        for _ in range(int(wait_s / 0.05)):
            if self.server.started or not self.thread.is_alive():
                return
            threading.Event().wait(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _serve(runtime, host: str, port: int) -> _Server:
    server = _Server(runtime, host, port)
    server.start()
    return server
