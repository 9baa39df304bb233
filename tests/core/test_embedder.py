"""The background embedder: runs in seq order from its stored watermark, across restarts."""

import numpy as np
import pytest

from edgelearn.embed.embedder import Embedder
from edgelearn.record.recorder import Recorder
from edgelearn.record.schemas import RecordIn
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


def test_embed_texts_caps_torch_threads_for_its_call_only(monkeypatch):
    import torch

    from edgelearn.embed import encode as embed

    seen = []

    class Model:  # stands in for the sentence-transformers model: records torch's threads at each encode
        def encode(self, texts, **kwargs):
            seen.append(torch.get_num_threads())
            return np.ones((len(texts), 384), dtype=np.float32)

    monkeypatch.setattr(embed, "load_model", lambda: Model())
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        embed.embed_texts(["a background batch"], threads=1)
        assert torch.get_num_threads() == 2
        embed.embed_texts(["a foreground search"])
    finally:
        torch.set_num_threads(previous)
    assert seen == [1, 2]


def test_the_embedding_process_matches_the_model_runs_below_the_server_and_comes_back():
    import os
    import signal

    from edgelearn.embed.encode import embed_texts
    from edgelearn.embed.process import NICE, ProcessEncoder

    texts = ["merge overlapping intervals", "parse an ISO date", ""]
    enc = ProcessEncoder()
    try:
        vecs = enc(texts)
        assert vecs.shape == (3, 384) and vecs.dtype == np.float32
        assert np.allclose(vecs, embed_texts(texts), atol=1e-5)  # the same model as in the server
        pid = enc.pid
        if hasattr(os, "SCHED_IDLE"):  # Linux: runs only on a core nothing else wants
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        elif hasattr(os, "getpriority"):
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE)
        os.kill(pid, signal.SIGKILL)
        assert np.allclose(enc(texts[:1]), vecs[:1], atol=1e-5)  # a fresh child answers the batch
        assert enc.started == 2 and enc.pid != pid
    finally:
        enc.close()
    assert enc.pid is None


def test_the_runtime_embedder_encodes_in_a_child_process_and_stopping_ends_it(home, settings):
    import os

    store = Store(home / "edgelearn.db")
    emb = Embedder(store, batch=4)  # the default encoder, as the runtime builds it
    try:
        ids = record(store, settings, 5)
        emb.start()
        assert emb.wait_idle(120)
        assert embedded(store) == set(ids)
        pid = emb._encode.pid
        assert pid is not None and pid != os.getpid()
    finally:
        emb.stop()
        store.close()
    assert emb._encode.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended and reaped


def test_the_embedding_process_exits_when_idle_and_starts_again_for_new_runs(home, settings, capfd):
    import os

    from elsupport import wait_for

    store = Store(home / "edgelearn.db")
    emb = Embedder(store, batch=4, idle_s=0.5)  # the runtime passes store.embed_idle_s (60 s by default)
    try:
        first = record(store, settings, 3)
        emb.start()
        assert emb.wait_idle(120)
        assert embedded(store) == set(first)
        pid = emb._encode.pid
        assert pid is not None
        wait_for(lambda: emb._encode.idle_exits == 1, timeout=60)  # idle: the child ends, and is reaped
        assert emb._encode.pid is None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        later = record(store, settings, 6)  # the commit wakes the embedder, which starts a fresh child
        assert emb.wait_idle(120)
        assert embedded(store) == set(first + later)
        assert emb._encode.started == 2
    finally:
        emb.stop()
        store.close()
    out, err = capfd.readouterr()  # the child's model load drew "Loading weights: 100%|███" here
    assert "Loading weights" not in err + out and "%|" not in err + out


def test_the_childs_stderr_goes_to_the_log_line_by_line(caplog):
    import logging
    import subprocess
    import sys

    from edgelearn.embed.process import _log_lines

    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write('a warning\\n\\nanother\\n')"],
                            stderr=subprocess.PIPE)
    with caplog.at_level(logging.INFO, logger="edgelearn.embed.process"):
        _log_lines(proc)
    proc.wait()
    assert [r.getMessage() for r in caplog.records] == ["embedding process: a warning", "embedding process: another"]
