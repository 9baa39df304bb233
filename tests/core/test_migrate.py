"""A blank file migrates to exactly the expected schema (update: EDGELEARN_UPDATE_SCHEMA=1)."""

import os
from pathlib import Path

from edgelearn.store import Store
from edgelearn.store.db import connect
from edgelearn.store.migrations import all_migrations, migrate

EXPECTED = Path(__file__).with_name("expected_schema.sql")


def dump_schema(path: Path) -> str:
    """Tables, indexes and virtual tables; sqlite-vec's own shadow tables are its business."""
    conn = connect(path)
    rows = conn.execute("select type, name, sql from sqlite_master where sql is not null "
                        "and name not like 'sqlite_%' order by type, name").fetchall()
    conn.close()
    virtual = [n for _, n, sql in rows if sql.upper().startswith("CREATE VIRTUAL TABLE")]
    rows = [r for r in rows if not any(r[1].startswith(v + "_") for v in virtual)]
    return "\n".join(f"-- {t} {n}\n{sql.strip()};" for t, n, sql in rows) + "\n"


def test_blank_file_migrates_to_expected_schema(tmp_path):
    db = tmp_path / "blank.db"
    store = Store(db)
    numbers = [n for (n,) in store.query("select number from _migrations order by number")]
    store.close()
    assert numbers == [m.number for m in all_migrations()]
    schema = dump_schema(db)
    if os.environ.get("EDGELEARN_UPDATE_SCHEMA") == "1":
        EXPECTED.write_text(schema)
    assert schema == EXPECTED.read_text()


def test_migrations_are_numbered_uniquely_and_rerun_is_a_noop(tmp_path):
    numbers = [m.number for m in all_migrations()]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
    conn = connect(tmp_path / "x.db")
    assert len(migrate(conn)) == len(numbers)
    assert migrate(conn) == []


def test_store_is_wal_with_sqlite_vec(tmp_path):
    store = Store(tmp_path / "w.db")
    try:
        assert store.query("pragma journal_mode")[0][0] == "wal"
        assert store.query("select vec_version()")[0][0].startswith("v")
    finally:
        store.close()
