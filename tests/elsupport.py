"""Helpers shared by tests (import as `from elsupport import ...`; conftest names collide)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx


@dataclass
class LiveServer:
    url: str
    token: str
    runtime: object
    client: httpx.Client

    def settle(self) -> None:
        """Wait until the runs of finished streams are committed: each is recorded right after its
        stream's last bytes, and the runs API waits for them, as it does for any client."""
        self.client.get("/v1/runs", params={"limit": 1}).raise_for_status()

    def run(self, run_id: str):
        """Run ``run_id`` read from the store once committed (``settle``)."""
        self.settle()
        return self.runtime.store.runs.get(run_id)


def start_server(runtime) -> tuple[LiveServer, callable]:
    """Serve ``runtime`` on 127.0.0.1 with a random port in a thread; returns (server, stop)."""
    from edgelearn.server.app import serve

    holder: dict = {}
    ready = threading.Event()

    def on_ready(server):
        holder["server"] = server
        ready.set()

    thread = threading.Thread(target=serve, args=(runtime,), kwargs={"port": 0, "ready": on_ready}, daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("server did not start")
    uv = holder["server"]
    port = uv.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {runtime.token}"}, timeout=60)

    def stop():
        client.close()
        uv.should_exit = True
        thread.join(timeout=30)

    return LiveServer(url, runtime.token, runtime, client), stop


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns a truthy value (not a timing assertion: a bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
