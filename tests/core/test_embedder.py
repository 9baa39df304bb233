"""The background embedder: runs in seq order from its stored watermark, across restarts."""

import numpy as np

from edgelearn.embed import Embedder
from edgelearn.recording import Recorder
from edgelearn.schemas import RecordIn
from edgelearn.store import Store


def fake_encode(texts):
    return np.ones((len(texts), 384), dtype=np.float32)


def record(store, settings, n):
    rec = Recorder(store, lambda: settings)
    return [rec.record(RecordIn(role="coder", task=f"task {i}", output="x"))[0] for i in range(n)]


def embedded(store):
    return {r[0] for r in store.query("select id from runs where embedded = 1")}


def test_the_embedder_walks_on_from_its_watermark_after_a_restart(home, settings):
    store = Store(home / "edgelearn.db")
    try:
        first = record(store, settings, 5)
        emb = Embedder(store, batch=2, encode=fake_encode)
        while emb.run_once():
            pass
        assert embedded(store) == set(first)
        assert store.runs.embed_watermark() == store.query("select max(seq) from runs")[0][0]
        later = record(store, settings, 3)
        # curation embeds a run out of order: the embedder must not take it as its progress
        last_seq = store.query("select seq from runs where id = ?", (later[-1],))[0][0]
        vec = fake_encode([""])[0].tobytes()
        store.write(lambda c: store.runs.store_embeddings_in(c, [(last_seq, "coder", None, vec)]))
    finally:
        store.close()
    store = Store(home / "edgelearn.db")  # a restart: the progress comes from the file
    try:
        emb = Embedder(store, batch=2, encode=fake_encode)
        assert emb.run_once() == 2 and emb.run_once() == 0  # the two later runs curation did not embed
        assert embedded(store) == set(first + later)
        assert store.query("select count(*) from run_vec")[0][0] == 8
    finally:
        store.close()


def test_migration_9_starts_an_existing_store_before_its_oldest_unembedded_run(home):
    from edgelearn.store.db import connect
    from edgelearn.store.migrations import all_migrations

    conn = connect(home / "old.db")
    conn.execute("create table _migrations (number integer primary key, name text not null, applied_at real not null)")
    for mig in all_migrations():
        if mig.number < 9:
            mig.apply(conn)
            conn.execute("insert into _migrations values (?, ?, 0)", (mig.number, mig.name))
    for i, flag in enumerate([1, 1, 0, 1, 0]):
        conn.execute("insert into runs(id, created_at, role, output, content_hash, embedded) values (?, 0, 'r', 'x', 'h', ?)",
                     (f"run{i}", flag))
    conn.close()
    store = Store(home / "old.db")
    try:
        assert store.runs.embed_watermark() == 2  # seq 3 is the oldest without an embedding
        assert [r[0] for r in store.runs.unembedded(10)] == [3, 5]
    finally:
        store.close()
