"""Rescoring a session of 1,000 runs on one outcome, beside rescoring the same runs one request each.

A fresh runtime (``Runtime(embed=False)``, with the bandit, serving and loop services installed as
``edgelearn serve`` has them) served on loopback by uvicorn in its own process; the client is
httpx in this one, on one keep-alive connection. Setup records ``--runs`` runs without signals in
one session. Then:

1. ``POST /v1/sessions/{id}/signals`` ``--repeats`` times, the tests outcome alternating between
   1/2 and 2/2 so that every outcome changes every run's reward (1,000 row updates and 1,000
   ``reward.updated`` events in one transaction); latency per request, p50 / p99 / max;
2. the same change as ``--runs`` requests ``POST /v1/runs/{id}/signals``, one per run, timed as
   a whole (``--per-run-repeats`` times).

Run: ``.venv/bin/python bench/sessions.py [--runs 1000] [--repeats 200]``; writes
``bench/results/sessions.md`` (and prints it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
from benchenv import cpu_model

OUT = Path(__file__).resolve().parent / "results" / "sessions.md"
SERVER = textwrap.dedent("""
    import os, sys
    from pathlib import Path

    from edgelearn.runtime import Runtime
    from edgelearn.server.app import serve

    runtime = Runtime(home=Path(os.environ["EDGELEARN_HOME"]), embed=False)

    def ready(server):
        port = server.servers[0].sockets[0].getsockname()[1]
        print(port, runtime.token, flush=True)

    serve(runtime, host="127.0.0.1", port=0, ready=ready)
""")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--per-run-repeats", type=int, default=3)
    args = ap.parse_args()
    load = os.getloadavg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "EDGELEARN_HOME": tmp}
        proc = subprocess.Popen([sys.executable, "-c", SERVER], env=env, stdout=subprocess.PIPE, text=True)
        port, token = proc.stdout.readline().split()
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                              timeout=120)
        try:
            ids = client.post("/v1/runs/batch", json={"runs": [
                {"role": "coder", "output": f"o{i}", "task": f"task {i}", "session": "bench"}
                for i in range(args.runs)]}).json()["ids"]
            session_ms: list[float] = []
            for i in range(args.repeats):
                body = {"signals": {"tests": {"passed": 1 + i % 2, "total": 2}}}
                t0 = time.perf_counter()
                r = client.post("/v1/sessions/bench/signals", json=body)
                session_ms.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200 and r.json()["rescored"] == args.runs, r.text
            per_run_s: list[float] = []
            for i in range(args.per_run_repeats):
                body = {"signals": {"compile": i % 2 == 0}}
                t0 = time.perf_counter()
                for run_id in ids:
                    r = client.post(f"/v1/runs/{run_id}/signals", json=body)
                    assert r.status_code == 200, r.text
                per_run_s.append(time.perf_counter() - t0)
        finally:
            client.close()
            proc.terminate()
            proc.wait(60)
    elapsed = time.monotonic() - started
    print("latencies ms, in order:", " ".join(f"{x:.0f}" for x in session_ms), file=sys.stderr)
    p99 = pct(session_ms, 99)
    per_run = statistics.median(per_run_s) * 1000
    lines = [
        "# Sessions benchmark: one outcome rescoring a session's runs",
        "",
        f"Machine: {cpu_model()}; {os.cpu_count()} cores visible; load average "
        f"{', '.join(f'{x:.2f}' for x in load)} at start (shared machine); Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}.",
        f"Run: `python bench/sessions.py --runs {args.runs} --repeats {args.repeats} "
        f"--per-run-repeats {args.per_run_repeats}`, {elapsed:.0f} s in all. The server in its own process "
        "(uvicorn, as `edgelearn serve`), httpx on loopback in this one; latency is the client's, end to end.",
        "",
        "| what | requests | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| `POST /v1/sessions/{{id}}/signals`, {args.runs} runs rescored each | {args.repeats} | "
        f"{statistics.median(session_ms):.1f} | {p99:.1f} | {max(session_ms):.1f} |",
        f"| `POST /v1/runs/{{id}}/signals` × {args.runs} (the same change, one request per run), whole pass | "
        f"{args.per_run_repeats} × {args.runs} | {per_run:.0f} | {pct(per_run_s, 99) * 1000:.0f} | "
        f"{max(per_run_s) * 1000:.0f} |",
        "",
        f"One outcome for the session: p99 **{p99:.1f} ms** (target ≤ 50 ms: "
        f"{'met' if p99 <= 50 else 'NOT met'}); the same rescoring one request per run takes "
        f"{per_run:.0f} ms, {per_run / statistics.median(session_ms):.0f}× the session outcome's median.",
        "",
    ]
    text = "\n".join(lines)
    OUT.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
