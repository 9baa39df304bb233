"""The dashboard's independence panel and its pin key: Pilot over a real runtime whose ``coder``
has a teacher, the same panel over HTTP, and nothing new for roles without one."""

from __future__ import annotations

import pytest
from elsupport import start_server
from tui_seed import (
    CLUSTERS,
    NOW,
    TEACHER,
    make_app,
    press,
    runtime_app,
    seed_independence,
    seed_store,
    settle,
    table_rows,
    text_of,
)

import edgelearn
from edgelearn.client import EmbeddedClient
from edgelearn.tui import derive, fmt
from edgelearn.tui.screens.pin import UNPIN, PinScreen
from edgelearn.tui.source import ClientSource
from edgelearn.tui.widgets.independence import IndependencePanel

pytestmark = pytest.mark.anyio

CONFIG = ('[providers.up]\ntype = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
          '[providers.up.prices.big]\ninput = 2.0\noutput = 8.0\n\n[roles.coder]\nteacher = "up/big"\n')


@pytest.fixture
def rt(home):
    from edgelearn.runtime import Runtime

    (home / "edgelearn.toml").write_text(CONFIG)
    rt = Runtime(home=home, embed=False)
    seed_store(rt.store, home)
    seed_independence(rt.store)
    yield rt
    rt.stop()


@pytest.fixture
def app(rt):
    return runtime_app(rt)


async def choose(pilot, level, reason: str) -> None:
    """In the pin dialog: pick ``level`` through the dropdown with the keyboard, type the reason, confirm."""
    screen = pilot.app.screen
    assert isinstance(screen, PinScreen)
    values = [v for _, v in screen._options()]
    steps = values.index(level) - values.index(screen.query_one("#level").value)
    await press(pilot, "enter", *(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
    assert screen.query_one("#level").value == level
    screen.query_one("#reason").value = reason
    screen.query_one("#confirm").press()
    await settle(pilot)


async def test_panel_shows_levels_share_and_cost_saved(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(IndependencePanel)
        assert panel.display
        requests = sum(c[4] for c in CLUSTERS)
        # 650,000 input and 250,000 output tokens served locally at 2 $ and 8 $ per million
        assert table_rows(panel) == [["coder", TEACHER, "0-3", "49%", f"{requests:,}", "$3.30"]]
        detail = text_of(panel.query_one("#indep-detail"))
        assert "0:L3 1:L2 2:L0" in detail and "escapes 11" in detail and "1h" in detail
        chart = [fmt.SPARK.index(g) for g in detail.split("local ")[1][:derive.SPARK_BUCKETS] if g != " "]
        assert sum(chart[:6]) < sum(chart[-6:])  # the local share rose over the hour
        assert app.screen.check_action("pin_level", ()) is True  # the footer lists the key


async def test_pin_key_pins_the_level_in_the_store(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "l")
        assert app.screen.query_one("#level").value == 0  # the lowest cluster's level: no jump up unasked
        await choose(pilot, 2, "trust it on every cluster")
        assert not isinstance(app.screen, PinScreen)
        pin = rt.store.independence.pins()["coder"]
        assert (pin.level, pin.reason) == (2, "trust it on every cluster")
        event = rt.store.events.list(type="independence.pinned")[0]
        assert (event.role, event.payload["level"], event.payload["reason"]) == ("coder", 2,
                                                                               "trust it on every cluster")
        assert rt.services["independence"].level("coder", 2) == 2  # routing follows the pin
        await settle(pilot)
        assert table_rows(app.screen.query_one(IndependencePanel))[0][2] == "2 pinned"
        assert any("pinned at level 2" in m for _, m in app.notes)

        await press(pilot, "l")
        assert app.screen.query_one("#level").value == 2
        await choose(pilot, UNPIN, "back to the rule")
        assert "coder" not in rt.store.independence.pins()
        assert rt.store.events.list(type="independence.unpinned")[0].payload["reason"] == "back to the rule"
        assert any("unpinned" in m for _, m in app.notes)


async def test_pin_cancelled_changes_nothing(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "l")
        assert isinstance(app.screen, PinScreen)
        await press(pilot, "escape")
        assert not isinstance(app.screen, PinScreen)
        assert rt.store.independence.pins() == {} and rt.store.events.list(type="independence.pinned") == []


async def test_pin_needs_a_reason(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "l")
        await choose(pilot, 1, "  ")
        assert isinstance(app.screen, PinScreen)  # still asking
        assert rt.store.independence.pins() == {}


async def test_no_teacher_no_panel_and_no_key(runtime, home):
    seed_store(runtime.store, home)
    app = make_app(ClientSource(EmbeddedClient.over_runtime(runtime)), runtime=runtime)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not app.screen.query_one(IndependencePanel).display
        assert app.screen.check_action("pin_level", ()) is False
        await press(pilot, "l")
        assert not isinstance(app.screen, PinScreen)


def test_the_panel_reads_the_same_over_http(home):
    from edgelearn.runtime import Runtime

    (home / "edgelearn.toml").write_text(CONFIG)
    rt = Runtime(home=home, embed=False)
    seed_store(rt.store, home)
    seed_independence(rt.store)
    live, stop = start_server(rt)
    try:
        local = ClientSource(EmbeddedClient.over_runtime(rt))
        remote = ClientSource(edgelearn.connect(live.url, live.token), owns=True)
        assert remote.independence(NOW, 3600) == local.independence(NOW, 3600)
        assert remote.pin_level("coder", 4, "over HTTP") == {"role": "coder", "pin": 4}
        assert rt.store.independence.pins()["coder"].level == 4
        assert remote.unpin_level("coder", "done") == {"role": "coder", "unpinned": True}
        remote.close()
    finally:
        stop()


def test_sparkline_and_money():
    assert fmt.spark([0.0, 0.5, 1.0, None, 2.0]) == "▁▅█ █"
    assert fmt.spark([1.0, 2.0, 4.0], top=4.0) == "▃▅█"
    assert fmt.money(None) == "n/a" and fmt.money(3.3) == "$3.30" and fmt.money(0.0042) == "$0.0042"
    assert derive.cumulative([0.1, None, 0.2]) == pytest.approx([0.1, 0.1, 0.3])
