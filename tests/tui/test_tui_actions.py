"""Pilot drives every screen's actions over a real runtime and checks the store and the config file."""

from __future__ import annotations

import tomllib

import pytest
from tui_seed import press, runtime_app, seed_store, settle, table_rows, text_of

from edgelearn.tui.screens.confirm import ConfirmScreen
from edgelearn.tui.screens.run_detail import RunDetailScreen

pytestmark = pytest.mark.anyio


@pytest.fixture
def rt(runtime, home):
    seed_store(runtime.store, home)
    return runtime


@pytest.fixture
def app(rt):
    return runtime_app(rt)


async def confirm(pilot, reason: str) -> None:
    assert isinstance(pilot.app.screen, ConfirmScreen)
    pilot.app.screen.query_one("#reason").value = reason
    await press(pilot, "enter")


async def select_model(pilot, model_id: str) -> None:
    rows = table_rows(pilot.app.screen)
    index = [r[0] for r in rows].index(model_id)
    pilot.app.screen.query_one("DataTable").move_cursor(row=index)
    await settle(pilot)


async def test_rollback_after_confirmation(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "4")
        await select_model(pilot, "coder-v2")  # any row of the role: the role's champion is rolled back
        await press(pilot, "b")
        await confirm(pilot, "outputs got worse")
        assert rt.store.models.get("coder-v1").state == "rolled_back"
        assert rt.store.models.champion("coder") is None  # no earlier champion: the base serves again
        event = rt.store.events.list(type="model.rolled_back")[0]
        assert (event.subject, event.payload["reason"]) == ("coder-v1", "outputs got worse")
        states = {r[0]: r[2] for r in table_rows(app.screen)}
        assert states["coder-v1"] == "rolled_back"
        assert any("rolled back" in m for _, m in app.notes)


async def test_rollback_cancelled_changes_nothing(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "4", "b")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "escape")
        assert rt.store.models.get("coder-v1").state == "champion"
        assert rt.store.events.list(type="model.rolled_back") == []


async def test_confirmation_needs_a_reason(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "4", "b")
        await confirm(pilot, "   ")
        assert isinstance(app.screen, ConfirmScreen)  # still asking
        assert rt.store.models.get("coder-v1").state == "champion"


async def test_promote_challenger(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "4")
        await select_model(pilot, "coder-v2")
        await press(pilot, "p")
        await confirm(pilot, "wins the A/B")
        assert rt.store.models.champion("coder").id == "coder-v2"
        assert rt.store.models.get("coder-v1").state == "retired"
        assert {r[0]: r[2] for r in table_rows(app.screen)}["coder-v2"] == "champion"


async def test_retire(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "4")
        await select_model(pilot, "coder-v2")
        await press(pilot, "x")
        await confirm(pilot, "not needed")
        assert rt.store.models.get("coder-v2").state == "retired"


async def test_refused_action_is_a_notification(app, rt):
    rt.store.models.set_state("coder-v1", "retired", "test setup")  # coder has no champion now
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "4")
        await select_model(pilot, "coder-v1")
        await press(pilot, "p")
        await confirm(pilot, "again")
        assert rt.store.models.champion("coder").id == "coder-v1"
        await select_model(pilot, "coder-v2")
        await press(pilot, "p")
        await confirm(pilot, "challenger wins")
        await press(pilot, "b")
        await confirm(pilot, "undo")
        # rolling back coder-v2 restores coder-v1, the previous champion
        assert rt.store.models.champion("coder").id == "coder-v1"
        await press(pilot, "b")
        await confirm(pilot, "once more")
        await press(pilot, "b")  # no champion left: told so, nothing asked
        assert not isinstance(app.screen, ConfirmScreen)
        assert any(sev == "warning" and "no champion" in m for sev, m in app.notes)


def _config(rt) -> dict:
    return tomllib.loads(rt.config_file.read_text(encoding="utf-8"))


async def test_toggle_auto_train_writes_the_config_file(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "7")
        assert app.screen.query_one("#sw-auto_train").value is True
        await press(pilot, "t")
        assert _config(rt)["train"]["auto_train"] is False
        assert rt.settings.train.auto_train is False  # reloaded
        assert app.screen.query_one("#sw-auto_train").value is False
        await press(pilot, "t")
        assert _config(rt)["train"]["auto_train"] is True
        await pilot.click("#sw-auto_deploy")
        await settle(pilot)
        assert _config(rt)["deploy"]["auto_deploy"] is False
        assert rt.settings.deploy.auto_deploy is False


async def test_toggle_overridden_by_environment_warns(app, rt, monkeypatch):
    monkeypatch.setenv("EDGELEARN_EXPORT__AUTO_EXPORT", "true")
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "7", "e")
        assert _config(rt)["export"]["auto_export"] is False
        assert rt.settings.export.auto_export is True
        assert any(sev == "warning" and "environment" in m for sev, m in app.notes)
        assert app.screen.query_one("#sw-auto_export").value is True  # shows what is in force


async def test_filter_runs(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "2")
        assert len(table_rows(app.screen)) == 60
        await press(pilot, "slash", *"fixer", "enter")
        rows = table_rows(app.screen)
        assert {r[2] for r in rows} == {"fixer"}
        assert len(rows) == len(rt.store.runs.list(role="fixer", limit=1000))
        await press(pilot, "slash", "tab", "tab", "tab", *"0.8", "enter")
        rows = table_rows(app.screen)
        assert rows and all(float(r[5]) >= 0.8 and r[2] == "fixer" for r in rows)
        assert len(rows) == len(rt.store.runs.list(role="fixer", min_reward=0.8, limit=1000))
        await press(pilot, "slash", "tab", "tab", "tab", "backspace", "backspace", "backspace", "2", "enter")
        assert any(sev == "error" and "min reward" in m for sev, m in app.notes)
        assert len(table_rows(app.screen)) == len(rows)  # the bad filter was not applied
        await press(pilot, "escape", "c")
        assert len(table_rows(app.screen)) == 60


async def test_model_and_prompt_filters(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "2", "slash", "tab", *"coder-v2", "tab", *"stepwise", "enter")
        rows = table_rows(app.screen)
        assert rows and {(r[3], r[4]) for r in rows} == {("coder-v2", "stepwise")}
        assert len(rows) == len(rt.store.runs.list(model="coder-v2", prompt="stepwise", limit=100))


async def test_run_detail_and_back(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "2", "down", "enter")
        assert isinstance(app.screen, RunDetailScreen)
        run_id = app.screen.run_id
        assert run_id == rt.store.runs.list(limit=2)[1].id
        assert run_id in text_of(app.screen.query_one("#meta"))
        assert "Implement solve_58." in text_of(app.screen.query_one("#input"))
        assert "tests" in text_of(app.screen.query_one("#reward"))
        await press(pilot, "escape")
        assert not isinstance(app.screen, RunDetailScreen)


async def test_events_filter(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "6", "slash", *"model.", "enter")
        rows = table_rows(app.screen)
        assert rows and all(r[1].startswith("model.") for r in rows)
        assert len(rows) == len(rt.store.events.list(type="model", limit=1000))
        await press(pilot, "slash", "tab", *"fixer", "enter")
        assert table_rows(app.screen) == []
        await press(pilot, "escape", "c")
        assert len(table_rows(app.screen)) == rt.store.events.count()


async def test_dashboard_sees_new_runs(app, rt):
    from edgelearn.record.schemas import RecordIn

    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = app.screen.loads
        rt.recorder.record(RecordIn(role="judge", task="rate it", output="8/10"))
        await press(pilot, "ctrl+r")
        assert app.screen.loads > before
        assert "judge" in text_of(app.screen.query_one("#roles"))


async def test_every_screen_opens_and_arms_show_intervals(app, rt):
    async with app.run_test(size=(80, 24)) as pilot:
        for key in "1234567":
            await press(pilot, key)
            assert app.screen.loads >= 1, key
        await press(pilot, "3")
        arms = {(r[0], r[1], r[2]): r for r in table_rows(app.screen)}
        mean, interval = arms[("coder", "prompt", "default")][6:8]
        low, high = (float(x) for x in interval.split("–"))
        assert low < float(mean) < high
        assert not [n for n in app.notes if n[0] == "error"]
