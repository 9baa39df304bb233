"""A real edgelearn server on loopback in front of two stand-in providers (tests/standin.py): ``up``
(OpenAI type; as ``native`` it serves /v1/responses too) and ``claude`` (Anthropic type), with ``[wire.anthropic]`` mapping Claude names onto
them; local models answer through the engine (a ``FakeBackend`` unless a test loads the real base)."""

from __future__ import annotations

import pytest
from elsupport import start_server
from wire_standin import WireStandIn
from wiresupport import KEY, KEY_ENV, Wire, config


@pytest.fixture
def wire(home, monkeypatch):
    from edgelearn.runtime import Runtime

    monkeypatch.setenv(KEY_ENV, KEY)
    with WireStandIn(key=KEY) as up, WireStandIn(key=KEY, models=("sonnet",)) as claude:
        (home / "edgelearn.toml").write_text(config(up, claude))
        rt = Runtime(home=home, embed=False)
        server, stop = start_server(rt)
        try:
            yield Wire(server, up, claude)
        finally:
            stop()


@pytest.fixture
def fake(wire):
    from edgelearn.serve.backends import FakeBackend

    backend = FakeBackend()
    wire.server.runtime.services["serving"].engine.use_backend(backend)
    return backend
