"""The single writer thread: group commit, and no acknowledgement before the commit.

Callers hand the writer a function ``fn(conn)``; the thread runs as many pending functions
as are waiting (up to ``max_batch``) inside one transaction, each under its own savepoint so
one failing function does not undo the others, commits once, and only then resolves each
caller's future. A caller that got a result therefore holds data that is on disk (as far as
the configured ``synchronous`` level goes).

A small write from the event loop may skip the thread hand-off: ``acall(fn, inline=True)``
commits it on the loop's thread when the writer is idle and a commit does not wait for the
disk (WAL with ``synchronous`` NORMAL or OFF, and no WAL restart due: the first commit after a
checkpoint has copied the whole WAL rewrites its header with an fsync, so that one goes to the
writer thread). Two thread switches and a wait for the GIL cost more than the insert itself.
Inline writes group when they pile up: past ``ALONE_PER_TURN`` in one turn of the loop
(requests that arrived together), the turn's later ones commit in one transaction at its end.

Checkpoints (copying the WAL back into the database file) run on a thread and connection of
their own: SQLite's automatic checkpoint would run inside the commit that crosses the threshold,
with two fsyncs, and stall every caller waiting on that commit (tens of ms on a slow disk).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from typing import Any, Callable, TypeVar

import apsw

from edgelearn.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[apsw.Connection], Any]

_STOP = object()
_CHECKPOINT = object()  # queued by the checkpointer: a whole checkpoint, between two commits
CHECKPOINT_PAGES = 1000  # SQLite's own wal_autocheckpoint default
CHECKPOINT_STEP = 250  # past CHECKPOINT_PAGES, a background checkpoint every this many new frames
# past this many times CHECKPOINT_PAGES (64 MB of 4 KiB pages) the writer runs one checkpoint between two
# commits so that it is whole and the WAL starts over (under a steady stream of commits a background
# one rarely copies the newest frames)
RESTART_FACTOR = 16
# inline writes in one turn of the event loop that commit one by one, as they come; the turn's later
# ones (a backlog) commit together at its end: grouping from the first write makes a burst's first
# requests wait for its last one's (bench/RESULTS.md, "Measurements behind choices in the code")
ALONE_PER_TURN = 3


class _Turn:
    """Inline writes in one turn of an event loop (the requests that arrived together)."""

    __slots__ = ("writes", "pending")

    def __init__(self) -> None:
        self.writes = 0
        self.pending: list[_Op] = []


class _Busy(Exception):
    """Another connection holds the database's write lock."""


class _Op:
    __slots__ = ("fn", "future", "loop")

    def __init__(self, fn: WriteFn, future: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop


def _rollback_quietly(conn: apsw.Connection) -> None:
    """Roll back after a failed commit (SQLite may already have rolled back itself)."""
    try:
        conn.execute("rollback")
    except apsw.Error:
        pass


def _run_ops(conn: apsw.Connection, ops: list[_Op]) -> list[tuple[Any, BaseException | None]]:
    """Run each op under its own savepoint, so that a failing one leaves the others in the transaction."""
    outcomes: list[tuple[Any, BaseException | None]] = []
    for i, op in enumerate(ops):
        conn.execute(f"savepoint op{i}")
        try:
            result = op.fn(conn)
            conn.execute(f"release op{i}")
            outcomes.append((result, None))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            conn.execute(f"rollback to op{i}")
            conn.execute(f"release op{i}")
            outcomes.append((None, exc))
    return outcomes


def _fail_all(ops: list[_Op], exc: BaseException) -> None:
    _resolve_async([(op.future, None, exc) for op in ops])


def _resolve_async(items: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    for fut, result, exc in items:
        if fut.cancelled():
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)


class Writer:
    """Owns the one read-write connection and the thread that commits through it."""

    def __init__(self, conn: apsw.Connection, max_batch: int = 512) -> None:
        self._conn = conn
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._after_commit: list[Callable[[], None]] = []
        self._closed = False
        self.batches = 0
        self.ops = 0
        self._conn_lock = threading.Lock()  # held by whichever thread is inside a transaction
        self._held: Any = None  # a checkpoint request taken from the queue behind a batch
        # set while the writer thread holds work taken from the queue: an inline commit would
        # jump ahead of it, and a stream of them could keep the thread from the lock indefinitely
        self._active = False
        self._checkpointer = _Checkpointer(conn, lambda: self._queue.put(_CHECKPOINT))
        self._inline = threading.local()
        self._turns: dict[asyncio.AbstractEventLoop, _Turn] = {}  # inline writes of this turn, by loop
        # WAL + NORMAL (1) or OFF (0): a commit appends to the WAL without an fsync
        self._inline_ok = (conn.execute("pragma synchronous").fetchone()[0] <= 1
                           and conn.execute("pragma journal_mode").fetchone()[0].lower() == "wal")
        self._busy_ms = conn.execute("pragma busy_timeout").fetchone()[0]
        self.inline_commits = 0
        self._thread = threading.Thread(target=self._run, name="edgelearn-writer", daemon=True)
        self._thread.start()

    def add_after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback()`` on the writer thread after every commit (keep it cheap)."""
        self._after_commit.append(callback)

    def submit(self, fn: WriteFn) -> concurrent.futures.Future:
        """Queue ``fn``; the future resolves after the transaction holding it commits."""
        if self._closed:
            raise StoreError("the store is closed")
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put(_Op(fn, fut, None))
        return fut

    def call(self, fn: Callable[[apsw.Connection], T], timeout: float | None = 60.0) -> T:
        """Run ``fn`` in the writer and wait for its commit."""
        if threading.current_thread() is self._thread or getattr(self._inline, "active", False):
            return fn(self._conn)  # nested call from inside a write: already in the transaction
        return self.submit(fn).result(timeout)

    async def acall(self, fn: Callable[[apsw.Connection], T], inline: bool = False) -> T:
        """``call`` for asyncio code: awaits the commit without blocking the event loop.

        ``inline``: ``fn`` is small (one run); commit it on the loop's thread when the writer is idle,
        alone or, past ``ALONE_PER_TURN`` inline writes in this turn of the loop, with the turn's others.
        """
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        op = _Op(fn, fut, loop)
        if not (inline and self._inline_ok):
            self._queue.put(op)
            return await fut
        turn = self._turns.get(loop)
        if turn is None:  # the first inline write of this turn of the loop
            turn = self._turns[loop] = _Turn()
            loop.call_soon(self._end_turn, loop)
        turn.writes += 1
        if turn.writes > ALONE_PER_TURN:
            turn.pending.append(op)  # a backlog: commit the rest of this turn's writes together
        else:
            self._inline_or_queue([op])
        return await fut

    def _end_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        ops = [op for op in self._turns.pop(loop).pending if not op.future.cancelled()]
        if ops:
            self._inline_or_queue(ops)

    def _inline_or_queue(self, ops: list[_Op]) -> None:
        if self._closed:  # closed during this turn: the writer thread takes nothing more
            return _fail_all(ops, StoreError("the store is closed"))
        if (not self._checkpointer.restart_due and self._queue.empty() and not self._active
                and self._conn_lock.acquire(blocking=False)):
            try:
                # nothing waits in the queue (a batch the writer already took may commit after these
                # writes; its callers wait for their own commits, so no caller depends on the order)
                if self._queue.empty():
                    return self._commit_inline(ops)
            except _Busy:
                pass  # another process holds the write lock: wait for it in the writer, not on the event loop
            finally:
                self._conn_lock.release()
        for op in ops:
            self._queue.put(op)

    def _commit_inline(self, ops: list[_Op]) -> None:
        conn = self._conn
        self._inline.active = True
        conn.set_busy_timeout(0)
        try:
            try:
                conn.execute("begin immediate")
            except apsw.BusyError as exc:
                raise _Busy() from exc
            except apsw.Error as exc:
                return _fail_all(ops, StoreError(f"write failed: {exc}"))
            try:
                if len(ops) == 1:  # no savepoint: a failure rolls back the transaction, which holds only this write
                    try:
                        outcomes = [(ops[0].fn(conn), None)]
                    except BaseException as exc:  # noqa: BLE001 - reported to the caller
                        _rollback_quietly(conn)  # SQLite may have rolled back already: keep fn's own error
                        return _fail_all(ops, exc)
                else:
                    outcomes = _run_ops(conn, ops)
                conn.execute("commit")
            except apsw.Error as exc:
                log.exception("inline commit failed")
                _rollback_quietly(conn)
                return _fail_all(ops, StoreError(f"write failed: {exc}"))
        finally:
            conn.set_busy_timeout(self._busy_ms)
            self._inline.active = False
        self.batches += 1
        self.ops += len(ops)
        self.inline_commits += 1
        self._run_after_commit()  # under the lock, as on the writer thread: no other commit in between
        _resolve_async([(op.future, result, exc) for op, (result, exc) in zip(ops, outcomes)])

    def _run_after_commit(self) -> None:
        for callback in self._after_commit:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self._checkpointer.close()
        if not self._thread.is_alive():
            with self._conn_lock:  # no inline commit can be inside a transaction now
                self._conn.close()  # else SQLite keeps the file's other closed descriptors open too

    def _take_batch(self) -> tuple[list[Any], bool]:
        first, self._held = (self._held or self._queue.get()), None
        self._active = True
        if first is _STOP:
            return [], True
        batch = [first]
        if first is _CHECKPOINT:
            return batch, False
        stop = False
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            if item is _CHECKPOINT:  # after this batch's commit, in queue order
                self._held = item
                break
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        while True:
            batch, stop = self._take_batch()
            if batch:
                with self._conn_lock:
                    if batch[0] is _CHECKPOINT:
                        self._checkpointer.whole()
                    else:
                        self._commit(batch)
            self._active = self._held is not None
            if stop:
                return

    def _commit(self, batch: list[_Op]) -> None:
        conn = self._conn
        try:
            conn.execute("begin immediate")
            outcomes = _run_ops(conn, batch)
            conn.execute("commit")
        except apsw.Error as exc:
            log.exception("group commit failed")
            _rollback_quietly(conn)
            err = StoreError(f"write failed: {exc}")
            outcomes = [(None, err)] * len(batch)
        self.batches += 1
        self.ops += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for op, (result, exc) in zip(batch, outcomes):
            if op.loop is None:
                if exc is not None:
                    op.future.set_exception(exc)
                else:
                    op.future.set_result(result)
            else:
                by_loop.setdefault(op.loop, []).append((op.future, result, exc))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_async, items)
            except RuntimeError:  # loop closed: the caller is gone
                pass
        self._run_after_commit()


class _Checkpointer:
    """Checkpoints the WAL on its own thread and connection, and restarts it now and then.

    Once the WAL holds ``CHECKPOINT_PAGES`` frames, every ``CHECKPOINT_STEP`` new frames wake a
    PASSIVE checkpoint: it never blocks a commit (WAL mode lets both proceed), and apsw releases
    the GIL while SQLite copies pages and fsyncs. The WAL file only starts over once a checkpoint
    has copied all of it, which a steady stream of commits rarely allows; past ``RESTART_FACTOR``
    times the threshold the thread therefore queues one more checkpoint to the writer, which runs
    it between two commits. That one copies only what was committed during the previous one (about
    a millisecond with its two fsyncs), so no commit waits for a long copy, and the next commit
    restarts the WAL. Going through the writer's queue keeps the order fair: a stream of inline
    commits cannot starve it. Should this thread fall behind (a starved core) until the WAL holds
    twice that many frames, the commit that gets there queues the checkpoint itself.

    Only those checkpoints restart the WAL. Restarting rewrites the WAL header with an fsync, in
    the next commit, and every commit meanwhile waits for it; a background checkpoint that copied
    everything because no commit came during it would make that happen at random, many times a
    second under load, where one restart per ``RESTART_FACTOR`` thresholds is needed (bench/RESULTS.md, "Measurements behind choices in the code"). So before each background checkpoint a third connection, the pin, opens a read
    transaction at the WAL's end and holds it until the next: the checkpoint copies up to there
    (all there is) and SQLite will not restart a WAL that a reader still reads. A whole
    checkpoint first lets go of the pin.
    """

    def __init__(self, writer_conn: apsw.Connection, request_whole: Callable[[], None]) -> None:
        synchronous = writer_conn.execute("pragma synchronous").fetchone()[0]
        self._conn = apsw.Connection(writer_conn.filename, flags=apsw.SQLITE_OPEN_READWRITE)
        self._conn.execute(f"pragma synchronous={int(synchronous)}")  # the checkpoint's fsyncs follow it
        self._pin = apsw.Connection(writer_conn.filename, flags=apsw.SQLITE_OPEN_READWRITE)
        self._request_whole = request_whole
        self._whole_pending = False  # queued to the writer; no background checkpoint until it ran
        self._wake = threading.Event()
        self._stopping = False
        # set when a checkpoint copied the whole WAL and no commit came after it: the next commit
        # restarts the WAL, with an fsync. Any commit clears it (it appended frames not yet copied).
        self.restart_due = False
        self._frames = 0  # WAL frames after the latest commit, as the WAL hook reported them
        self._copied = 0  # frames of this WAL that the latest checkpoint copied
        self._forced_at = 0  # frames of this WAL when a commit last queued a whole checkpoint
        self._state = threading.Lock()  # orders the hook's and the checkpoints' updates of the above
        self._copying = threading.Lock()  # one checkpoint at a time: a forced one waits, never gets BUSY
        self.checkpoints = 0
        self.forced = 0  # checkpoints the writer ran between commits so that the WAL can restart
        # the hook replaces the connection's automatic checkpoint (sqlite3_wal_hook)
        writer_conn.set_wal_hook(self._after_commit)
        self._thread = threading.Thread(target=self._run, name="edgelearn-checkpoint", daemon=True)
        self._thread.start()

    def _after_commit(self, conn: apsw.Connection, dbname: str, pages: int) -> int:
        with self._state:
            if pages < self._frames:  # this commit restarted the WAL
                self._copied = self._forced_at = 0
            self.restart_due = False
            self._frames = pages
            due = pages >= CHECKPOINT_PAGES and pages - self._copied >= CHECKPOINT_STEP
            # past twice RESTART_FACTOR the background thread has fallen behind (a starved core): this
            # commit queues the whole checkpoint, so the WAL stays bounded whatever that thread does.
            # At most one per CHECKPOINT_PAGES / 4 new frames: while a reader's snapshot keeps the WAL
            # from restarting, a checkpoint after every commit would only send the commits off the loop
            behind = (pages >= 2 * CHECKPOINT_PAGES * RESTART_FACTOR and not self._whole_pending
                      and pages - self._forced_at >= CHECKPOINT_PAGES // 4)
            if behind:
                self._whole_pending = True
                self._forced_at = pages
        if behind:
            self._request_whole()
        elif due:
            self._wake.set()
        return apsw.SQLITE_OK

    def _set_pin(self, on: bool) -> None:
        """Hold (anew, at the WAL's end) or release the read transaction that keeps the WAL from restarting."""
        if self._pin.in_transaction:
            self._pin.execute("commit")
        if on:
            self._pin.execute("begin")
            self._pin.execute("select 1 from sqlite_schema limit 1").fetchall()  # the snapshot starts here

    def _checkpoint(self, whole: bool = False) -> None:
        try:
            with self._copying:
                self._set_pin(not whole)
                frames, copied = self._conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
        except apsw.BusyError:
            return  # another process is checkpointing: retry after the next commits
        except apsw.Error:
            log.warning("WAL checkpoint failed; will retry after the next commits", exc_info=True)
            return
        with self._state:
            # ``frames`` is the WAL as the checkpoint found it: a commit since then (its hook
            # already ran, or runs next and clears the flag) means the copy is not whole
            if whole and frames > 0 and copied == frames == self._frames:
                self.restart_due = True
            if copied <= self._frames:  # else a commit restarted the WAL meanwhile
                self._copied = copied
        self.checkpoints += 1

    def whole(self) -> None:
        """On the writer thread, holding its lock: no commit comes in between, so the copy is whole."""
        self._checkpoint(whole=True)
        self.forced += 1
        self._whole_pending = False

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            if self._whole_pending or self.restart_due:
                # a whole one is queued (this one would get SQLITE_BUSY), or its restart is (a pin would stop it)
                continue
            self._checkpoint()
            with self._state:
                request = (self._frames >= CHECKPOINT_PAGES * RESTART_FACTOR and not self.restart_due
                           and not self._whole_pending)
                if request:
                    self._whole_pending = True
            if request:
                self._request_whole()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        with self._copying:
            self._set_pin(False)
        self._pin.close()
        self._conn.close()
