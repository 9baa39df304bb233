"""What the gateway adds in front of a provider: the stand-in called directly and through edgelearn.

Run: ``PYTHONPATH=src .venv/bin/python bench/gateway.py [--quick] [--no-anchors] [--profile [KIND]]
[--against REV] [--only KINDS]`` (about 7 minutes with the anchors; ``--quick`` about 2). Writes
``bench/results/gateway.md`` (raw numbers in ``bench/out/gateway.json``; ``--render JSON`` writes the
report again from them). The anchors' venvs are made on first use (pip, a few minutes); one that
does not install is reported as not measured. ``--against REV`` serves git revision REV's
``src/`` (``git archive``) as one more target, in every kind, alternating with this tree's: an A/B
in one run. ``--only plain@200,stream@200,messages-stream@200,concurrent`` runs only those kinds.
For a diagnosis, the edgelearn children record their garbage collections' pauses
(``EDGELEARN_BENCH_GC=FILE``) and where their event loop was when it stalled over 3 ms
(``EDGELEARN_BENCH_STALLS=PREFIX``: a watchdog thread samples the loop thread's stack; one file per
child).

Method (the one issue 16 names for the anchors): an open-loop client (requests sent on a fixed
schedule, whatever the answers do) calls the stand-in provider (``tests/standin.py``) directly and
through each gateway, at 50 and 200 requests/s, plain and streamed, in alternating 10-second blocks
(the targets' order rotates every round, so drift in background load hits all of them alike; while
one target's block runs, every other gateway's processes are stopped with SIGSTOP, so one's
background work cannot take the cores from another's block: ``alone()``). Then
Anthropic Messages at 200/s (kind ``messages-stream``): ``POST /v1/messages`` streamed, to the same
stand-in directly and through edgelearn's Anthropic-type provider (no anchors).
Every process is its own: the client here, the stand-in, edgelearn (a real uvicorn with the full
runtime: auth, routing, recording every call as a run through the store's writer; the embedder
off, as in ``bench/proxy.py``), and the anchors where they install: LiteLLM 1.110.2 (one worker)
and TensorZero 2026.6.0 (its Rust gateway, started in-process by its PyPI package), each in its
own venv under ``~/.cache/edgelearn/bench``. TCP_NODELAY on the client's and the stand-in's sockets
(asyncio sets it on every TCP transport, so uvicorn has it too).

Reported per target and block kind: latency p50/p99 and what the gateway adds to the direct call's
(added p50/p99), time to the first content chunk (TTFT; for ``/v1/messages`` the first event,
``message_start``) of a stream and its added p50/p99, and the
gateway's CPU time per call (its process tree, from /proc). Then 100 concurrent streams paced by
the stand-in at one event per 20 ms: the gaps between events as the client sees them, direct and
through each gateway. Targets on 2 cores: added p99 <= 1.5 ms and added TTFT p99 <= 1.5 ms at
200/s, added time to first event p99 <= 1.5 ms on ``/v1/messages`` at 200/s; no added chunk gap
over 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchenv import cpu_model

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("EDGELEARN_BENCH_CACHE", Path.home() / ".cache" / "edgelearn" / "bench"))
TEXT = "The quick brown fox jumps over the lazy dog. " * 4  # 180 characters: 18 content chunks of 10
PACE_S = 0.02  # the paced stand-in's gap between stream events
PACED_TEXT = "x" * 100  # 25 content chunks of 4: about half a second per stream
MESSAGES = [{"role": "system", "content": "You are a careful coding assistant. Answer briefly."},
            {"role": "user", "content": "Write a Python function that checks whether a string is a palindrome."}]
CONTENT = re.compile(rb'"content":\s*"[^"]')
FIRST_EVENT = re.compile(rb"(?m)^(?:event|data):")  # /v1/messages: TTFT is to its first event, message_start
MESSAGES_KIND = "messages-stream@200"
ANTHROPIC_VERSION = {"anthropic-version": "2023-06-01"}  # what the anthropic SDK sends
LITELLM_REQUIREMENTS = [  # its pinned [proxy] extra does not resolve here (FACTS.md): the proxy's imports by hand
    "litellm==1.110.2", "uvicorn", "uvloop", "fastapi", "backoff", "pyyaml", "orjson", "apscheduler", "fastapi-sso",
    "pyjwt", "python-multipart", "cryptography", "pynacl", "websockets", "rq", "rich", "tomlkit", "semver",
    "expression", "mcp", "soundfile"]
TENSORZERO_REQUIREMENTS = ["tensorzero==2026.6.0"]
# no call home from the anchors: only loopback traffic in this bench
QUIET_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
             "TENSORZERO_DISABLE_PSEUDONYMOUS_USAGE_ANALYTICS": "1",
             "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
             # and whatever else they try meets a closed loopback port (both honour NO_PROXY for the stand-in)
             **{k: "http://127.0.0.1:9" for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
             "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


# --- numbers -------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# --- the children --------------------------------------------------------------------------------
def standin_child(port_file: str) -> None:
    """Serve two stand-ins on loopback: ``fast`` (answers at once) and ``paced`` (one event per 20 ms)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from standin import Reply, StandIn

    fast = StandIn(default=Reply(text=TEXT, chunk_chars=10, usage=(40, 45, 0))).start()
    paced = StandIn(default=Reply(text=PACED_TEXT, chunk_chars=4, chunk_delay=PACE_S, usage=(40, 25, 0))).start()
    Path(port_file).write_text(json.dumps({"fast": fast.port, "paced": paced.port}))
    while not select.select([sys.stdin], [], [], 1.0)[0] or sys.stdin.read(1):  # the parent closes our stdin
        fast.requests.clear()  # the stand-in keeps every request it saw; a bench sends tens of thousands
        paced.requests.clear()
    fast.stop()
    paced.stop()


def edgelearn_child(home: str, port_file: str) -> None:
    """The full edgelearn runtime on loopback, its providers read from ``home``/edgelearn.toml."""
    from edgelearn.runtime import Runtime
    from edgelearn.server.app import serve

    if os.environ.get("EDGELEARN_BENCH_GC"):
        _watch_gc(Path(os.environ["EDGELEARN_BENCH_GC"]))
    runtime = Runtime(home=Path(home), embed=False)

    def ready(server) -> None:
        if os.environ.get("EDGELEARN_BENCH_STALLS"):
            _watch_stalls(Path(f"{os.environ['EDGELEARN_BENCH_STALLS']}.{Path(home).name}"))
        Path(port_file).write_text(str(server.servers[0].sockets[0].getsockname()[1]))

    serve(runtime, port=0, ready=ready)


def _watch_stalls(out: Path, over_ms: float = 3.0) -> None:
    """Where the event loop was when it did not run a 1 ms timer for over ``over_ms`` (called on the
    loop's thread): a watchdog thread samples the loop thread's stack; counts by stack to ``out``."""
    import traceback

    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    beat = [time.perf_counter()]
    stacks: dict[str, int] = {}

    def tick() -> None:
        beat[0] = time.perf_counter()
        loop.call_later(0.001, tick)

    def watch() -> None:
        last_dump = time.perf_counter()
        while True:
            time.sleep(0.001)
            now = time.perf_counter()
            if (now - beat[0]) * 1000 > over_ms:
                frame = sys._current_frames().get(loop_thread)
                if frame is not None:
                    key = " <- ".join(f"{f.name} ({Path(f.filename).name}:{f.lineno})"
                                      for f in reversed(traceback.extract_stack(frame)[-8:]))
                    stacks[key] = stacks.get(key, 0) + 1
                beat[0] = now  # one sample per stall
            if now - last_dump > 1.0:
                out.write_text(json.dumps(sorted(stacks.items(), key=lambda kv: -kv[1])[:40], indent=1))
                last_dump = now

    tick()
    threading.Thread(target=watch, daemon=True).start()


def _watch_gc(out: Path) -> None:
    """Record every garbage collection's pause in this process (``--gc``): written to ``out`` each second."""
    import gc

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - began[0]) * 1000)

    def dump() -> None:
        while True:
            time.sleep(1.0)
            out.write_text(json.dumps(pauses))

    gc.callbacks.append(callback)
    threading.Thread(target=dump, daemon=True).start()


TENSORZERO_CHILD = """
import sys, tensorzero
gateway = tensorzero._start_http_gateway(config_file=sys.argv[1], clickhouse_url=None, postgres_url=None,
                                         valkey_url=None, async_setup=False)
print(gateway.base_url, flush=True)
sys.stdin.read()
gateway.close()
"""


@dataclass
class Target:
    """One way to reach the stand-in: a base URL, the model ids for the fast and paced replies, a process."""

    name: str
    host: str
    port: int
    path: str  # the chat completions path, or /v1/messages
    model: str
    paced_model: str
    headers: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None  # the gateway's process (None: direct)


def _wait_file(path: Path, proc: subprocess.Popen, what: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)
    time.sleep(0.05)
    return path.read_text().strip()


def _wait_http(port: int, path: str, proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer {path} within {timeout:.0f} s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_standin(tmp: Path) -> tuple[subprocess.Popen, dict[str, int]]:
    port_file = tmp / "standin.ports"
    proc = subprocess.Popen([sys.executable, __file__, "--standin-child", str(port_file)], stdin=subprocess.PIPE)
    return proc, json.loads(_wait_file(port_file, proc, "the stand-in"))


def start_edgelearn(tmp: Path, ports: dict[str, int], name: str = "edgelearn", src: Path = ROOT / "src") -> Target:
    """edgelearn from ``src`` (this tree's, or ``--against``'s export of another revision) in front of the stand-ins."""
    home = tmp / f"{name}-home"
    home.mkdir()
    (home / "edgelearn.toml").write_text(
        "\n".join(f'[providers.{name}]\ntype = "openai"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                  f'models = ["small"]\n' for name, port in ports.items())
        + f'\n[providers.claude]\ntype = "anthropic"\nbase_url = "http://127.0.0.1:{ports["fast"]}"\n'
          f'models = ["small"]\n')
    port_file = tmp / f"{name}.port"
    env = {**os.environ, "EDGELEARN_HOME": str(home), "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, __file__, "--edgelearn-child", str(home), str(port_file)], env=env)
    port = int(_wait_file(port_file, proc, "edgelearn"))
    token = (home / "token").read_text().strip()
    return Target(name, "127.0.0.1", port, "/v1/chat/completions", "fast/small", "paced/small",
                  {"authorization": f"Bearer {token}"}, proc)


def export_revision(rev: str, tmp: Path) -> Path:
    """``src/`` of git revision ``rev`` (``git archive``, no worktree made), for ``--against``."""
    out = tmp / f"rev-{rev}"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out / "src"


def ensure_venv(name: str, requirements: list[str], probe: str) -> Path:
    """``CACHE/name``: a venv with ``requirements``, made when ``probe`` (a Python statement) fails there."""
    venv = CACHE / name
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    done = subprocess.run([python, "-m", "pip", "install", "-q", *requirements], capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(requirements[:1])} failed: {done.stderr.strip()[-300:]}")
    return python


def start_litellm(tmp: Path, ports: dict[str, int]) -> Target:
    python = ensure_venv("litellm", LITELLM_REQUIREMENTS, "import litellm.proxy.proxy_server")
    config = tmp / "litellm.yaml"
    config.write_text("model_list:\n" + "".join(
        f"  - model_name: {name}\n    litellm_params:\n      model: openai/small\n"
        f"      api_base: http://127.0.0.1:{port}/v1\n      api_key: none\n" for name, port in ports.items()))
    port = _free_port()
    cmd = [str(python.parent / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", "1"]
    proc = subprocess.Popen(cmd, env={**os.environ, **QUIET_ENV}, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "litellm.log", "wb"))
    _wait_http(port, "/health/liveliness", proc, "LiteLLM")
    return Target("litellm", "127.0.0.1", port, "/v1/chat/completions", "fast", "paced", {}, proc)


def start_tensorzero(tmp: Path, ports: dict[str, int]) -> Target:
    python = ensure_venv("tensorzero", TENSORZERO_REQUIREMENTS, "import tensorzero")
    config = tmp / "tensorzero.toml"
    config.write_text("".join(
        f'[models.{name}]\nrouting = ["standin"]\n\n[models.{name}.providers.standin]\ntype = "openai"\n'
        f'model_name = "small"\napi_base = "http://127.0.0.1:{port}/v1"\napi_key_location = "none"\n\n'
        for name, port in ports.items()))
    proc = subprocess.Popen([str(python), "-c", TENSORZERO_CHILD, str(config)], env={**os.environ, **QUIET_ENV},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(tmp / "tensorzero.log", "wb"),
                            text=True)
    match = None
    for line in proc.stdout:  # its logs, then its base URL, http://127.0.0.1:PORT/openai/v1
        match = re.match(r"http://127\.0\.0\.1:(\d+)(/\S*)", line.strip())
        if match:
            break
    if not match:
        stop(proc)
        raise RuntimeError(f"TensorZero did not start (see {tmp / 'tensorzero.log'})")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # its later logs must not fill the pipe
    return Target("tensorzero", "127.0.0.1", int(match.group(1)), match.group(2).rstrip("/") + "/chat/completions",
                  "tensorzero::model_name::fast", "tensorzero::model_name::paced", {}, proc)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    if proc.stdin is not None:
        try:
            proc.stdin.close()
        except OSError:
            pass
    else:
        proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- CPU of a process tree -----------------------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_seconds(proc: subprocess.Popen | None) -> float:
    """User + system CPU time of ``proc`` and its descendants, in seconds."""
    if proc is None:
        return 0.0
    total = 0
    for pid in _tree(proc.pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


ISOLATE = True  # --no-isolate: every gateway runs through every block, as before


@contextlib.contextmanager
def alone(target: Target, targets: list[Target]):
    """While one target's block runs, every other gateway's process tree is stopped (SIGSTOP) and
    resumed after: one gateway's background work (LiteLLM's failing streams, a checkpoint, a
    revision's recorder) must not take the cores from another's block. The stand-in is never
    stopped; a gateway's own deferred work runs in its own blocks, where it counts."""
    others = {t.proc.pid: t.proc for t in targets if t.proc is not None and t.proc is not target.proc}
    stopped = [pid for proc in others.values() for pid in _tree(proc.pid)] if ISOLATE else []
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


# --- the client ----------------------------------------------------------------------------------
class Pool:
    """Keep-alive HTTP/1.1 connections to one host, TCP_NODELAY on each; grows as the load needs.

    A connection idle for over a second is dropped rather than reused: servers close idle keep-alive
    connections (uvicorn after 5 s), and a call must not meet a connection closed between blocks.
    """

    IDLE_S = 1.0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.opened = 0

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        now = time.monotonic()
        while self.idle:
            reader, writer, since = self.idle.pop()
            if now - since < self.IDLE_S and not reader.at_eof():
                return reader, writer
            writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.opened += 1
        return reader, writer

    def release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append((*conn, time.monotonic()))

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


@dataclass
class Result:
    ok: bool
    latency_ms: float
    ttft_ms: float | None = None
    events: list[float] = field(default_factory=list)  # arrival time of each SSE event (paced runs)
    error: str | None = None  # why a call failed: "status 502", "no [DONE]", an exception's name


async def call(pool: Pool, target: Target, body: bytes, stream: bool, keep_events: bool = False) -> Result:
    """One POST of ``body``; reads the whole answer (chunked or sized), timing the first content chunk
    (on ``/v1/messages``: the first event)."""
    first, last = (FIRST_EVENT, b"message_stop") if target.path.endswith("/messages") else (CONTENT, b"[DONE]")
    head = (f"POST {target.path} HTTP/1.1\r\nhost: 127.0.0.1:{target.port}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in target.headers.items())
            + "\r\n").encode()
    started = time.perf_counter()
    conn = await pool.acquire()
    reader, writer = conn
    ttft = None
    events: list[float] = []
    try:
        writer.write(head + body)
        status_line, _, rest = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
        status = int(status_line.split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(b":") for line in rest.split(b"\r\n") if line)}
        tail = b""
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                data = (await reader.readexactly(size + 2))[:-2]
                now = time.perf_counter()
                if ttft is None and first.search(data):
                    ttft = (now - started) * 1000
                if keep_events:
                    events += [now] * data.count(b"data:")
                tail = (tail + data)[-64:]
        else:
            data = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            tail = data[-64:]
        error = (f"status {status}" if status != 200 else f"no {last.decode()}" if stream and last not in tail
                 else None)
        if headers.get(b"connection", b"").lower() == b"close":
            writer.close()
        else:
            pool.release(conn)
        return Result(error is None, (time.perf_counter() - started) * 1000, ttft, events, error)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as exc:
        writer.close()
        return Result(False, (time.perf_counter() - started) * 1000, error=type(exc).__name__)


def request_body(model: str, stream: bool, messages: bool = False) -> bytes:
    body: dict = {"model": model, "messages": MESSAGES, "max_tokens": 64, "temperature": 0}
    if messages:  # Anthropic's shape: the system prompt beside the messages
        body.update(system=MESSAGES[0]["content"], messages=MESSAGES[1:], stream=stream)
    elif stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return json.dumps(body).encode()


async def open_loop(pool: Pool, target: Target, stream: bool, rate: float, seconds: float,
                    drain_s: float = 10.0) -> tuple[list[Result], int]:
    """Send ``rate`` requests/s for ``seconds`` on a fixed schedule; returns the results and how many
    were still unanswered ``drain_s`` after the last send (cancelled, counted as failures)."""
    loop = asyncio.get_running_loop()
    body = request_body(target.model, stream, target.path.endswith("/messages"))
    interval, count = 1.0 / rate, int(rate * seconds)
    start = loop.time() + 0.01
    tasks = []
    for i in range(count):
        delay = start + i * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(call(pool, target, body, stream)))
    done, pending = await asyncio.wait(tasks, timeout=drain_s)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
        pool.close()  # a cancelled call leaves its connection mid-answer
    return [t.result() for t in done], len(pending)


# --- the runs ------------------------------------------------------------------------------------
async def run_blocks(targets: list[Target], standin: subprocess.Popen, rates: list[int], rounds: int,
                     block_s: float, skip: dict[tuple[str, int], str], profile: Path | None = None,
                     messages: list[Target] | None = None, profile_kind: str | None = None,
                     only: set[str] | None = None) -> dict:
    """The blocks of every kind; ``messages`` (the /v1/messages targets, same names and hosts as their
    chat ones, so the same pools) add the ``MESSAGES_KIND`` blocks."""
    pools = {t.name: Pool(t.host, t.port) for t in targets}
    for t in [*targets, *(messages or [])]:  # warm up: connections, imports, first commits
        for stream in (False, True):
            await open_loop(pools[t.name], t, stream, 50, 1.0)
    out: dict = {}
    if profile is not None:  # warm, before any block has grown a pool or left a backlog
        kind = profile_kind or "plain"
        spied = next(t for t in (messages if kind == "messages" else targets) if t.name == "edgelearn")
        out["profile"] = {**await profile_edgelearn(spied, 10, profile, kind != "plain"), "kind": kind}
    kinds = [(f"{'stream' if stream else 'plain'}@{rate}", targets, rate, stream)
             for rate in rates for stream in (False, True)]
    kinds += [(MESSAGES_KIND, messages, 200, True)] if messages else []
    kinds = [k for k in kinds if only is None or k[0] in only]
    for kind, kind_targets, rate, stream in kinds:
        rows: dict[str, dict] = {}
        for r in range(rounds):
            order = kind_targets[r % len(kind_targets):] + kind_targets[:r % len(kind_targets)]
            for t in order:
                if (t.name, rate) in skip:
                    continue
                with alone(t, kind_targets):
                    cpu0, scpu0, ccpu0 = cpu_seconds(t.proc), cpu_seconds(standin), time.process_time()
                    results, unanswered = await open_loop(pools[t.name], t, stream, rate, block_s)
                    await asyncio.sleep(1.0)  # what a block left running (retries, recording) ends in its own count
                    cpu1, scpu1, ccpu1 = cpu_seconds(t.proc), cpu_seconds(standin), time.process_time()
                row = rows.setdefault(t.name, {"lat": [], "ttft": [], "fail": 0, "calls": 0, "cpu": 0.0,
                                               "standin_cpu": 0.0, "client_cpu": 0.0, "errors": {}})
                row["client_cpu"] += ccpu1 - ccpu0
                good = [x for x in results if x.ok]
                row["lat"] += [x.latency_ms for x in good]
                row["ttft"] += [x.ttft_ms for x in good if x.ttft_ms is not None]
                row["fail"] += len(results) - len(good) + unanswered
                for x in results:
                    if x.error:
                        row["errors"][x.error] = row["errors"].get(x.error, 0) + 1
                if unanswered:
                    row["errors"]["unanswered after the drain"] = row["errors"].get(
                        "unanswered after the drain", 0) + unanswered
                row["calls"] += len(results) + unanswered
                row["cpu"] += cpu1 - cpu0
                row["standin_cpu"] += scpu1 - scpu0
                print(f"  {kind:11} round {r + 1} {t.name:10} p50 {pct(row['lat'], 50) or 0:7.2f} ms "
                      f"p99 {pct(row['lat'], 99) or 0:7.2f} ms  failed {row['fail']}"
                      + (f"  TTFT p50 {pct(row['ttft'], 50) or 0:.2f} p99 {pct(row['ttft'], 99) or 0:.2f} ms"
                         if stream else ""), flush=True)
        out[kind] = {name: summarize(row) for name, row in rows.items()}
        base = out[kind].get("direct")
        for name, row in out[kind].items():
            if base is not None and name != "direct":
                row["added_p50"] = _minus(row["p50"], base["p50"])
                row["added_p99"] = _minus(row["p99"], base["p99"])
                row["added_ttft_p50"] = _minus(row["ttft_p50"], base["ttft_p50"])
                row["added_ttft_p99"] = _minus(row["ttft_p99"], base["ttft_p99"])
    for pool in pools.values():
        pool.close()
    return out


def summarize(row: dict) -> dict:
    ok = len(row["lat"])
    return {"n": ok, "failed": row["fail"], "p50": pct(row["lat"], 50), "p99": pct(row["lat"], 99),
            "mean": statistics.fmean(row["lat"]) if row["lat"] else None,
            "ttft_p50": pct(row["ttft"], 50), "ttft_p99": pct(row["ttft"], 99),
            "cpu_ms_per_call": row["cpu"] * 1000 / row["calls"] if row["calls"] else None,
            "standin_cpu_ms_per_call": row["standin_cpu"] * 1000 / row["calls"] if row["calls"] else None,
            "client_cpu_ms_per_call": row["client_cpu"] * 1000 / row["calls"] if row["calls"] else None,
            "errors": row["errors"]}


async def concurrent_streams(targets: list[Target], n: int, rounds: int) -> dict:
    """``n`` streams at once from the paced stand-in, per target: the gaps between events."""
    out: dict = {}
    for t in targets:
        out[t.name] = {"gaps": [], "failed": 0, "streams": 0, "errors": {}, "longest_last": 0, "done_gaps": [],
                       "inner_gaps": []}
    for r in range(rounds):
        for t in targets[r % len(targets):] + targets[:r % len(targets)]:
            pool = Pool(t.host, t.port)
            paced = Target(t.name, t.host, t.port, t.path, t.paced_model, t.paced_model, t.headers, t.proc)
            body = request_body(t.paced_model, True)
            with alone(t, targets):
                results = await asyncio.gather(*(call(pool, paced, body, True, keep_events=True) for _ in range(n)))
                pool.close()
            row = out[t.name]
            for x in results:
                row["streams"] += 1
                if not x.ok:
                    row["failed"] += 1
                    row["errors"][x.error] = row["errors"].get(x.error, 0) + 1
                    continue
                # the first gap (role chunk to first content) is the stand-in's, not a relay's
                gaps = [(b - a) * 1000 for a, b in zip(x.events[1:], x.events[2:])]
                row["gaps"] += gaps
                row["longest_last"] += bool(gaps) and gaps.index(max(gaps)) == len(gaps) - 1
                row["done_gaps"] += gaps[-1:]
                row["inner_gaps"] += gaps[:-1]
    summary = {}
    for name, row in out.items():
        gaps = row["gaps"]
        summary[name] = {"streams": row["streams"], "failed": row["failed"], "gaps": len(gaps),
                         "p50": pct(gaps, 50), "p99": pct(gaps, 99), "max": max(gaps) if gaps else None,
                         "over_pace_plus_5ms": sum(g > PACE_S * 1000 + 5 for g in gaps), "errors": row["errors"],
                         "longest_last": row["longest_last"], "done_p99": pct(row["done_gaps"], 99),
                         "before_done_p99": pct(row["inner_gaps"], 99)}
    base = summary.get("direct")
    for name, row in summary.items():
        if base is not None and name != "direct":
            row["added_p99"] = _minus(row["p99"], base["p99"])
            row["added_max"] = _minus(row["max"], base["max"])
    return summary


# --- profile -------------------------------------------------------------------------------------
async def profile_edgelearn(target: Target, seconds: float, out: Path, stream: bool = False) -> dict:
    """py-spy (in its own venv, 500 samples/s) on the edgelearn child during ``seconds`` of calls at 200/s
    (``target.path`` says which API): where its threads spend their samples, by package and function
    (self) and by edgelearn function (inclusive)."""
    try:
        python = ensure_venv("pyspy", ["py-spy"], "import shutil, sys; sys.exit(not shutil.which('py-spy'))")
    except (RuntimeError, subprocess.SubprocessError) as exc:
        return {"error": f"py-spy unavailable: {exc}"}
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([str(python.parent / "py-spy"), "record", "--pid", str(target.proc.pid), "--duration",
                             str(int(seconds)), "--rate", "500", "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await asyncio.sleep(1.0)  # py-spy attaches
    await open_loop(Pool(target.host, target.port), target, stream, 200, seconds - 2)
    await asyncio.to_thread(proc.wait, 60)
    if not out.exists():
        return {"error": f"py-spy wrote nothing (exit {proc.returncode})"}
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    by_package: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or "(idle)" in stack:
            continue
        n, frames = int(count), [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]  # by function, not line
        total += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        package = re.search(r"\(([^/)]+)", frames[-1])
        package = package.group(1).removesuffix(".py") if package else "?"
        by_package[package] = by_package.get(package, 0) + n
        for frame in {f for f in frames if "(edgelearn/" in f}:
            inclusive[frame] = inclusive.get(frame, 0) + n
    top = sorted(own.items(), key=lambda kv: -kv[1])[:12]
    top_el = sorted(inclusive.items(), key=lambda kv: -kv[1])[:12]
    return {"file": str(out.relative_to(ROOT)) if out.is_relative_to(ROOT) else str(out), "samples": total,
            "self": [(f, n / total) for f, n in top], "edgelearn_inclusive": [(f, n / total) for f, n in top_el],
            "packages": [(p, n / total) for p, n in sorted(by_package.items(), key=lambda kv: -kv[1])[:8]]}


# --- report --------------------------------------------------------------------------------------
def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# Gateway: what edgelearn adds in front of a provider",
        "",
        f"Measured {result['date']} on {m['cpu']} ({m['cores']} cores), {m['os']}, Python {m['python']}, "
        f"edgelearn at {result['commit']}. Load average before/after: {m['load_before']} / {m['load_after']}.",
        f"Command: `{result['command']}` ({result['wall_s']:.0f} s). Method in `bench/gateway.py`'s docstring: "
        f"open loop, alternating {result['block_s']:g}-second blocks, {result['rounds']} round(s) per kind, "
        "the stand-in on loopback, each process its own.",
        "",
        *(["**The cores were shared** (load average above the core count): absolute figures are context; "
           "compare targets inside this run.", ""] if float(m["load_before"].split()[0]) > (m["cores"] or 1) else []),
        "Latency is from the client's send to the last byte; TTFT to the first content chunk (in "
        f"{MESSAGES_KIND}, `POST /v1/messages` streamed to the Anthropic-type stand-in, to the first event: "
        "`message_start`). *added* is the "
        "target's figure minus the direct call's in the same run. CPU is the gateway's process tree per call, "
        "then the stand-in's and this client's own, per call: all three share the same cores.",
        "",
    ]
    for kind, rows in result["blocks"].items():
        stream = "stream" in kind
        lines += [f"## {kind.replace('@', ' at ')} requests/s", ""]
        head = "| target | calls ok | failed | p50 ms | p99 ms | added p50 | added p99 |"
        rule = "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        if stream:
            head += " TTFT p50 | TTFT p99 | added TTFT p50 | added TTFT p99 |"
            rule += " ---: | ---: | ---: | ---: |"
        lines += [head + " gateway CPU ms/call | stand-in CPU ms/call | client CPU ms/call |",
                  rule + " ---: | ---: | ---: |"]
        for name, row in rows.items():
            line = (f"| {name} | {row['n']} | {row['failed']} | {_f(row['p50'])} | {_f(row['p99'])} | "
                    f"{_f(row.get('added_p50'))} | {_f(row.get('added_p99'))} |")
            if stream:
                line += (f" {_f(row['ttft_p50'])} | {_f(row['ttft_p99'])} | {_f(row.get('added_ttft_p50'))} | "
                         f"{_f(row.get('added_ttft_p99'))} |")
            cpu = "–" if name == "direct" else _f(row["cpu_ms_per_call"])
            lines.append(line + f" {cpu} | {_f(row['standin_cpu_ms_per_call'])} | "
                               f"{_f(row['client_cpu_ms_per_call'])} |")
        lines.append("")
        failures = [f"{name}: " + ", ".join(f"{n} x {why}" for why, n in row["errors"].items())
                    for name, row in rows.items() if row["errors"]]
        if failures:
            lines += ["Failed calls: " + "; ".join(failures) + ".", ""]
    for (name, rate), why in result["skipped"].items() if isinstance(result["skipped"], dict) else ():
        lines.append(f"- {name} at {rate}/s not run: {why}")
    if result.get("not_installed"):
        lines += [f"- {name}: not measured ({why})" for name, why in result["not_installed"].items()]
    lines.append("")
    c = result["concurrent"]
    lines += [f"## {result['streams']} concurrent streams, one event per {PACE_S * 1000:g} ms from the stand-in", "",
              "| target | streams | failed | gaps | gap p50 ms | gap p99 ms | gap max ms | added p99 | added max | "
              f"gaps > {PACE_S * 1000 + 5:g} ms | longest gap at [DONE] | p99 of gaps before [DONE] | "
              "p99 of gaps to [DONE] |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in c.items():
        lines.append(f"| {name} | {row['streams']} | {row['failed']} | {row['gaps']} | {_f(row['p50'])} | "
                     f"{_f(row['p99'])} | {_f(row['max'])} | {_f(row.get('added_p99'))} | "
                     f"{_f(row.get('added_max'))} | {row['over_pace_plus_5ms']} | {row.get('longest_last', '–')} | "
                     f"{_f(row.get('before_done_p99'))} | {_f(row.get('done_p99'))} |")
    failures = [f"{name}: " + ", ".join(f"{n} x {why}" for why, n in row["errors"].items())
                for name, row in c.items() if row["errors"]]
    if failures:
        lines += ["", "Failed streams: " + "; ".join(failures) + "."]
    lines += ["", "## Targets (edgelearn, 2 cores)", ""]
    for line in verdicts(result):
        lines.append(f"- {line}")
    profile = result.get("profile")
    if profile:
        lines += ["", f"## Where edgelearn's CPU goes (py-spy, {profile.get('kind', 'plain')} at 200/s after the "
                  "warm-up, before the blocks; non-idle samples)", ""]
        if "error" in profile:
            lines.append(profile["error"])
        else:
            lines += [f"{profile['samples']} samples, raw stacks in `{profile['file']}` (not committed).", "",
                      "| package (self) | share |", "| --- | ---: |"]
            lines += [f"| {p} | {share:.1%} |" for p, share in profile["packages"]]
            lines += ["", "| function (self) | share |", "| --- | ---: |"]
            lines += [f"| `{f}` | {share:.1%} |" for f, share in profile["self"]]
            lines += ["", "| edgelearn function (inclusive) | share |", "| --- | ---: |"]
            lines += [f"| `{f}` | {share:.1%} |" for f, share in profile["edgelearn_inclusive"]]
    return "\n".join(lines) + "\n"


def _verdict(added: float | None, limit: float) -> str:
    if added is None:
        return "not measured"
    if added < 0:  # the direct call's own tail was longer: a stall of the shared cores, not a gain
        return "inconclusive (the direct call's figure was the larger one)"
    return "met" if added <= limit else "MISSED"


def verdicts(result: dict) -> list[str]:
    out = []
    for kind in ("plain@200", "stream@200", MESSAGES_KIND):
        row = result["blocks"].get(kind, {}).get("edgelearn")
        if row is None:
            continue
        if kind != MESSAGES_KIND:  # there the target is the first event's alone
            added = row.get("added_p99")
            out.append(f"added p99 at {kind}: {_f(added)} ms (target <= 1.5): {_verdict(added, 1.5)}")
        if "stream" in kind:
            added = row.get("added_ttft_p99")
            what = "time to first event (message_start)" if kind == MESSAGES_KIND else "TTFT"
            out.append(f"added {what} p99 at {kind}: {_f(added)} ms (p50 {_f(row.get('added_ttft_p50'))}; "
                       f"target <= 1.5): {_verdict(added, 1.5)}")
    row = result["concurrent"].get("edgelearn")
    if row is not None:
        added = row.get("added_max")
        out.append(f"added chunk gap over {result['streams']} concurrent streams: p99 {_f(row.get('added_p99'))} ms, "
                   f"max {_f(added)} ms (target: none over 5 ms): {_verdict(added, 5)}")
    return out


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True,
                               text=True).stdout.strip()
        return sha + (" (with uncommitted changes under src/)" if dirty else "")
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3-second blocks, one round, 50 streams (a smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds of blocks per kind (default 2; --quick 1)")
    parser.add_argument("--block-s", type=float, help="seconds per block (default 10; --quick 3)")
    parser.add_argument("--streams", type=int, help="concurrent streams (default 100; --quick 50)")
    parser.add_argument("--no-anchors", action="store_true", help="only direct and edgelearn")
    parser.add_argument("--against", metavar="REV", help="also serve git revision REV's edgelearn as a second target "
                        "(named REV), alternating with this tree's in every kind")
    parser.add_argument("--profile", nargs="?", const="plain", choices=("plain", "stream", "messages"),
                        help="py-spy the edgelearn child at 200/s, plain calls (default), streams or /v1/messages streams")
    parser.add_argument("--only", metavar="KINDS", help="comma-separated kinds to run (plain@50, stream@200, "
                        f"{MESSAGES_KIND}, concurrent, ...; default all)")
    parser.add_argument("--no-isolate", action="store_true", help="leave the other gateways running during a "
                        "target's block (default: they are stopped with SIGSTOP, see alone())")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gateway.md")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only write --out again from a saved run's JSON")
    parser.add_argument("--standin-child", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--edgelearn-child", nargs=2, metavar=("HOME", "PORT_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.standin_child:
        return standin_child(args.standin_child)
    if args.edgelearn_child:
        return edgelearn_child(*args.edgelearn_child)
    if args.render:
        saved = json.loads(args.render.read_text())
        saved["skipped"] = {tuple(k.split("@")): v for k, v in saved["skipped"].items()}
        args.out.write_text(report(saved))
        return None
    only = set(args.only.split(",")) if args.only else None
    global ISOLATE
    ISOLATE = not args.no_isolate
    rounds = args.rounds or (1 if args.quick else 2)
    block_s = args.block_s or (3.0 if args.quick else 10.0)
    streams = args.streams or (50 if args.quick else 100)
    started = time.monotonic()
    commit, began = _commit(), time.strftime("%Y-%m-%d %H:%M", time.gmtime())  # what the children import
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    procs: list[subprocess.Popen] = []
    not_installed: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        standin, ports = start_standin(tmp)
        procs.append(standin)
        try:
            targets = [Target("direct", "127.0.0.1", ports["fast"], "/v1/chat/completions", "small", "small")]
            edgelearn = start_edgelearn(tmp, ports)
            procs.append(edgelearn.proc)
            targets.append(edgelearn)
            if args.against:
                other = start_edgelearn(tmp, ports, args.against, export_revision(args.against, tmp))
                procs.append(other.proc)
                targets.append(other)
            if not args.no_anchors:
                for name, start in (("litellm", start_litellm), ("tensorzero", start_tensorzero)):
                    try:
                        target = start(tmp, ports)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                        not_installed[name] = str(exc)
                        print(f"{name}: not measured ({exc})", flush=True)
                        continue
                    procs.append(target.proc)
                    targets.append(target)
            # LiteLLM saturates near 90 plain / 50 streamed calls per second with one worker (FACTS.md):
            # at 200/s its backlog would spill into the next blocks
            skip = {("litellm", 200): "one LiteLLM worker saturates near 90 plain / 50 streamed calls/s"}
            rates = [50, 200]
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                spy = ROOT / "bench" / "out" / "gateway.pyspy.txt" if args.profile else None
                messages = [Target(t.name, t.host, t.port, "/v1/messages", model, model,
                                   {**t.headers, **ANTHROPIC_VERSION}, t.proc)
                            for t, model in ((targets[0], "small"), (edgelearn, "claude/small"),
                                             *((t, "claude/small") for t in targets if t.name == args.against))]
                blocks = runner.run(run_blocks(targets, standin, rates, rounds, block_s, skip, spy, messages,
                                               args.profile, only))
                profile = blocks.pop("profile", None)
                concurrent = (runner.run(_concurrent(targets, ports, streams, rounds))
                              if only is None or "concurrent" in only else {})
        finally:
            for proc in reversed(procs):
                stop(proc)
    result = {
        "date": f"{began} to {time.strftime('%H:%M UTC', time.gmtime())}",
        "commit": commit + ("" if _commit() == commit else f" (HEAD moved to {_commit()} during the run)"),
        "command": "bench/gateway.py " + " ".join(a for a in sys.argv[1:]),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "os": platform.platform(terse=True),
                    "python": platform.python_version(), "load_before": load_before,
                    "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg())},
        "rounds": rounds, "block_s": block_s, "streams": streams, "blocks": blocks, "concurrent": concurrent,
        "skipped": {k: v for k, v in skip.items() if k[0] in {t.name for t in targets}},
        "not_installed": not_installed, "profile": profile, "wall_s": time.monotonic() - started}
    raw = ROOT / "bench" / "out" / "gateway.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({**result, "skipped": {f"{k[0]}@{k[1]}": v for k, v in result["skipped"].items()}},
                              indent=2))
    text = report(result)
    args.out.write_text(text)
    print(text)


def _loop_factory():
    try:  # the client's own overhead is in every figure: keep it small
        import uvloop

        return uvloop.new_event_loop
    except ImportError:
        return None


async def _concurrent(targets, ports, streams, rounds):
    paced = []
    for t in targets:
        if t.name == "direct":  # the paced stand-in is its own server
            t = Target("direct", t.host, ports["paced"], t.path, "small", "small")
        paced.append(t)
    return await concurrent_streams(paced, streams, rounds)


if __name__ == "__main__":
    main()
