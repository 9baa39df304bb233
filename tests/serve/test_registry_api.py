"""Registry endpoints, the serving service's Ollama worker, and the fallback while Ollama is down."""

from __future__ import annotations

import pytest
from elsupport import wait_for
from fake_ollama import FakeOllama

from edgelearn.config import Settings
from edgelearn.errors import BackendUnavailable
from edgelearn.serve.backends import FakeBackend, GenerateRequest
from edgelearn.serve.engine import Engine


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_ollama(home, monkeypatch):
    """Ollama's address points at a closed port (a developer's real Ollama must not answer)."""
    monkeypatch.setenv("EDGELEARN_DEPLOY__OLLAMA_URL", f"http://127.0.0.1:{_closed_port()}")


def test_registry_endpoints_list_deploy_and_roll_back(no_ollama, server, make_artifacts):
    store = server.runtime.store
    first = store.models.register("coder", make_artifacts("a"))
    second = store.models.register("coder", make_artifacts("b"))
    http = server.client
    listed = http.get("/v1/registry", params={"role": "coder"}).json()["models"]
    assert [m["id"] for m in listed] == [second, first]
    for model_id in (first, second):
        deployed = http.post(f"/v1/registry/{model_id}/state", json={"state": "champion", "reason": "test"})
        assert deployed.status_code == 200 and deployed.json()["state"] == "champion"
    assert http.get(f"/v1/registry/{first}").json()["state"] == "retired"
    bad = http.post(f"/v1/registry/{first}/state", json={"state": "rolled_back"})
    assert bad.status_code == 422 and "retired; it can become champion or challenger" in bad.json()["error"]["message"]
    rolled = http.post("/v1/registry/roles/coder/rollback", json={"reason": "drift"})
    assert rolled.json() == {"role": "coder", "champion": first}
    assert http.get(f"/v1/registry/{second}").json()["state"] == "rolled_back"
    assert http.get("/v1/registry/coder-v9").status_code == 404
    status = http.get("/v1/serving").json()
    assert status["backend"] == "auto" and status["ollama"]["reachable"] is False and status["loaded"] == []


def test_the_service_registers_a_deployed_version_once_ollama_comes_up(home, tmp_path, make_artifacts, monkeypatch):
    from edgelearn.runtime import Runtime

    port = _closed_port()
    monkeypatch.setenv("EDGELEARN_DEPLOY__OLLAMA_URL", f"http://127.0.0.1:{port}")
    runtime = Runtime(home=home, embed=False)
    sync = runtime.services["serving"].sync
    sync.base_backoff_s, sync.max_backoff_s, sync.poll_s = 0.05, 0.2, 0.05
    runtime.start(watch_config=False)
    fake = FakeOllama(tmp_path / "blobs", port=port)
    try:
        model_id = runtime.store.models.register("coder", make_artifacts())
        runtime.store.models.set_state(model_id, "champion", "deploy while Ollama is down")
        sync.wake()
        wait_for(lambda: (runtime.store.models.sync_task(model_id) or None) and
                 runtime.store.models.sync_task(model_id).attempts >= 2)
        served = runtime.services["serving"].engine.resolve(model_id)
        assert served.backend.name == "embedded"  # meanwhile llama.cpp serves it (nothing loaded yet)
        fake.start()
        wait_for(lambda: runtime.store.models.get(model_id).ollama_name == "edgelearn-coder-v1")
        assert "edgelearn-coder-v1:latest" in fake.models
    finally:
        runtime.stop()
        fake.stop()


def test_a_request_falls_back_to_the_embedded_backend_when_ollama_is_gone(store, make_artifacts, tmp_path):
    model_id = store.models.register("coder", make_artifacts())
    store.models.set_state(model_id, "champion", "")
    store.models.sync_done(model_id, "register", "edgelearn-coder-v1", {})
    gone = FakeOllama(tmp_path / "gone").start()
    url = gone.url
    gone.stop()  # registered earlier, now down
    settings = Settings.model_validate({"deploy": {"ollama_url": url}})
    engine = Engine(store, lambda: settings)
    local = FakeBackend(lambda target, request: f"local {target.lora_path is not None}")
    engine.install_backend("embedded", local)
    try:
        engine.note_reachable("ollama", True)  # last seen up
        served = engine.resolve(model_id)
        assert served.backend.name == "ollama"
        request = GenerateRequest(messages=[{"role": "user", "content": "hi"}])
        assert "".join(c.text for c in engine.stream(served, request)) == "local True"
        assert served.backend is local and engine.backend("ollama").reachable() is False
        assert engine.resolve(model_id).backend is local  # later requests go straight to llama.cpp
        with pytest.raises(BackendUnavailable):  # a pinned Ollama model has nothing to fall back to
            list(engine.stream(engine.resolve("ollama/llama3:8b"), request))
    finally:
        engine.close()
