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
    store.independence teacher -> local levels per task cluster   (independence.py)
    store.sessions     agent sessions, their outcomes, feedback  (sessions.py)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, TypeVar

import apsw

from edgelearn.store.db import connect
from edgelearn.store.migrations import migrate
from edgelearn.store.writer import Writer

T = TypeVar("T")


@dataclass(frozen=True)
class Health:
    """What ``edgelearn doctor`` reports of the file: SQLite's integrity check, journal mode, sqlite-vec."""

    integrity: str  # "ok", or SQLite's first complaint
    journal_mode: str
    vec_version: str


class Store:
    """One SQLite file holding the whole state of edgelearn."""

    def __init__(self, path: Path | str, *, synchronous: str = "normal", max_batch: int = 512,
                 locate_base: Callable[[], Path] | None = None) -> None:
        """Open (and migrate) ``path``; ``locate_base`` says where the base GGUF is, so that the model
        registry can answer for ``base`` (the serving layer knows; ``serve.base.base_gguf``)."""
        self.path = Path(path)
        self._locate_base = locate_base
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        conn = connect(self.path, synchronous=synchronous)
        migrate(conn)
        self.writer = Writer(conn, max_batch=max_batch)
        self._local = threading.local()
        self._readers: list[apsw.Connection] = []
        self._readers_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any, home: Path, *, locate_base: Callable[[], Path] | None = None) -> "Store":
        """Open the store the settings name (``store.path`` or edgelearn.db in the home)."""
        path = Path(settings.store.path).expanduser() if settings.store.path else home / "edgelearn.db"
        return cls(path, synchronous=settings.store.synchronous, max_batch=settings.store.max_batch,
                   locate_base=locate_base)

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

    def health(self) -> Health:
        """Check the file (a quick integrity check: reads every page) and what the connection runs with."""
        return Health(integrity=self.query("pragma quick_check")[0][0],
                      journal_mode=self.query("pragma journal_mode")[0][0],
                      vec_version=self.query("select vec_version()")[0][0])

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

        return ModelsRepo(self, self._locate_base)

    @cached_property
    def jobs(self):
        from edgelearn.store.jobs import JobsRepo

        return JobsRepo(self)

    @cached_property
    def experiments(self):
        from edgelearn.store.experiments import ExperimentsRepo

        return ExperimentsRepo(self)

    @cached_property
    def independence(self):
        from edgelearn.store.independence import IndependenceRepo

        return IndependenceRepo(self)

    @cached_property
    def sessions(self):
        from edgelearn.store.sessions import SessionsRepo

        return SessionsRepo(self)
