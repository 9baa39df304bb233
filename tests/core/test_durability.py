"""A server killed with SIGKILL in the middle of a burst loses no run it acknowledged.

The hook answers 201 only after the group commit that holds the run; this test holds it to
that with a real server process, real HTTP clients on several threads, and a real SIGKILL.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

SERVER = textwrap.dedent("""
    import os
    from pathlib import Path

    from edgelearn.runtime import Runtime
    from edgelearn.server.app import serve

    runtime = Runtime(home=Path(os.environ["EDGELEARN_HOME"]), embed=False)
    serve(runtime, port=0, ready=lambda server: print(server.servers[0].sockets[0].getsockname()[1], flush=True))
""")


def start_server(home, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """The hook in its own process; returns (process, base url) once it listens."""
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, stderr=log,
                            env={**os.environ, **env})
    poll = select.poll()  # not select(): descriptors above 1023 are out of its range
    poll.register(proc.stdout, select.POLLIN)
    line = proc.stdout.readline().strip() if poll.poll(120_000) else b""
    if not line.isdigit():
        proc.kill()
        proc.wait()
        raise AssertionError(f"server did not start: {(home / 'server.log').read_text()[-2000:]}")
    return proc, f"http://127.0.0.1:{int(line)}"


def record_body(worker: int, i: int) -> dict:
    return {
        "role": "coder", "task": f"worker {worker} task {i}: fix the failing test",
        "input": [{"role": "system", "content": "You are a careful coding agent."},
                  {"role": "user", "content": f"Fix test_{i} in tests/test_mod{worker}.py; mail me at w{worker}@example.com"}],
        "output": f"def f{i}(x):\n    return x + {i}\n", "model": "base", "session": f"s{worker}",
        "signals": {"compile": True, "tests": {"passed": i % 5, "total": 4 + 1}},
        "metadata": {"worker": worker, "i": i},
    }


class Burst:
    """Client threads posting records until the server goes away, keeping every acknowledged id."""

    def __init__(self, url: str, token: str, threads: int = 6, batch_threads: int = 1) -> None:
        self.url, self.headers = url, {"Authorization": f"Bearer {token}"}
        self.acked: list[str] = []
        self.failures = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._single, args=(w,)) for w in range(threads)]
        self.threads += [threading.Thread(target=self._batch, args=(threads + w,)) for w in range(batch_threads)]

    def _post(self, client: httpx.Client, path: str, body) -> dict | None:
        try:
            resp = client.post(path, json=body)
        except httpx.TransportError:
            with self.lock:
                self.failures += 1
            return None
        if resp.status_code != 201:
            with self.lock:
                self.errors.append(f"{resp.status_code} {resp.text[:200]}")
            return None
        return resp.json()

    def _single(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as client:
            for i in range(100_000):
                out = self._post(client, "/v1/runs", record_body(worker, i))
                if out is None:
                    return
                with self.lock:
                    self.acked.append(out["id"])

    def _batch(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as client:
            for n in range(100_000):
                out = self._post(client, "/v1/runs/batch", {"runs": [record_body(worker, n * 50 + i) for i in range(50)]})
                if out is None:
                    return
                with self.lock:
                    self.acked.extend(out["ids"])

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


@pytest.mark.parametrize("synchronous", ["normal", "full"])
def test_sigkill_mid_burst_keeps_every_acknowledged_run(home, synchronous):
    from edgelearn.store import Store

    # auto-export off: 100 good runs would start a curation job inside the server being killed
    proc, url = start_server(home, {"EDGELEARN_STORE__SYNCHRONOUS": synchronous, "EDGELEARN_EXPORT__AUTO_EXPORT": "false"})
    try:
        token = (home / "token").read_text().strip()
        burst = Burst(url, token)
        for t in burst.threads:
            t.start()
        deadline = time.monotonic() + 120
        while burst.count() < 400 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert burst.count() >= 400, f"the burst did not get going: {(home / 'server.log').read_text()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
        for t in burst.threads:
            t.join(60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not burst.errors
    # the kill landed mid-burst: every client thread had a request cut off
    assert burst.failures == len(burst.threads)

    store = Store(home / "edgelearn.db", synchronous=synchronous)
    try:
        assert store.query("pragma integrity_check") == [("ok",)]
        stored = {row[0] for row in store.query("select id from runs")}
        missing = set(burst.acked) - stored
        assert not missing, f"{len(missing)} of {len(burst.acked)} acknowledged runs lost"
        assert len(set(burst.acked)) == len(burst.acked)
        # signals were committed with their runs, and the redaction held
        orphans = store.query(
            "select count(*) from runs r where not exists (select 1 from run_signals s where s.run_seq = r.seq)")
        assert orphans == [(0,)]
        assert store.query("select count(*) from runs where input like '%@example.com%'") == [(0,)]
    finally:
        store.close()


@pytest.mark.parametrize("step", [16, 10**9], ids=["background", "background-starved"])
def test_checkpoints_run_off_the_commit_path_and_keep_the_wal_bounded(home, settings, monkeypatch, step):
    from elsupport import wait_for

    from edgelearn.record.recorder import Recorder
    from edgelearn.record.schemas import RecordIn
    from edgelearn.store import Store, writer

    monkeypatch.setattr(writer, "CHECKPOINT_PAGES", 64)  # 256 KiB, so a small test crosses it often
    monkeypatch.setattr(writer, "RESTART_FACTOR", 4)  # the WAL starts over by 1 MiB at the latest
    # 10**9: the background thread never wakes, as if starved; the commits alone must bound the WAL
    monkeypatch.setattr(writer, "CHECKPOINT_STEP", step)
    store = Store(home / "edgelearn.db")
    try:
        recorder = Recorder(store, lambda: settings)
        wal = store.path.with_name(store.path.name + "-wal")
        largest_wal = largest_commit = 0
        for b in range(150):
            before = store.writer._checkpointer._frames
            runs = [RecordIn(**{**record_body(b, i), "output": f"run {b}.{i}\n" + "x = 1\n" * 300}) for i in range(20)]
            recorder.record_many(runs)
            largest_wal = max(largest_wal, wal.stat().st_size)
            largest_commit = max(largest_commit, store.writer._checkpointer._frames - before)
        if step == 16:
            wait_for(lambda: store.writer._checkpointer.checkpoints >= 2)
        total = store.path.stat().st_size
        page = store.query("pragma page_size")[0][0]
        # the hard bound: past 2 x RESTART_FACTOR x CHECKPOINT_PAGES frames the next commit restarts the WAL
        assert largest_wal <= (2 * 4 * 64 + largest_commit + 1) * page + 32, (largest_wal, largest_commit)
        # without checkpoints every page would sit in the WAL: it would outgrow the database file
        assert largest_wal < total / 4, (largest_wal, total)
        if step == 10**9:  # no background checkpoint ever ran: the commits' own requests restarted the WAL
            assert store.writer._checkpointer.checkpoints == store.writer._checkpointer.forced >= 1
        assert store.runs.count_runs() == 3000
        assert store.query("pragma integrity_check") == [("ok",)]
    finally:
        store.close()


def test_a_reader_that_holds_the_wal_does_not_make_every_commit_checkpoint(home, settings, monkeypatch):
    from edgelearn.record.recorder import Recorder
    from edgelearn.record.schemas import RecordIn
    from edgelearn.store import Store, writer

    monkeypatch.setattr(writer, "CHECKPOINT_PAGES", 64)
    monkeypatch.setattr(writer, "RESTART_FACTOR", 4)
    monkeypatch.setattr(writer, "CHECKPOINT_STEP", 10**9)  # only the commits' own requests
    store = Store(home / "edgelearn.db")
    try:
        recorder = Recorder(store, lambda: settings)
        recorder.record(RecordIn(**record_body(0, 0)))
        reader = store.read()
        reader.execute("begin")
        assert reader.execute("select count(*) from runs").fetchone() == (1,)  # a snapshot the WAL must keep
        for b in range(200):
            recorder.record(RecordIn(**record_body(1, b)))
        frames = store.writer._checkpointer._frames
        assert frames > 2 * 4 * 64  # past the hard bound: the reader kept the WAL from restarting
        # one whole checkpoint per 16 new frames past the bound at most, not one per commit
        assert 1 <= store.writer._checkpointer.forced <= (frames - 2 * 4 * 64) // 16 + 1
        reader.execute("commit")
    finally:
        store.close()

