"""Registering versions with Ollama, against the fake server in fake_ollama.py (FACTS.md's API)."""

from __future__ import annotations

import socket

import httpx
import ollama
import pytest
from elsupport import wait_for
from fake_ollama import ADAPTERS_REFUSED, FakeOllama

from edgelearn.config import Settings
from edgelearn.errors import BackendError
from edgelearn.serve import registry
from edgelearn.serve.base import sha256_file
from edgelearn.serve.ollama import Registrar, probe
from edgelearn.serve.sync import OllamaSync
from edgelearn.serve.templates import chatml_go_template

# SmolLM2's default system prompt lives inside the template (which also renders tools): no "system" is sent
CHATML_GO_TEMPLATE = chatml_go_template("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
STOPS = {"stop": ["<|im_start|>", "<|im_end|>"]}


def settings_for(url: str, **deploy) -> Settings:
    return Settings.model_validate({"deploy": {"ollama_url": url, **deploy}})


def sync_for(store, home, url: str, **deploy) -> OllamaSync:
    settings = settings_for(url, **deploy)
    return OllamaSync(store, lambda: settings, home, base_backoff_s=0.05, max_backoff_s=0.2, poll_s=0.05)


def champion(store, make_artifacts, job: str = "job-1", **kw) -> str:
    model_id = registry.register(store, "coder", make_artifacts(job, **kw))
    store.models.set_state(model_id, "champion", "test deploy")
    return model_id


def test_merged_route_sends_exactly_the_documented_requests(store, home, make_artifacts, fake_ollama, gguf_files):
    model_id = champion(store, make_artifacts)
    assert sync_for(store, home, fake_ollama.url).run_once() == 1
    digest = "sha256:" + sha256_file(gguf_files["light_merged"])
    size = gguf_files["light_merged"].stat().st_size
    assert fake_ollama.requests == [
        ("GET", "/api/version", None),
        ("HEAD", f"/api/blobs/{digest}", None),
        ("POST", f"/api/blobs/{digest}", size),
        ("POST", "/api/create", {"model": "edgelearn-coder-v1", "stream": True, "files": {"model.gguf": digest},
                                 "template": CHATML_GO_TEMPLATE, "parameters": STOPS}),
        ("POST", "/api/show", {"model": "edgelearn-coder-v1"}),
    ]
    version = store.models.get(model_id)
    assert version.ollama_name == "edgelearn-coder-v1" and store.models.sync_task(model_id) is None
    event = store.events.list(type="model.ollama_registered")[0]
    assert event.payload["route"] == "merged" and event.payload["server_version"] == "0.34.1"
    modelfile = home / "modelfiles" / "edgelearn-coder-v1.Modelfile"
    assert f"FROM {version.merged_path}\n" in modelfile.read_text() and event.payload["modelfile"] == str(modelfile)
    # a second registration finds the blob already there (HEAD 200) and does not upload it again
    fake_ollama.requests.clear()
    Registrar(fake_ollama.url, home).register(version, "edgelearn-coder-copy")
    assert [r[:2] for r in fake_ollama.requests if r[0] in ("HEAD", "POST")][:2] == [
        ("HEAD", f"/api/blobs/{digest}"), ("POST", "/api/create")]


def test_current_server_refuses_adapters_and_modelfile_only_bodies(fake_ollama):
    client = ollama.Client(host=fake_ollama.url)
    with pytest.raises(ollama.ResponseError) as refused:
        list(client.create(model="x", from_="base", adapters={"a.gguf": "sha256:00"}, stream=True))
    assert refused.value.status_code == 400 and refused.value.error == ADAPTERS_REFUSED
    old_style = httpx.post(f"{fake_ollama.url}/api/create", json={"model": "x", "modelfile": "FROM base"})
    assert old_style.status_code == 400 and old_style.json() == {"error": "neither 'from' or 'files' was specified"}


def test_adapter_route_is_used_only_when_enabled_on_an_old_server(store, home, make_artifacts, tmp_path, gguf_files):
    with FakeOllama(tmp_path / "old", version="0.33.0") as old:
        champion(store, make_artifacts)
        assert sync_for(store, home, old.url, ollama_adapter_route=True).run_once() == 1
        base = gguf_files["light_base"]
        base_digest = "sha256:" + sha256_file(base)
        adapter_digest = "sha256:" + sha256_file(gguf_files["adapter"])
        base_name = f"edgelearn-base-{sha256_file(base)[:12]}"
        assert old.requests == [
            ("GET", "/api/version", None),
            ("POST", "/api/show", {"model": base_name}),
            ("HEAD", f"/api/blobs/{base_digest}", None),
            ("POST", f"/api/blobs/{base_digest}", base.stat().st_size),
            ("POST", "/api/create", {"model": base_name, "stream": True, "files": {"model.gguf": base_digest},
                                     "template": CHATML_GO_TEMPLATE, "parameters": STOPS}),
            ("HEAD", f"/api/blobs/{adapter_digest}", None),
            ("POST", f"/api/blobs/{adapter_digest}", gguf_files["adapter"].stat().st_size),
            ("POST", "/api/create", {"model": "edgelearn-coder-v1", "stream": True, "from": base_name,
                                     "adapters": {"adapter.gguf": adapter_digest}, "template": CHATML_GO_TEMPLATE,
                                     "parameters": STOPS}),
            ("POST", "/api/show", {"model": "edgelearn-coder-v1"}),
        ]
        assert old.models["edgelearn-coder-v1:latest"]["from"] == base_name
        assert "ADAPTER " in (home / "modelfiles" / "edgelearn-coder-v1.Modelfile").read_text()
        assert store.events.list(type="model.ollama_registered")[0].payload["route"] == "adapter"
        # the next version reuses the base model already there
        old.requests.clear()
        second = champion(store, make_artifacts, "job-2")
        sync_for(store, home, old.url, ollama_adapter_route=True).run_once(second)
        assert ("POST", "/api/show", {"model": base_name}) in old.requests
        assert not any(r[1] == f"/api/blobs/{base_digest}" and r[0] == "POST" for r in old.requests)
    # the same setting on a current server takes the merged route
    with FakeOllama(tmp_path / "new", version="0.34.1") as new:
        third = champion(store, make_artifacts, "job-3")
        sync_for(store, home, new.url, ollama_adapter_route=True).run_once(third)
        creates = [r[2] for r in new.requests if r[1] == "/api/create"]
        assert len(creates) == 1 and "files" in creates[0] and "adapters" not in creates[0]


def test_an_error_line_mid_stream_fails_the_registration_until_requeued(store, home, make_artifacts, fake_ollama):
    model_id = champion(store, make_artifacts)
    fake_ollama.fail_create_midstream = "unsupported architecture"
    sync = sync_for(store, home, fake_ollama.url)
    assert sync.run_once() == 0
    task = store.models.sync_task(model_id)
    assert task.status == "failed" and "unsupported architecture" in task.last_error
    assert store.models.get(model_id).ollama_name is None
    assert "unsupported architecture" in store.events.list(type="model.ollama_failed")[0].payload["error"]
    assert sync.run_once() == 0  # failed tasks wait for a requeue
    store.models.sync_requeue(model_id)
    assert sync.run_once() == 1 and store.models.get(model_id).ollama_name == "edgelearn-coder-v1"


def test_blob_digests_are_checked_on_both_sides(store, home, make_artifacts, fake_ollama, tmp_path):
    wrong = "sha256:" + "0" * 64
    response = httpx.post(f"{fake_ollama.url}/api/blobs/{wrong}", content=b"GGUF data")
    assert response.status_code == 400 and "digest mismatch" in response.json()["error"]
    model_id = champion(store, make_artifacts, merged=False)
    version = store.models.get(model_id)
    with pytest.raises(BackendError, match="no merged GGUF"):
        Registrar(fake_ollama.url, home).register(version, "edgelearn-coder-v1")
    changed = tmp_path / "changed.gguf"
    changed.write_bytes(b"GGUF changed")
    with pytest.raises(BackendError, match="changed since it was registered"):
        Registrar(fake_ollama.url, home).upload(changed, expected_sha256="1" * 64)


def test_retired_versions_are_deleted_from_ollama(store, home, make_artifacts, fake_ollama):
    first = champion(store, make_artifacts, "a")
    sync = sync_for(store, home, fake_ollama.url)
    sync.run_once()
    second = champion(store, make_artifacts, "b")
    assert store.models.sync_task(first).action == "delete"
    fake_ollama.requests.clear()
    assert sync.run_once() == 2
    assert ("DELETE", "/api/delete", {"model": "edgelearn-coder-v1"}) in fake_ollama.requests
    tags = httpx.get(f"{fake_ollama.url}/api/tags").json()["models"]
    assert [m["name"] for m in tags] == ["edgelearn-coder-v2:latest"]
    assert store.models.get(first).ollama_name is None and store.models.get(second).ollama_name
    assert store.events.list(type="model.ollama_deleted")[0].subject == first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_registration_waits_for_ollama_across_restarts(home, make_artifacts, tmp_path):
    from edgelearn.store import Store

    url_port = _free_port()
    fake = FakeOllama(tmp_path / "later", version="0.34.1", port=url_port)
    first = Store(home / "edgelearn.db")
    model_id = champion(first, make_artifacts)
    assert sync_for(first, home, fake.url).run_once() == 0  # down: retried later
    assert "not reachable" in first.models.sync_task(model_id).last_error
    first.close()

    store = Store(home / "edgelearn.db")  # a restart: the queue is in the file
    sync = sync_for(store, home, fake.url)
    sync.start()
    try:
        wait_for(lambda: store.models.sync_task(model_id).attempts >= 3)
        fake.start()
        wait_for(lambda: store.models.sync_task(model_id) is None)
    finally:
        sync.stop()
        fake.stop()
        store.close()
    reopened = Store(home / "edgelearn.db")
    assert reopened.models.get(model_id).ollama_name == "edgelearn-coder-v1"
    reopened.close()


def test_probe_reports_version_and_reachability(fake_ollama):
    assert probe(fake_ollama.url) == {"url": fake_ollama.url, "reachable": True, "version": "0.34.1",
                                      "adapters": False, "error": None}
    down = probe(f"http://127.0.0.1:{_free_port()}", timeout=0.5)
    assert down["reachable"] is False and down["version"] is None and down["error"]


def test_a_registered_version_is_served_through_ollama(store, home, make_artifacts, fake_ollama):
    from edgelearn.serve.backends import GenerateRequest
    from edgelearn.serve.engine import Engine

    model_id = champion(store, make_artifacts)
    settings = settings_for(fake_ollama.url)
    sync_for(store, home, fake_ollama.url).run_once()
    engine = Engine(store, lambda: settings)
    try:
        engine.note_reachable("ollama", True)
        served = engine.resolve(model_id)
        assert served.backend.name == "ollama" and served.target.ollama_name == "edgelearn-coder-v1"
        text = "".join(c.text for c in engine.stream(served, GenerateRequest(
            messages=[{"role": "user", "content": "hi there"}], max_tokens=8)))
        assert text == "ollama says: hi there"
        pinned = engine.resolve("ollama/edgelearn-coder-v1")
        last = list(engine.stream(pinned, GenerateRequest(messages=[{"role": "user", "content": "a b c"}],
                                                          max_tokens=2)))[-1]
        assert (last.finish_reason, last.usage.completion_tokens) == ("length", 2)
    finally:
        engine.close()


@pytest.mark.slow
def test_uploaded_merged_gguf_loads_with_the_base_chat_template(store, home, make_artifacts, fake_ollama, base_gguf):
    from llama_cpp import Llama

    from edgelearn.serve.llamacpp import avoid_amx

    avoid_amx()  # raw Llama objects below: AMX matmuls fault on machines that advertise AMX without enabling it
    model_id = champion(store, make_artifacts, loadable=True)
    sync_for(store, home, fake_ollama.url).run_once()
    digest = fake_ollama.models["edgelearn-coder-v1:latest"]["files"]["model.gguf"]
    llm = Llama(model_path=str(fake_ollama.blob_path(digest)), n_threads=2, n_ctx=256, verbose=False)
    base = Llama(model_path=str(base_gguf), n_threads=1, n_ctx=64, vocab_only=True, verbose=False)
    assert llm.metadata["tokenizer.chat_template"] == base.metadata["tokenizer.chat_template"]
    assert llm.metadata["general.name"] == "edgelearn test merged"
    answer = llm.create_chat_completion(messages=[{"role": "user", "content": "Say hi."}], max_tokens=4,
                                        temperature=0)
    assert answer["choices"][0]["finish_reason"] in ("stop", "length")
    assert "<|im_end|>" not in answer["choices"][0]["message"]["content"]
    assert store.models.get(model_id).merged_sha256 == digest.removeprefix("sha256:")
