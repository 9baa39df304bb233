"""Resident memory of a runtime as it starts at login: the process and its children, from /proc.

One run starts ``edgelearn serve`` (the command a login service runs) against a fresh home, with
a short ``store.embed_idle_s`` so that the idle phase fits in a benchmark, and measures:

1. **start**: once the hook answers, and has settled for a moment;
2. **burst**: after ``--runs`` records (HTTP batches) are all embedded: the embedder's child
   process is up with its model;
3. **idle**: once the child has exited after ``embed_idle_s`` without a batch;
4. **again**: after one more record is embedded (the child started on demand), with how long
   that record waited for its embedding (the price of a cold child);
5. with ``--chat``: **chat** after one chat completion served by the local base model
   (llama.cpp in the runtime), and **unloaded** after ``deploy.unload_idle_s`` (set by
   ``--unload-idle``) has passed.

Per phase: VmRSS of the runtime and of each child, their sum, and the sum of PSS (shared pages
split between the processes, so it does not count a library twice). The target of issue 21 is
350 MB in all once idle.

Run: ``.venv/bin/python bench/memory.py [--runs 500] [--idle 10] [--chat --unload-idle 10]``; writes
``bench/results/memory.md`` (and prints it).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from benchenv import cpu_model

OUT = Path(__file__).resolve().parent / "results" / "memory.md"
TARGET_MB = 350


@dataclass
class Proc:
    pid: int
    name: str
    rss_mb: float
    pss_mb: float


def _status_kb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return 0.0


def _pss_kb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def tree(pid: int) -> list[Proc]:
    """The process and its descendants, with their resident memory."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            name = "runtime" if p == pid else ("embedder child" if "edgelearn.embed.process" in cmd else cmd[:40])
            out.append(Proc(p, name, _status_kb(p, "VmRSS") / 1024, _pss_kb(p) / 1024))
        except OSError:
            continue  # ended between the listing and the read
        todo.extend(_children(p))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` held; SystemExit naming ``what`` when it never did."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def unembedded(db: Path) -> int:
    """Runs still without an embedding, read through the store's own query on a read-only connection."""
    from edgelearn.store.db import connect
    from edgelearn.store.runs import RunsRepo

    conn = connect(db, readonly=True)
    try:
        class Reader:  # RunsRepo reads through store.query
            @staticmethod
            def query(sql, params=()):
                return conn.execute(sql, params).fetchall()

        return len(RunsRepo(Reader()).unembedded(100_000))
    finally:
        conn.close()


def run(args) -> str:
    tmp = tempfile.TemporaryDirectory(prefix="edgelearn-memory-")
    home = Path(tmp.name)
    port = free_port()
    env = {**os.environ, "EDGELEARN_HOME": str(home), "EDGELEARN_STORE__EMBED_IDLE_S": str(args.idle),
           # the runtime at rest is measured, not the learning loop
           "EDGELEARN_EXPORT__AUTO_EXPORT": "false", "EDGELEARN_TRAIN__AUTO_TRAIN": "false",
           "EDGELEARN_DEPLOY__UNLOAD_IDLE_S": str(args.unload_idle)}
    log = open(home / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "edgelearn", "serve", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, list[Proc], str]] = []
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 120, "the hook to answer")
        time.sleep(args.settle)
        rows.append(("start", tree(proc.pid), ""))

        token = (home / "token").read_text().strip()
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        db = home / "edgelearn.db"
        sent = 0
        started = time.monotonic()
        while sent < args.runs:
            n = min(100, args.runs - sent)
            runs = [{"role": "coder", "task": f"task {sent + i}: merge overlapping intervals of list {sent + i}",
                     "output": "def merge(xs): ...", "signals": {"compile": True}} for i in range(n)]
            client.post("/v1/runs/batch", json={"runs": runs}).raise_for_status()
            sent += n
        wait_until(lambda: unembedded(db) == 0, 600, f"{args.runs} runs to be embedded")
        burst_s = time.monotonic() - started
        rows.append(("burst", tree(proc.pid), f"{args.runs} runs recorded and embedded in {burst_s:.1f} s"))

        def child_gone() -> bool:
            return all(p.name != "embedder child" for p in tree(proc.pid))

        gone_s = wait_until(child_gone, args.idle + 120, "the idle embedder child to exit")
        time.sleep(args.settle)
        rows.append(("idle", tree(proc.pid), f"child exited {gone_s:.1f} s after the burst "
                                             f"(embed_idle_s = {args.idle:g})"))

        started = time.monotonic()
        client.post("/v1/runs", json={"role": "coder", "task": "parse an ISO date", "output": "x"}).raise_for_status()
        cold_s = wait_until(lambda: unembedded(db) == 0, 300, "the record after idle to be embedded")
        rows.append(("again", tree(proc.pid), f"1 run embedded {cold_s:.1f} s after its record (a cold child)"))
        if args.chat:
            body = {"model": "base", "max_tokens": 8, "temperature": 0,
                    "messages": [{"role": "user", "content": "Say hi."}]}
            try:
                client.post("/v1/chat/completions", json=body).raise_for_status()
            except httpx.HTTPError as exc:
                raise SystemExit(f"the chat completion failed ({exc}); server exit status {proc.poll()}") from exc
            rows.append(("chat", tree(proc.pid), "after 1 chat completion by the local base model (llama.cpp)"))
            time.sleep(args.unload_idle + args.settle)
            rows.append(("unloaded", tree(proc.pid), f"deploy.unload_idle_s = {args.unload_idle:g} later"))
        client.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        tmp.cleanup()
    return report(rows, args)


def report(rows: list[tuple[str, list[Proc], str]], args) -> str:
    lines = [
        "# Resident memory of the runtime (bench/memory.py)",
        "",
        f"`{' '.join(['bench/memory.py', *sys.argv[1:]])}` on {cpu_model()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"`edgelearn serve` against a fresh home with `EDGELEARN_STORE__EMBED_IDLE_S={args.idle:g}` "
        "(60 s by default) and curation/training off; VmRSS per process from /proc, and the sum of PSS "
        "(shared pages split between processes). Target: "
        f"{TARGET_MB} MB in all once idle.",
        "",
        "| phase | runtime RSS MB | children (RSS MB) | RSS total MB | PSS total MB | note |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for phase, procs, note in rows:
        runtime = next(p for p in procs if p.name == "runtime")
        children = ", ".join(f"{p.name} {p.rss_mb:.0f}" for p in procs if p is not runtime) or "none"
        rss = sum(p.rss_mb for p in procs)
        pss = sum(p.pss_mb for p in procs)
        lines.append(f"| {phase} | {runtime.rss_mb:.0f} | {children} | {rss:.0f} | {pss:.0f} | {note} |")
    idle = next(procs for phase, procs, _ in rows if phase == "idle")
    total = sum(p.rss_mb for p in idle)
    lines += ["", f"Once idle: {total:.0f} MB resident in all, "
                  f"{'within' if total <= TARGET_MB else 'over'} the {TARGET_MB} MB target."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="records in the burst")
    parser.add_argument("--idle", type=float, default=10.0, help="store.embed_idle_s for the run (seconds)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before each reading")
    parser.add_argument("--chat", action="store_true", help="also serve one chat completion with the base model")
    parser.add_argument("--unload-idle", type=float, default=10.0, help="deploy.unload_idle_s for the run (seconds)")
    args = parser.parse_args()
    text = run(args)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
