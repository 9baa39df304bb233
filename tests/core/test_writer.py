"""The writer's inline path: a small write from the event loop commits on the loop's thread when
the writer is idle (with the other inline writes of that turn of the loop), and falls back to the
writer thread whenever that would be wrong."""

from __future__ import annotations

import asyncio
import threading

import apsw
import pytest

from edgelearn.store import Store
from edgelearn.store.writer import ALONE_PER_TURN


def _table(store: Store) -> None:
    store.write(lambda c: c.execute("create table if not exists t (k integer primary key, v text not null)"))


def _insert(k: int, v: str | None = "x", seen: list | None = None):
    def fn(conn):
        if seen is not None:
            seen.append(threading.get_ident())
        conn.execute("insert into t (k, v) values (?, ?)", (k, v))
        return k

    return fn


def test_idle_writer_commits_on_the_calling_thread(store):
    _table(store)
    seen: list[int] = []

    async def main():
        return await store.awrite(_insert(1, seen=seen), inline=True), threading.get_ident()

    k, loop_thread = asyncio.run(main())
    assert k == 1 and seen == [loop_thread]
    assert store.writer.inline_commits == 1
    assert store.query("select v from t where k = 1") == [("x",)]  # committed: another connection sees it


def test_without_inline_or_with_full_sync_the_writer_thread_commits(home):
    for sync, inline in (("normal", False), ("full", True)):
        st = Store(home / f"{sync}.db", synchronous=sync)
        try:
            _table(st)
            seen: list[int] = []
            asyncio.run(st.awrite(_insert(1, seen=seen), inline=inline))
            assert seen and seen[0] != threading.get_ident()
            assert st.writer.inline_commits == 0
        finally:
            st.close()


def test_a_failing_inline_write_leaves_nothing_and_the_next_one_commits(store):
    _table(store)

    def half_then_fail(conn):
        conn.execute("insert into t (k, v) values (1, 'a')")
        conn.execute("insert into t (k, v) values (2, null)")  # not null: fails

    async def main():
        with pytest.raises(apsw.ConstraintError):
            await store.awrite(half_then_fail, inline=True)
        await store.awrite(_insert(3), inline=True)

    asyncio.run(main())
    assert store.query("select k from t order by k") == [(3,)]


def test_a_backlog_of_inline_writes_in_one_turn_commits_together_and_a_failing_one_alone_is_undone(store):
    _table(store)
    alone = ALONE_PER_TURN

    def half_then_fail(conn):
        conn.execute("insert into t (k, v) values (50, 'a')")
        conn.execute("insert into t (k, v) values (51, null)")  # not null: fails

    async def main():
        before = (store.writer.batches, store.writer.inline_commits)
        # tasks started together run in one turn of the loop: the first ``alone`` commit one by one
        writes = [store.awrite(_insert(k), inline=True) for k in range(alone + 2)]
        writes += [store.awrite(half_then_fail, inline=True), store.awrite(_insert(100), inline=True)]
        results = await asyncio.gather(*writes, return_exceptions=True)
        return before, results

    (batches, inline), results = asyncio.run(main())
    assert results[:alone + 2] == list(range(alone + 2)) and results[-1] == 100
    assert isinstance(results[-2], apsw.ConstraintError)
    commits = alone + 1  # the backlog of four: one transaction
    assert (store.writer.batches, store.writer.inline_commits) == (batches + commits, inline + commits)
    assert store.query("select k from t order by k") == [(k,) for k in range(alone + 2)] + [(100,)]


def test_a_backlog_left_when_the_store_closes_fails_instead_of_waiting_forever(store):
    from edgelearn.errors import StoreError

    _table(store)

    async def main():
        tasks = [asyncio.ensure_future(store.awrite(_insert(k), inline=True)) for k in range(ALONE_PER_TURN + 2)]
        await asyncio.sleep(0)  # the tasks run first: the backlog waits for the end of their turn
        store.close()
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)

    results = asyncio.run(main())
    assert results[:ALONE_PER_TURN] == list(range(ALONE_PER_TURN))
    assert all(isinstance(r, StoreError) for r in results[ALONE_PER_TURN:]), results


def test_nested_write_inside_an_inline_write_joins_its_transaction(store):
    _table(store)

    def outer(conn):
        conn.execute("insert into t (k, v) values (1, 'outer')")
        return store.write(_insert(2, "inner"))  # would deadlock if it queued behind its own caller

    assert asyncio.run(asyncio.wait_for(store.awrite(outer, inline=True), 10)) == 2
    assert store.query("select k, v from t order by k") == [(1, "outer"), (2, "inner")]


def test_a_lock_held_by_another_process_does_not_block_the_event_loop(store):
    _table(store)
    other = apsw.Connection(str(store.path))
    other.execute("begin immediate")  # another process writing: holds the database's write lock
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def main():
        t = asyncio.create_task(ticker())
        write = asyncio.create_task(store.awrite(_insert(1), inline=True))
        await asyncio.sleep(0.3)
        assert not write.done()  # waiting in the writer thread for the lock...
        assert ticks >= 10  # ...while the event loop keeps running
        other.execute("commit")
        assert await asyncio.wait_for(write, 10) == 1
        t.cancel()

    try:
        asyncio.run(main())
    finally:
        other.close()
    assert store.writer.inline_commits == 0
    assert store.query("select k from t") == [(1,)]


def test_inline_and_queued_writers_together_lose_nothing(store):
    _table(store)
    n_async, n_threads, per_thread = 400, 4, 100

    def threaded(base: int):
        for i in range(per_thread):
            store.write(_insert(base + i))

    async def main():
        await asyncio.gather(*(store.awrite(_insert(i), inline=True) for i in range(n_async)))

    threads = [threading.Thread(target=threaded, args=(10_000 + 1000 * j,)) for j in range(n_threads)]
    for th in threads:
        th.start()
    asyncio.run(main())
    for th in threads:
        th.join()
    assert store.query("select count(*) from t") == [(n_async + n_threads * per_thread,)]
    assert store.writer.ops == 1 + n_async + n_threads * per_thread


def test_the_commit_that_restarts_the_wal_goes_to_the_writer_thread(store):
    _table(store)
    checkpointer = store.writer._checkpointer
    for k in range(20):
        store.write(_insert(k))
    checkpointer.whole()  # copies the whole WAL: the next commit restarts it
    assert checkpointer.restart_due
    seen: list[int] = []

    async def main():
        await store.awrite(_insert(100, seen=seen), inline=True)
        writer = store.writer  # the caller wakes before the writer thread marks itself idle: wait for that
        while writer._active or not writer._queue.empty():
            await asyncio.sleep(0.001)
        await store.awrite(_insert(101, seen=seen), inline=True)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert seen[0] != loop_thread  # the restart's header fsync happened on the writer thread
    assert seen[1] == loop_thread and not checkpointer.restart_due
    assert store.query("select count(*) from t") == [(22,)]


def test_a_background_checkpoint_copies_everything_but_leaves_the_wal_to_grow(store):
    # a WAL restart costs the commit that does it an fsync: only whole checkpoints may cause one
    _table(store)
    checkpointer = store.writer._checkpointer
    for k in range(20):
        store.write(_insert(k))
    before = checkpointer._frames
    checkpointer._checkpoint()  # as the background thread runs it: no commit comes during it
    assert checkpointer._copied == before and not checkpointer.restart_due
    store.write(_insert(20))
    assert checkpointer._frames > before  # appended: the pin kept SQLite from restarting the WAL
    checkpointer.whole()
    assert checkpointer.restart_due
    store.write(_insert(21))
    assert checkpointer._frames < before and not checkpointer.restart_due  # restarted
    assert store.query("select count(*) from t") == [(22,)]


def test_after_commit_callbacks_of_an_inline_commit_run_before_the_lock_is_released(store):
    _table(store)
    held: list[bool] = []
    store.writer.add_after_commit(lambda: held.append(store.writer._conn_lock.locked()))

    asyncio.run(store.awrite(_insert(1), inline=True))
    assert held == [True]


def test_a_steady_stream_of_inline_commits_keeps_the_wal_bounded_and_stays_inline(home, monkeypatch):
    # commits back to back leave a background checkpoint no gap to copy the whole WAL in: past
    # RESTART_FACTOR x CHECKPOINT_PAGES the writer runs one between two commits, so that the WAL restarts
    from edgelearn.store import writer

    monkeypatch.setattr(writer, "CHECKPOINT_PAGES", 32)
    monkeypatch.setattr(writer, "CHECKPOINT_STEP", 8)
    monkeypatch.setattr(writer, "RESTART_FACTOR", 4)
    store = Store(home / "stream.db")
    try:
        _table(store)
        checkpointer = store.writer._checkpointer
        frames: list[int] = []

        async def main():
            for k in range(1500):
                await store.awrite(_insert(k, "y" * 3000), inline=True)  # a page per row
                frames.append(checkpointer._frames)

        asyncio.run(main())
        restarts = sum(1 for a, b in zip(frames, frames[1:]) if b < a)
        assert restarts >= 5, frames  # each page is a frame: 1500 frames without restarts
        assert max(frames) <= 2 * 4 * 32 + 8, max(frames)
        # and the background checkpoints restarted none of them (each waits for a whole one)
        assert restarts <= checkpointer.forced <= restarts + 1, (restarts, checkpointer.forced)
        assert checkpointer.checkpoints > 2 * checkpointer.forced
        # only the commit after a whole checkpoint (it restarts the WAL, with an fsync) leaves the loop's thread
        assert store.writer.inline_commits >= 0.9 * 1500, store.writer.inline_commits
        assert store.query("select count(*) from t") == [(1500,)]
        assert store.query("pragma integrity_check") == [("ok",)]
    finally:
        store.close()


def test_a_closed_store_leaves_no_descriptor_of_its_file_open(tmp_path):
    """SQLite keeps a closed connection's descriptor while another connection to the file lives on:
    the writer's own must close too, or every runtime started and stopped in a process leaks seven."""
    import os

    def open_on_file() -> int:
        return sum(1 for fd in os.listdir("/proc/self/fd")
                   if os.path.realpath(f"/proc/self/fd/{fd}").startswith(str(tmp_path / "edgelearn.db")))

    store = Store(tmp_path / "edgelearn.db")
    store.write(lambda conn: conn.execute("create table t(x)"))
    readers = [threading.Thread(target=store.query, args=("select count(*) from t",)) for _ in range(3)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    assert open_on_file() >= 5  # the writer, the checkpointer's two, three readers (and the WAL's)
    store.close()
    assert open_on_file() == 0
