"""Latency and durable throughput of the record hook, against the same app's bare endpoint.

One run: for each ``store.synchronous`` level a fresh server process (``Runtime(embed=False)``
served by ``edgelearn.server.app.serve``, as ``edgelearn serve`` does), and this process as the
load generator (raw HTTP/1.1 over asyncio streams on keep-alive connections, uvloop when
installed), measuring:

1. open loop at fixed arrival rates: requests are scheduled at ``rate`` per second and latency
   runs from the *scheduled* send time, so a stalled server cannot hide its queue (coordinated
   omission). ``POST /v1/runs`` and the floor ``POST /v1/ping`` (same app, same auth, same body)
   alternate in short blocks so both see the same machine;
2. closed loop durable ingest: N connections posting single runs back to back;
3. batch ingest: connections posting ``/v1/runs/batch`` with 500 runs each.

Every 201 is a committed run (the writer acknowledges after its group commit).

Then ``--repeats`` more fresh servers at the first ``--sync`` level run the open loop again:
the record/floor p99 ratio of one run swings with the shared machine's load, and the table of
repeats gives its median and range.

Run: ``.venv/bin/python bench/hook.py [--duration 10] [--sync normal full] [--repeats 5] [--against REV] [--embed]``; writes
``bench/results/hook.md`` (and prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchenv import cpu_model

OUT = Path(__file__).resolve().parent / "results" / "hook.md"
SERVER = textwrap.dedent("""
    import json
    import os
    import threading
    import time
    from pathlib import Path

    from edgelearn.runtime import Runtime
    from edgelearn.server.app import serve

    home = Path(os.environ["EDGELEARN_HOME"])
    if os.environ.get("BENCH_CORE_ONLY") == "1":  # --core-only: no bandits, serving or loop services
        Runtime._install_extensions = lambda self: None
    embed = os.environ.get("BENCH_EMBED") == "1"
    runtime = Runtime(home=home, embed=embed)
    if embed:  # --embed: the model is loaded before the measurement (wherever the embedder runs it), as in a
        runtime.embedder._encode(["warm-up"])  # server that has embedded once
    print("services", *runtime.services, flush=True)


    def name_threads():
        # native thread id -> name, for the per-thread CPU table; unnamed ones by their class (watchdog's)
        time.sleep(2)
        names = {t.native_id: t.name if not t.name.startswith("Thread-")
                 else f"{type(t).__module__.split('.')[0]}: {type(t).__name__}" for t in threading.enumerate()}
        (home / "threads.json").write_text(json.dumps(names))


    threading.Thread(target=name_threads, daemon=True).start()
    serve(runtime, port=int(os.environ["BENCH_PORT"]))  # no ready callback: uvicorn picks uvloop itself
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


# --- the server process ----------------------------------------------------------------------
def _stat_cpu(path: str) -> float:
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime



class Server:
    def __init__(self, synchronous: str, core_only: bool = False, src: Path | None = None, embed: bool = False) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="edgelearn-bench-")
        self.home = Path(self.tmp.name)
        self.port = free_port()
        env = {**os.environ, "EDGELEARN_HOME": str(self.home), "EDGELEARN_STORE__SYNCHRONOUS": synchronous,
               "BENCH_PORT": str(self.port),
               # the hook is measured, not the learning loop: 100 good runs would start a curation
               "EDGELEARN_EXPORT__AUTO_EXPORT": "false", "EDGELEARN_TRAIN__AUTO_TRAIN": "false",
               "BENCH_CORE_ONLY": "1" if core_only else "0", "BENCH_EMBED": "1" if embed else "0"}
        if src is not None:  # --against: another checkout's package comes first on the path
            env["PYTHONPATH"] = str(src)
        self.log = open(self.home / "server.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, stderr=self.log, env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)
        line = self.proc.stdout.readline().split() if ready else []
        if not line or not wait_healthy(self.port, 60):
            log = (self.home / "server.log").read_text()[-3000:]
            self.stop()
            raise SystemExit(f"server did not start:\n{log}")
        self.services = [s.decode() for s in line[1:]]
        deadline = time.monotonic() + 10
        while not (self.home / "threads.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.token = (self.home / "token").read_text().strip()

    def cpu_s(self) -> float:
        """User + system CPU seconds the server process has used."""
        return _stat_cpu(f"/proc/{self.proc.pid}/stat")

    def thread_cpu_s(self) -> dict[str, float]:
        """CPU seconds by thread name (threads the server started after its first two seconds are "other")."""
        names_file = self.home / "threads.json"
        names = json.loads(names_file.read_text()) if names_file.exists() else {}
        out: dict[str, float] = {}
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                cpu = _stat_cpu(f"/proc/{self.proc.pid}/task/{tid}/stat")
            except OSError:  # the thread ended
                continue
            name = names.get(tid, "other")
            out[name] = out.get(name, 0.0) + cpu
        return out

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        self.tmp.cleanup()


# --- request bodies ----------------------------------------------------------------------------
CODE = '''def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping intervals; O(n log n) after sorting by start."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
'''


def record(i: int) -> dict:
    """A realistic run of about 1.5 KB: chat input, code output, signals, metadata."""
    task = (f"Write merge_intervals(intervals) for ticket #{1000 + i}: merge overlapping closed intervals "
            f"and keep the result sorted; tests/test_intervals.py::test_merge_{i % 7} must pass.")
    return {
        "role": "coder", "task": task, "model": "base", "prompt": "p1", "session": f"sess-{i % 16}",
        "project": "demo-repo",
        "input": [{"role": "system", "content": "You are a careful Python coding agent. Answer with one code block "
                                               "and keep functions small, typed and documented."},
                  {"role": "user", "content": task + f" Started 2024-03-{1 + i % 28:02d} 12:34:56, run {i}."}],
        "output": "```python\n" + CODE + f"# attempt {i}\n```",
        "tokens_in": 180 + i % 50, "tokens_out": 160 + i % 40, "latency_ms": 850.5 + i % 300, "cost": 0.0,
        "signals": {"compile": True, "tests": {"passed": 3 + i % 2, "total": 4}, "errors": i % 3},
        "metadata": {"agent": "bench", "attempt": i % 3, "git_sha": f"{i * 2654435761 % 2**32:08x}"},
    }


def encode(method: str, path: str, body: bytes, port: int, token: str) -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


# --- a light HTTP/1.1 client -----------------------------------------------------------------
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)


class Pool:
    """Keep-alive connections; a request waits for a free one (its wait counts as latency)."""

    def __init__(self, port: int, size: int) -> None:
        self.port, self.size = port, size
        self.idle: asyncio.Queue[Conn] = asyncio.Queue()
        self.opened = 0

    async def open(self, n: int) -> None:
        for _ in range(n):
            await self.idle.put(Conn(*await asyncio.open_connection("127.0.0.1", self.port)))
            self.opened += 1

    async def get(self) -> Conn:
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            return Conn(*await asyncio.open_connection("127.0.0.1", self.port))
        return await self.idle.get()

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().writer.close()


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)  # seconds
    lags: list[float] = field(default_factory=list)  # client send time - scheduled time
    errors: int = 0
    requests: int = 0
    runs: int = 0
    server_cpu: float = 0.0
    threads: dict[str, float] = field(default_factory=dict)  # server CPU seconds by thread
    client_cpu: float = 0.0
    wall: float = 0.0


def server_us(sample: Sample, n: int | None = None) -> float:
    """The server's CPU µs per request of ``sample`` (per ``n`` runs when given)."""
    return sample.server_cpu / max(1, sample.requests if n is None else n) * 1e6


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _one(pool: Pool, raw: bytes, scheduled: float, ok: int, sample: Sample | None) -> None:
    conn = await pool.get()
    sent = time.perf_counter()
    try:
        status, _ = await conn.request(raw)
    except (OSError, asyncio.IncompleteReadError):
        pool.opened -= 1
        if sample:
            sample.requests += 1
            sample.errors += 1
        return
    done = time.perf_counter()
    pool.idle.put_nowait(conn)
    if sample is not None:
        sample.requests += 1
        if status != ok:
            sample.errors += 1
        sample.latencies.append(done - scheduled)
        sample.lags.append(sent - scheduled)


async def open_loop(pool: Pool, bodies: list[bytes], ok: int, rate: float, seconds: float, sample: Sample | None) -> None:
    """Send at ``rate`` per second for ``seconds`` regardless of answers; wait for the last answer."""
    n = int(rate * seconds)
    t0 = time.perf_counter() + 0.01
    tasks = []
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(_one(pool, bodies[i % len(bodies)], due, ok, sample)))
    await asyncio.gather(*tasks)


async def closed_loop(pool: Pool, bodies: list[bytes], ok: int, conns: int, seconds: float,
                      per_request: int, sample: Sample) -> None:
    """``conns`` workers sending back to back for ``seconds``."""
    stop = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        i = w
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await _one(pool, bodies[i % len(bodies)], t, ok, sample)
            i += conns
    await asyncio.gather(*(worker(w) for w in range(conns)))
    sample.runs = (sample.requests - sample.errors) * per_request


class Measure:
    """Wall, client CPU and server CPU around a phase."""

    def __init__(self, server: Server, sample: Sample) -> None:
        self.server, self.sample = server, sample

    def __enter__(self):
        self.t, self.c, self.s = time.perf_counter(), time.process_time(), self.server.cpu_s()
        self.th = self.server.thread_cpu_s()
        return self.sample

    def __exit__(self, *exc):
        self.sample.wall += time.perf_counter() - self.t
        self.sample.client_cpu += time.process_time() - self.c
        self.sample.server_cpu += self.server.cpu_s() - self.s
        for name, cpu in self.server.thread_cpu_s().items():
            self.sample.threads[name] = self.sample.threads.get(name, 0.0) + cpu - self.th.get(name, 0.0)


# --- the phases ------------------------------------------------------------------------------
async def bench_server(server: Server, rates: list[float], seconds: float, block: float, ingest: bool = True) -> dict:
    port, token = server.port, server.token
    rec = [encode("POST", "/v1/runs", json.dumps(record(i)).encode(), port, token) for i in range(256)]
    ping = [encode("POST", "/v1/ping", json.dumps(record(i)).encode(), port, token) for i in range(256)]
    batches = [encode("POST", "/v1/runs/batch", json.dumps({"runs": [record(b * 500 + i) for i in range(500)]}).encode(),
                      port, token) for b in range(4)]
    out: dict = {"body_bytes": len(json.dumps(record(0))), "batch_bytes": len(batches[0])}
    for rate in rates:
        pool = Pool(port, 512)  # fresh connections per phase: uvicorn drops those idle for 5 s
        await pool.open(64)
        # warm-up, then alternate blocks of ping and record so both see the same machine
        await open_loop(pool, ping, 200, rate, 1.0, None)
        await open_loop(pool, rec, 201, rate, 1.0, None)
        samples = {"ping": Sample(), "record": Sample()}
        for b in range(max(1, int(seconds / block))):
            order = ("ping", "record") if b % 2 == 0 else ("record", "ping")
            for name in order:
                with Measure(server, samples[name]) as s:
                    await open_loop(pool, ping if name == "ping" else rec, 200 if name == "ping" else 201, rate, block, s)
        out[f"open_{int(rate)}"] = samples
        pool.close()
    phases = (("closed_16", rec, 16, 1), ("closed_64", rec, 64, 1), ("batch_1", batches, 1, 500),
              ("batch_2", batches, 2, 500)) if ingest else ()
    for key, bodies, conns, per_request in phases:
        pool = Pool(port, conns)
        await pool.open(conns)
        s = Sample()
        with Measure(server, s):
            await closed_loop(pool, bodies, 201, conns, seconds, per_request, s)
        out[key] = s
        pool.close()
    out["services"] = server.services
    return out


def machine() -> dict:
    model = cpu_model(platform.processor())
    libs = {}
    for name in ("uvloop", "httptools", "uvicorn", "fastapi", "pydantic", "apsw", "orjson"):
        try:
            module = __import__(name)
            libs[name] = module.apswversion() if name == "apsw" else module.__version__
        except (ImportError, AttributeError):
            libs[name] = "absent"
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(), "libs": libs,
            "load_before": os.getloadavg()}


def ms(x: float) -> str:
    return f"{x * 1000:.2f}"


def report(results: dict[str, dict], info: dict, seconds: float, block: float) -> str:
    flags = " --embed" if info["embed"] else ""
    lines = [f"# bench/hook.py{flags} — {time.strftime('%Y-%m-%d %H:%M')}", "",
             f"Machine: {info['cores']} cores, {info['cpu']}, Python {info['python']}; "
             + ", ".join(f"{k} {v}" for k, v in info["libs"].items())
             + f". Load average before: {' / '.join(f'{x:.2f}' for x in info['load_before'])} (shared machine).", "",
             f"Server: `Runtime(embed={info['embed']})` with every installed stage service, auto-export and auto-train off "
             "(the loop would start curating after 100 good runs), served by `edgelearn.server.app.serve`. ",
             f"Open loop: {seconds:g} s per endpoint per rate, alternating {block:g} s blocks of ping and record "
             "after 1 s warm-up each; latency from the scheduled send time. CPU columns are the server's "
             "(and this client's) CPU time per request.", ""]
    for sync, res in results.items():
        lines += [f"## store.synchronous = {sync}", "",
                  f"Record body {res['body_bytes']} bytes; batch body {res['batch_bytes'] / 1e6:.2f} MB (500 runs). "
                  f"Runtime services installed: {', '.join(res['services']) or 'none'}.", "",
                  "| rate | endpoint | sent | errors | p50 ms | p90 ms | p99 ms | max ms | send lag p99 ms "
                  "| server CPU µs/req | client CPU µs/req | p99 / floor p99 |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for key in [k for k in res if k.startswith("open_")]:
            floor = pct(res[key]["ping"].latencies, 0.99)
            for name in ("ping", "record"):
                s = res[key][name]
                lat = s.latencies
                ratio = f"{pct(lat, 0.99) / floor:.2f}" if name == "record" else "—"
                lines.append(
                    f"| {key[5:]}/s | {'/v1/ping (floor)' if name == 'ping' else '/v1/runs'} | {s.requests} | "
                    f"{s.errors} | {ms(pct(lat, .5))} | {ms(pct(lat, .9))} | {ms(pct(lat, .99))} | {ms(max(lat))} | "
                    f"{ms(pct(s.lags, .99))} | {server_us(s):.0f} | "
                    f"{s.client_cpu / max(1, s.requests) * 1e6:.0f} | {ratio} |")
        lines += ["", "| durable ingest | runs/s | requests | errors | p50 ms | p99 ms | server CPU µs/run |",
                  "|---|---|---|---|---|---|---|"]
        for key, label in (("closed_16", "single runs, 16 connections"), ("closed_64", "single runs, 64 connections"),
                           ("batch_1", "batch of 500, 1 connection"), ("batch_2", "batch of 500, 2 connections")):
            s = res[key]
            lines.append(f"| {label} | {s.runs / s.wall:,.0f} | {s.requests} | {s.errors} | {ms(pct(s.latencies, .5))} | "
                         f"{ms(pct(s.latencies, .99))} | {server_us(s, s.runs):.0f} |")
        lines += ["", *thread_table(res), ""]
    return "\n".join(lines)


def p99_ratio(res: dict, rate: float) -> float:
    samples = res[f"open_{int(rate)}"]
    return pct(samples["record"].latencies, 0.99) / pct(samples["ping"].latencies, 0.99)


def repeat_table(sync: str, runs: list[dict], rates: list[float]) -> str:
    """The record/floor p99 ratio of each fresh server: one run's ratio is one draw of a noisy figure."""
    lines = [f"## Repeats: p99 / floor p99 over {len(runs)} fresh servers (store.synchronous = {sync})", "",
             "Run 1 is the one above; each further run is a fresh server and store, open loop only. On shared "
             "cores one run's ratio swings with the machine's load, so the median is the figure to compare with "
             "the target (≤ 1.5).", "",
             "| rate | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " | median | min | max |",
             "|---" * (len(runs) + 4) + "|"]
    for rate in rates:
        ratios = [p99_ratio(r, rate) for r in runs]
        lines.append(f"| {rate:g}/s | " + " | ".join(f"{x:.2f}" for x in ratios)
                     + f" | **{statistics.median(ratios):.2f}** | {min(ratios):.2f} | {max(ratios):.2f} |")
    return "\n".join(lines)


def against_table(rev: str, sync: str, rounds: list[tuple[str, dict]], rates: list[float]) -> str:
    """The open loop of this tree's servers beside those of ``rev``, alternating in one run."""
    lines = [f"## Against {rev}: fresh servers of each tree, alternating (store.synchronous = {sync})", "",
             f"`--against {rev}` serves a temporary git worktree of {rev} beside this tree, one fresh server "
             "and store at a time, in the order A B B A A B...: the change's effect within one run, on the same "
             "machine. Extra CPU is the server's CPU per record minus per ping.", "",
             "| rate | tree | p99 / floor p99, each server | median | record p99 ms (median) | floor p99 ms (median) "
             "| extra server CPU µs/record (median) |",
             "|---|---|---|---|---|---|---|"]
    for rate in rates:
        for tree in ("this tree", rev):
            runs = [r for t, r in rounds if t == tree]
            ratios = [p99_ratio(r, rate) for r in runs]
            open_ = [r[f"open_{int(rate)}"] for r in runs]
            extra = [server_us(o["record"]) - server_us(o["ping"]) for o in open_]
            p99 = {name: statistics.median(pct(o[name].latencies, 0.99) for o in open_) for name in ("record", "ping")}
            lines.append(f"| {rate:g}/s | {tree} | " + ", ".join(f"{x:.2f}" for x in ratios)
                         + f" | **{statistics.median(ratios):.2f}** | {ms(p99['record'])} | {ms(p99['ping'])} "
                         f"| {statistics.median(extra):.0f} |")
    return "\n".join(lines)


def run_against(rev: str, args) -> list[tuple[str, dict]]:
    """Open-loop results of ``--against-rounds`` server pairs: this tree and a worktree of ``rev``."""
    repo = Path(__file__).resolve().parent.parent
    tmp = tempfile.mkdtemp(prefix="edgelearn-against-")
    worktree = Path(tmp) / "tree"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(worktree), rev], check=True,
                   capture_output=True)
    rounds = []
    try:
        for i in range(args.against_rounds):
            for tree in (("this tree", rev) if i % 2 == 0 else (rev, "this tree")):
                server = Server(args.sync[0], args.core_only, src=worktree / "src" if tree == rev else None,
                                embed=args.embed)
                try:
                    rounds.append((tree, asyncio.run(bench_server(server, args.rates, args.duration, args.block,
                                                                  ingest=False))))
                finally:
                    server.stop()
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(worktree)], capture_output=True)
    return rounds


def thread_table(res: dict) -> list[str]:
    """Where the server's CPU goes, by thread: µs per request (open loop) or per run (batch)."""
    cols = [(key, name) for key in res if key.startswith("open_") for name in ("ping", "record")]
    cols.append(("batch_2", None))
    samples = [res[key][name] if name else res[key] for key, name in cols]
    per = [max(1, s.runs if name is None else s.requests) for s, (_, name) in zip(samples, cols)]
    threads = sorted({t for s in samples for t in s.threads}, key=lambda t: -sum(s.threads.get(t, 0) for s in samples))
    head = ["| server thread | " + " | ".join(f"{k[5:]}/s {n}" if n else "batch runs" for k, n in cols) + " |",
            "|---" * (len(cols) + 1) + "|"]
    rows = [f"| {t} | " + " | ".join(f"{s.threads.get(t, 0.0) / n * 1e6:.0f}" for s, n in zip(samples, per)) + " |"
            for t in threads if any(s.threads.get(t, 0.0) > 0 for s in samples)]
    return ["Server CPU by thread, µs per request (per run for the batch column):", "", *head, *rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint per rate and per ingest phase")
    ap.add_argument("--block", type=float, default=1.0, help="seconds per alternating ping/record block")
    ap.add_argument("--rates", type=float, nargs="+", default=[200, 1000])
    ap.add_argument("--sync", nargs="+", default=["normal", "full"], choices=["normal", "full"])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--core-only", action="store_true", help="serve without the optional stage services")
    ap.add_argument("--embed", action="store_true",
                    help="serve with the background embedder on (the default config), its model loaded first")
    ap.add_argument("--repeats", type=int, default=5,
                    help="more fresh servers at the first --sync level, open loop only: the spread of the p99 ratio")
    ap.add_argument("--against", metavar="REV",
                    help="also serve a git worktree of REV, alternating fresh servers with this tree's (open loop)")
    ap.add_argument("--against-rounds", type=int, default=4, help="server pairs for --against")
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    info = machine()
    info["embed"] = args.embed
    results = {}
    for sync in args.sync:
        server = Server(sync, args.core_only, embed=args.embed)
        try:
            results[sync] = asyncio.run(bench_server(server, args.rates, args.duration, args.block))
        finally:
            server.stop()
    repeats = []
    for _ in range(args.repeats):
        server = Server(args.sync[0], args.core_only, embed=args.embed)
        try:
            repeats.append(asyncio.run(bench_server(server, args.rates, args.duration, args.block, ingest=False)))
        finally:
            server.stop()
    against = run_against(args.against, args) if args.against else []
    text = report(results, info, args.duration, args.block)
    if repeats:
        text += "\n" + repeat_table(args.sync[0], [results[args.sync[0]], *repeats], args.rates) + "\n"
    if against:
        text += "\n" + against_table(args.against, args.sync[0], against, args.rates) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
