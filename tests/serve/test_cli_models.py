"""``edgelearn models``, ``deploy`` and ``chat``, run in-process on a home in tmp_path."""

from __future__ import annotations

import io
import socket

import orjson
import pytest

from edgelearn.cli import main
from edgelearn.serve import registry


@pytest.fixture
def registered(home, make_artifacts):
    from edgelearn.store import Store

    store = Store(home / "edgelearn.db")
    ids = [registry.register(store, "coder", make_artifacts(job)) for job in ("a", "b")]
    store.close()
    return ids


def _models(capsys) -> list[dict]:
    assert main(["models", "--json"]) == 0
    return orjson.loads(capsys.readouterr().out)


def test_models_lists_versions_as_json_and_as_a_table(registered, capsys):
    views = _models(capsys)
    assert [(v["id"], v["state"], v["ollama"]) for v in views] == [
        ("coder-v2", "candidate", {"name": None, "pending": None}),
        ("coder-v1", "candidate", {"name": None, "pending": None})]
    assert main(["models", "--role", "coder"]) == 0
    table = capsys.readouterr().out
    assert "coder-v1" in table and "candidate" in table


def test_deploy_registers_with_ollama(registered, fake_ollama, monkeypatch, capsys):
    monkeypatch.setenv("EDGELEARN_DEPLOY__OLLAMA_URL", fake_ollama.url)
    assert main(["deploy", "coder-v1"]) == 0
    out = capsys.readouterr().out
    assert "coder-v1: candidate → champion of role coder" in out and "as edgelearn-coder-v1" in out
    assert main(["deploy", "coder-v2", "--reason", "better tests"]) == 0
    assert "coder-v2: candidate → champion" in capsys.readouterr().out
    views = {v["id"]: v for v in _models(capsys)}
    assert views["coder-v2"]["state"] == "champion" and views["coder-v1"]["state"] == "retired"
    assert views["coder-v1"]["ollama"]["name"] is None  # the retired one was deleted from Ollama
    assert list(fake_ollama.models) == ["edgelearn-coder-v2:latest"]


def test_deploy_with_ollama_down_queues_and_with_embedded_skips_ollama(registered, monkeypatch, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("EDGELEARN_DEPLOY__OLLAMA_URL", f"http://127.0.0.1:{port}")
    assert main(["deploy", "coder-v1"]) == 0
    assert "registration is queued" in capsys.readouterr().out
    pending = _models(capsys)[1]["ollama"]["pending"]
    assert pending["action"] == "register" and pending["attempts"] == 1 and "not reachable" in pending["last_error"]
    monkeypatch.setenv("EDGELEARN_DEPLOY__BACKEND", "embedded")
    assert main(["deploy", "coder-v2"]) == 0
    assert capsys.readouterr().out == "coder-v2: candidate → champion of role coder\n"


def test_deploy_of_an_unknown_version_is_exit_code_1(home, capsys):
    assert main(["deploy", "coder-v9"]) == 1
    assert "model coder-v9 not found" in capsys.readouterr().err


def test_deploy_that_ollama_refuses_is_exit_code_1(registered, fake_ollama, monkeypatch, capsys):
    monkeypatch.setenv("EDGELEARN_DEPLOY__OLLAMA_URL", fake_ollama.url)
    fake_ollama.fail_create_midstream = "unsupported architecture"
    assert main(["deploy", "coder-v1"]) == 1
    assert "unsupported architecture" in capsys.readouterr().err
    assert main(["deploy", "coder-v1"]) == 0  # deploying again retries the failed registration
    assert "as edgelearn-coder-v1" in capsys.readouterr().out


@pytest.mark.slow
def test_chat_streams_an_answer(home, monkeypatch, capsys):
    monkeypatch.setenv("EDGELEARN_DEPLOY__THREADS", "2")
    monkeypatch.setattr("sys.stdin", io.StringIO("Say hello.\n\n"))
    assert main(["chat", "--max-tokens", "4"]) == 0
    captured = capsys.readouterr()
    assert "chatting with base (embedded)" in captured.err
    assert captured.out.startswith("> ") and len(captured.out.strip()) > 2
