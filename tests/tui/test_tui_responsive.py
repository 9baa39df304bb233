"""A slow read never blocks input: other screens keep working while one waits on the store."""

from __future__ import annotations

import asyncio
import threading

import pytest
from tui_seed import make_app

from edgelearn.client import EmbeddedClient
from edgelearn.tui.screens.runs import RunsScreen
from edgelearn.tui.source import ClientSource

pytestmark = pytest.mark.anyio


class StuckStatus(ClientSource):
    """A source whose learning status hangs until released (a store locked by a long write, say)."""

    gate = threading.Event()

    def learning_status(self):
        self.gate.wait(30)
        return super().learning_status()


async def test_keys_work_while_a_read_hangs(seeded):
    app = make_app(StuckStatus(EmbeddedClient.over_store(seeded)))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("2")
            for _ in range(200):
                if isinstance(app.screen, RunsScreen) and app.screen.loads:
                    break
                await asyncio.sleep(0.02)
            assert isinstance(app.screen, RunsScreen) and app.screen.loads == 1
            assert not StuckStatus.gate.is_set()  # the status read was still hanging all along
            StuckStatus.gate.set()
    finally:
        StuckStatus.gate.set()
