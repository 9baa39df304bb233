"""Fixtures of the TUI tests: UTC on screen, and a seeded store (see tui_seed.py)."""

from __future__ import annotations

import os
import time

import pytest
from tui_seed import seed_store


@pytest.fixture(autouse=True)
def utc():
    """Clock times on screen in UTC, whatever the machine's zone."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def seeded(home):
    """A seeded store (no runtime services) and its home."""
    from edgelearn.store import Store

    store = Store(home / "edgelearn.db")
    seed_store(store, home)
    yield store
    store.close()


@pytest.fixture
def anyio_backend():
    """Async tests run on asyncio (Textual's loop), through anyio's pytest plugin."""
    return "asyncio"
