"""The store: the only place that speaks SQL.

``Store`` owns the SQLite file (apsw + sqlite-vec, WAL). Writes go through one writer
thread that commits in groups (``store.write`` / ``store.awrite``); reads use one connection
per thread (``store.read()``). Each table group has a repository object that holds its SQL:

    store.runs         runs, signals, feedback, embeddings      (runs.py)
    store.events       the append-only event log                 (events.py)
    store.arms         bandit arms, selections and statistics    (arms.py)
    store.datasets     curated dataset versions                  (datasets.py)
    store.models       model registry                            (models.py)
    store.jobs         training jobs                             (jobs.py)
    store.experiments  champion / challenger experiments, loop   (experiments.py)
    store.sessions     agent sessions, their outcomes, feedback  (sessions.py)
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, TypeVar

import apsw

from edgelearn.store.db import connect
from edgelearn.store.migrations import migrate
from edgelearn.store.writer import Writer

T = TypeVar("T")


class Store:
    """One SQLite file holding the whole state of edgelearn."""

    def __init__(self, path: Path | str, *, synchronous: str = "normal", max_batch: int = 512) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        conn = connect(self.path, synchronous=synchronous)
        migrate(conn)
        self.writer = Writer(conn, max_batch=max_batch)
        self._local = threading.local()
        self._readers: list[apsw.Connection] = []
        self._readers_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any, home: Path) -> "Store":
        """Open the store the settings name (``store.path`` or edgelearn.db in the home)."""
        path = Path(settings.store.path).expanduser() if settings.store.path else home / "edgelearn.db"
        return cls(path, synchronous=settings.store.synchronous, max_batch=settings.store.max_batch)

    # writes -------------------------------------------------------------------------------
    def write(self, fn: Callable[[apsw.Connection], T]) -> T:
        """Run ``fn(conn)`` in the writer's transaction; returns after the commit."""
        return self.writer.call(fn)

    async def awrite(self, fn: Callable[[apsw.Connection], T], inline: bool = False) -> T:
        """``write`` for asyncio callers; ``inline`` for a small write (one run) that may commit on
        the event loop's thread when the writer is idle (see ``Writer.acall``)."""
        return await self.writer.acall(fn, inline=inline)

    # reads --------------------------------------------------------------------------------
    def read(self) -> apsw.Connection:
        """This thread's read connection (sees every committed write)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, synchronous=self._synchronous)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def query(self, sql: str, params: Any = ()) -> list[tuple]:
        """Rows of a read-only query on this thread's connection."""
        return self.read().execute(sql, params).fetchall()

    def close(self) -> None:
        """Commit what is queued and close every connection."""
        self.writer.close()
        with self._readers_lock:
            for conn in self._readers:
                try:
                    conn.close()
                except apsw.Error:
                    pass
            self._readers.clear()

    # repositories -------------------------------------------------------------------------
    @cached_property
    def runs(self):
        from edgelearn.store.runs import RunsRepo

        return RunsRepo(self)

    @cached_property
    def events(self):
        from edgelearn.store.events import EventsRepo

        return EventsRepo(self)

    @cached_property
    def arms(self):
        from edgelearn.store.arms import ArmsRepo

        return ArmsRepo(self)

    @cached_property
    def datasets(self):
        from edgelearn.store.datasets import DatasetsRepo

        return DatasetsRepo(self)

    @cached_property
    def models(self):
        from edgelearn.store.models import ModelsRepo

        return ModelsRepo(self)

    @cached_property
    def jobs(self):
        from edgelearn.store.jobs import JobsRepo

        return JobsRepo(self)

    @cached_property
    def experiments(self):
        from edgelearn.store.experiments import ExperimentsRepo

        return ExperimentsRepo(self)

    @cached_property
    def sessions(self):
        from edgelearn.store.sessions import SessionsRepo

        return SessionsRepo(self)
