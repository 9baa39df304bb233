"""Snapshots of every screen at 80x24 over the seeded store (fixed ids, times and clock).

Regenerate after a deliberate change: ``pytest tests/tui --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import pytest
from tui_seed import make_app, seed_independence, settle, teacher_settings

from edgelearn.client import EmbeddedClient
from edgelearn.config import Settings
from edgelearn.tui.source import ClientSource


@pytest.fixture
def app(seeded, home, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the config path reads ~/home/edgelearn.toml on every machine
    return make_app(ClientSource(EmbeddedClient.over_store(seeded, Settings(), config_file=home / "edgelearn.toml")))


@pytest.fixture
def teacher_app(seeded, home, tmp_path, monkeypatch):
    """The seeded store with ``coder`` taught by ``up/big``: three clusters at levels 3, 2 and 0."""
    monkeypatch.setenv("HOME", str(tmp_path))
    seed_independence(seeded)
    source = ClientSource(EmbeddedClient.over_store(seeded, teacher_settings(), config_file=home / "edgelearn.toml"))
    return make_app(source)


def goto(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("key,screen", [("1", "dashboard"), ("2", "runs"), ("3", "arms"), ("4", "models"),
                                        ("5", "experiments"), ("6", "events"), ("7", "config"),
                                        ("8", "sessions")])
def test_screen_80x24(snap_compare, app, key, screen):
    assert snap_compare(app, terminal_size=(80, 24), run_before=goto(key))


def test_run_detail(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), run_before=goto("2", "down", "enter"))


def test_runs_filtered_by_role(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), run_before=goto("2", "slash", *"fixer", "enter"))


def test_rollback_confirmation(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), run_before=goto("4", "down", "b"))


def test_dashboard_wide(snap_compare, app):
    assert snap_compare(app, terminal_size=(120, 36), run_before=goto("1"))


def test_dashboard_with_a_teacher(snap_compare, teacher_app):
    assert snap_compare(teacher_app, terminal_size=(80, 24), run_before=goto("1"))


def test_dashboard_with_a_teacher_wide(snap_compare, teacher_app):
    assert snap_compare(teacher_app, terminal_size=(120, 36), run_before=goto("1"))


def test_pin_level_dialog(snap_compare, teacher_app):
    assert snap_compare(teacher_app, terminal_size=(80, 24), run_before=goto("l"))
