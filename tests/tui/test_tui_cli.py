"""`edgelearn tui` attaches to a runtime that serves, or runs one here; run_tui and its log panel."""

from __future__ import annotations

import socket
import threading

import pytest
from tui_seed import make_app, record_notes, settle, text_of

from edgelearn.cli import main
from edgelearn.client import EmbeddedClient, HttpClient, probe
from edgelearn.tui import app as app_module
from edgelearn.tui.source import ClientSource


@pytest.fixture
def opened(monkeypatch):
    """Replace running the terminal UI with a probe: records the app (and anything checked while it 'ran')."""
    seen: dict = {}

    def fake_run_app(app):
        seen["app"] = app
        if not app.source.client.local:
            seen["served"] = probe(app.source.client.location)
        elif "port" in seen:
            seen["served"] = probe(f"http://127.0.0.1:{seen['port']}")
        app.source.close()
        return 0

    monkeypatch.setattr(app_module, "run_app", fake_run_app)
    return seen


def test_attaches_over_http_when_a_runtime_serves(server, monkeypatch, opened):
    port = int(server.url.rsplit(":", 1)[1])
    monkeypatch.setenv("EDGELEARN_SERVER__PORT", str(port))
    assert main(["tui"]) == 0
    source = opened["app"].source
    assert isinstance(source.client, HttpClient) and source.client.location == server.url
    assert opened["served"] is True


def test_no_arguments_opens_the_tui(server, monkeypatch, opened):
    monkeypatch.setenv("EDGELEARN_SERVER__PORT", server.url.rsplit(":", 1)[1])
    assert main([]) == 0
    assert isinstance(opened["app"].source.client, HttpClient)


def test_runs_the_runtime_and_serves_http_when_none_answers(home, monkeypatch, opened):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opened["port"] = port
    monkeypatch.setenv("EDGELEARN_SERVER__PORT", str(port))
    monkeypatch.setenv("EDGELEARN_STORE__EMBED", "false")
    assert main(["tui"]) == 0
    app = opened["app"]
    assert isinstance(app.source.client, EmbeddedClient) and app.runtime is not None
    assert opened["served"] is True  # agents could record while the TUI was open
    assert not probe(f"http://127.0.0.1:{port}")  # and the server stopped with it


def test_a_store_file_opens_without_a_runtime(seeded, opened):
    assert main(["tui", "--store", str(seeded.path)]) == 0
    client = opened["app"].source.client
    assert isinstance(client, EmbeddedClient) and client.location == str(seeded.path)
    assert opened["app"].runtime is None and client.runtime.services.keys() == {"experiments", "independence"}


def test_missing_store_file_is_bad_input(home, capsys):
    assert main(["tui", "--store", str(home / "nope.db")]) == 2
    assert "is not a file" in capsys.readouterr().err


def test_run_tui_wires_the_runtime_and_background(runtime, opened):
    def background(rt, log):
        log("hello")

    assert app_module.run_tui(runtime, title="edgelearn demo", background=background) == 0
    app = opened["app"]
    assert isinstance(app.source, ClientSource) and app.source.client.runtime is runtime
    assert app.title == "edgelearn demo" and app.background is background


@pytest.mark.anyio
async def test_background_lines_reach_the_log_panel(seeded):
    started = threading.Event()

    def background(rt, log):
        log("demo: recording 20 runs")
        log("demo: training coder-v1\nstep 1/10")
        started.set()
        log.stopped.wait(30)  # a long-running demo ends when the TUI closes
        log("never shown")

    app = make_app(ClientSource(EmbeddedClient.over_store(seeded)), background=background, runtime=object())
    async with app.run_test(size=(80, 24)) as pilot:
        assert started.wait(10)
        await settle(pilot)
        await pilot.pause(0.3)
        lines = list(app.screen.query_one("#log").lines)
        assert [line.split(" ", 1)[1] for line in lines] == ["demo: recording 20 runs", "demo: training coder-v1",
                                                             "step 1/10"]
        assert app.screen.query_one("#log").border_title == "log"
    assert app.log_sink.stopped.is_set()


@pytest.mark.anyio
async def test_background_failure_is_a_notification(seeded):
    def background(rt, log):
        raise RuntimeError("the demo broke")

    app = make_app(ClientSource(EmbeddedClient.over_store(seeded)), background=background, runtime=object())
    notes = record_notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(50):
            await pilot.pause(0.05)
            if notes:
                break
        assert any("the demo broke" in m for _, m in notes)
        assert any("the demo broke" in line for line in app.log_sink.lines)


@pytest.mark.anyio
async def test_unreachable_runtime_shows_notifications_on_every_screen():
    app = make_app(ClientSource(HttpClient("http://127.0.0.1:9", "token", timeout=2), owns=True))
    notes = record_notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in "12345671":
            await pilot.press(key)
            await settle(pilot)
        assert app.is_running
        assert notes and all(sev == "error" for sev, _ in notes)
        assert all("cannot reach the runtime at http://127.0.0.1:9" in m for _, m in notes)
        assert len([m for _, m in notes]) <= 8  # once per screen, not once per refresh
        assert "learning status: n/a" in text_of(app.screen.query_one("#roles"))
