"""Opening SQLite files: apsw with sqlite-vec loaded, WAL, and the pragmas every connection needs.

Many Pythons (pyenv builds, macOS system Pythons) ship a ``sqlite3`` without
``enable_load_extension``, so sqlite-vec cannot be loaded through the standard library; apsw
bundles its own SQLite and can, so it is used everywhere. Only this module knows how a
connection is made.
"""

from __future__ import annotations

from pathlib import Path

import apsw
import apsw.bestpractice
import sqlite_vec

from edgelearn.errors import StoreError


def connect(path: Path, *, synchronous: str = "normal", readonly: bool = False) -> apsw.Connection:
    """A connection to ``path`` with sqlite-vec loaded, WAL mode and foreign keys on."""
    flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    try:
        conn = apsw.Connection(str(path), flags=flags)
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
    except apsw.Error as exc:
        raise StoreError(f"cannot open store {path}: {exc}. Check the path and its permissions.") from exc
    conn.set_busy_timeout(10_000)
    if not readonly:
        conn.execute("pragma journal_mode=wal")
    conn.execute(f"pragma synchronous={synchronous}")
    conn.execute("pragma foreign_keys=on")
    conn.execute("pragma temp_store=memory")
    conn.execute("pragma cache_size=-16000")
    return conn
