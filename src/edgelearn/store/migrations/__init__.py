"""Numbered schema migrations, recorded in ``_migrations``; never edit one once it has shipped.

Each migration lives in its own module ``mNNNN_name.py`` and registers itself with
``@migration(N, "name")``; numbers are unique and applied in order, each in its own
transaction. A new table or column is a new migration, not an edit of an old one.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from dataclasses import dataclass
from typing import Callable

import apsw

from edgelearn.errors import StoreError


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    apply: Callable[[apsw.Connection], None]


_REGISTRY: dict[int, Migration] = {}


def migration(number: int, name: str) -> Callable[[Callable[[apsw.Connection], None]], Callable]:
    """Register ``fn(conn)`` as migration ``number``; a duplicate number is a programming error."""

    def wrap(fn: Callable[[apsw.Connection], None]) -> Callable[[apsw.Connection], None]:
        if number in _REGISTRY:
            raise RuntimeError(f"migration {number} registered twice ({_REGISTRY[number].name}, {name})")
        _REGISTRY[number] = Migration(number, name, fn)
        return fn

    return wrap


def all_migrations() -> list[Migration]:
    """Every migration shipped in this package, in order."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            importlib.import_module(f"{__name__}.{info.name}")
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]


def migrate(conn: apsw.Connection) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied."""
    conn.execute(
        "create table if not exists _migrations (number integer primary key, name text not null, applied_at real not null)"
    )
    done = {row[0] for row in conn.execute("select number from _migrations")}
    applied = []
    for mig in all_migrations():
        if mig.number in done:
            continue
        try:
            with conn:
                mig.apply(conn)
                conn.execute(
                    "insert into _migrations(number, name, applied_at) values (?, ?, ?)",
                    (mig.number, mig.name, time.time()),
                )
        except apsw.Error as exc:
            raise StoreError(f"migration {mig.number} ({mig.name}) failed: {exc}") from exc
        applied.append(mig.name)
    return applied
