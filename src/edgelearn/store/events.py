"""The append-only event log: every decision the runtime takes, with a type and JSON payload."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import apsw
import orjson

from edgelearn.store.filters import where


@dataclass(frozen=True)
class Event:
    id: int
    ts: float
    type: str
    role: str | None
    subject: str | None
    payload: dict[str, Any]


def _row(row: tuple) -> Event:
    return Event(row[0], row[1], row[2], row[3], row[4], orjson.loads(row[5]))


class EventsRepo:
    def __init__(self, store) -> None:
        self.store = store

    @staticmethod
    def append_in(
        conn: apsw.Connection, type: str, payload: dict[str, Any] | None = None,
        *, role: str | None = None, subject: str | None = None,
    ) -> int:
        """Append an event inside the caller's write transaction; returns its id."""
        conn.execute(
            "insert into events(ts, type, role, subject, payload) values (?, ?, ?, ?, ?)",
            (time.time(), type, role, subject, orjson.dumps(payload or {}, default=str).decode()),
        )
        return conn.last_insert_rowid()

    @staticmethod
    def append_many_in(conn: apsw.Connection, type: str,
                       items: list[tuple[dict[str, Any], str | None, str | None]]) -> None:
        """Append events of one type, ``(payload, role, subject)`` each, inside the caller's transaction."""
        now = time.time()
        conn.executemany("insert into events(ts, type, role, subject, payload) values (?, ?, ?, ?, ?)",
                         [(now, type, role, subject, orjson.dumps(payload, default=str).decode())
                          for payload, role, subject in items])

    def append(
        self, type: str, payload: dict[str, Any] | None = None,
        *, role: str | None = None, subject: str | None = None,
    ) -> int:
        """Append an event in its own write; returns its id after the commit."""
        return self.store.write(lambda c: self.append_in(c, type, payload, role=role, subject=subject))

    def list(
        self, *, type: str | None = None, role: str | None = None, subject: str | None = None,
        after_id: int | None = None, before_id: int | None = None, limit: int = 100,
    ) -> list[Event]:
        """Events newest first (or oldest first after ``after_id``), filtered by type prefix."""
        clause, params = where(
            ("(type = ? or type like ?)", (type, type.rstrip(".") + ".%") if type else None),
            ("role = ?", role or None), ("subject = ?", subject or None), ("id < ?", before_id), ("id > ?", after_id))
        order = "desc" if after_id is None else "asc"
        sql = f"select id, ts, type, role, subject, payload from events{clause} order by id {order} limit ?"
        params.append(limit)
        return [_row(r) for r in self.store.query(sql, params)]

    def last_time(self, role: str, types: tuple[str, ...]) -> float | None:
        """When the role's latest event of one of ``types`` happened (None: never)."""
        marks = ", ".join("?" * len(types))
        # "+role": look the few events of these types up by type, not every event of the role
        rows = self.store.query(f"select max(ts) from events where type in ({marks}) and +role = ?", (*types, role))
        return rows[0][0]

    def count(self, type: str | None = None) -> int:
        if type:
            return self.store.query("select count(*) from events where type = ?", (type,))[0][0]
        return self.store.query("select count(*) from events")[0][0]
