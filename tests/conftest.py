"""Shared fixtures: a home in tmp_path, a real store, a runtime, and a real server on loopback."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """EDGELEARN_HOME pointed at a fresh directory; no EDGELEARN_* variables leak in."""
    for key in list(os.environ):
        if key.startswith("EDGELEARN_"):
            monkeypatch.delenv(key)
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("EDGELEARN_HOME", str(path))
    return path


@pytest.fixture
def settings(home):
    from edgelearn.config import Settings

    return Settings()


@pytest.fixture
def store(home):
    from edgelearn.store import Store

    st = Store(home / "edgelearn.db")
    yield st
    st.close()


@pytest.fixture
def runtime(home):
    from edgelearn.runtime import Runtime

    rt = Runtime(home=home, embed=False)
    yield rt
    rt.stop()


@dataclass
class LiveServer:
    url: str
    token: str
    runtime: object
    client: httpx.Client


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


@pytest.fixture
def server(home):
    """A real uvicorn server on loopback running a fresh runtime (no embedder)."""
    from edgelearn.runtime import Runtime

    rt = Runtime(home=home, embed=False)
    live, stop = start_server(rt)
    yield live
    stop()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns a truthy value (not a timing assertion: a bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
