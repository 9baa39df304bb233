"""The Sessions screen over a real runtime, in process and over HTTP: the tables show the seeded
sessions, a key judges one."""

import asyncio

import pytest
from textual.widgets import DataTable

from edgelearn.client import EmbeddedClient, HttpClient
from edgelearn.record.schemas import RecordIn
from edgelearn.sessions.credit import credit_for
from edgelearn.tui.app import EdgelearnApp
from edgelearn.tui.source import ClientSource

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def seed(runtime):
    for sid, task, signals in (("s-good", "parse CSV", {"tests": {"passed": 4, "total": 4}}),
                               ("s-bad", "draw a chart", {"compile": False}),
                               ("s-new", "rename things", None)):
        for i in range(2):
            runtime.recorder.record(RecordIn(role="coder", output="x", task=f"{task} {i}", session=sid))
        if signals:
            credit_for(runtime).add_signals(sid, signals)
    return runtime


@pytest.fixture
def rt(runtime):
    return seed(runtime)


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await asyncio.sleep(0.01)


def keys(table: DataTable) -> list[str]:
    return [k for k, _ in getattr(table, "_edgelearn_rows", [])]


async def test_sessions_screen_shows_and_judges(rt):
    await judge_through(ClientSource(EmbeddedClient.over_runtime(rt)), rt)


async def test_sessions_screen_over_http(server):
    rt = seed(server.runtime)
    await judge_through(ClientSource(HttpClient(server.url, server.token), owns=True), rt)


async def judge_through(source, rt):
    app = EdgelearnApp(source, runtime=rt, refresh_s=3600.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("8")
        await settle(pilot)
        screen = app.screen
        sessions = screen.query_one("#sessions", DataTable)
        assert keys(sessions) == ["s-new", "s-bad", "s-good"]
        assert [row[3] for _, row in sessions._edgelearn_rows] == ["2", "2", "2"]  # the runs column
        assert keys(screen.query_one("#review", DataTable))[0] == "s-new"  # no reward at all: most uncertain
        assert screen.query_one("#review", DataTable).border_title == "review queue · 20 of 20 left today"
        assert screen.query_one("#patterns", DataTable).border_title == "failure patterns · 1 failed sessions"
        sessions.move_cursor(row=1)
        await pilot.press("enter")
        await settle(pilot)
        assert "draw a chart 1" in str(screen.query_one("#trajectory").render())
        await pilot.press("r")
        await settle(pilot)
    detail = credit_for(rt).detail("s-bad")
    assert [f["kind"] for f in detail["feedback"]] == ["reject"]
    assert [r["reward"] for r in detail["runs"]] == [0.0, 0.0]
    assert credit_for(rt).detail("s-good")["feedback"] == []
