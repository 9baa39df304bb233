"""What the OpenAI-compatible proxy adds, side by side with calling the same backend directly.

Run: ``PYTHONPATH=src .venv/bin/python bench/proxy.py [--fake-requests 400] [--embedded-pairs 12]
[--max-tokens 32] [--threads 2]``. Writes ``bench/results/proxy.md`` (and the raw numbers to
``bench/out/proxy.json``).

The server runs in a child process (a real uvicorn on loopback with the full runtime: auth, routing,
recording through the store's writer), so client and server do not share a GIL. Three comparisons:

1. fake backend: ``FakeBackend.complete`` in-process (the backend itself) vs ``POST /v1/ping`` (the
   HTTP floor of the same server: auth middleware, one JSON answer) vs ``POST /v1/chat/completions``
   plain and streamed. Targets: added p99 <= 1 ms.
2. embedded model (SmolLM2-135M Q4_1): raw ``Llama.create_chat_completion`` in this process vs the
   proxy, greedy, the same prompt, interleaved one by one so both see the same background load.
   Target: the proxy's share of end-to-end time <= 5 %.
3. tokens/s of the embedded backend (in-process, and streamed through the proxy) beside raw
   llama-cpp-python on the same prompt. Target >= 90 %.

Parts 2 and 3 run once per ``--threads`` value (default 2, then 1): on oversubscribed cores two
llama.cpp threads that wait on each other at every token slow down far more than one thread does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from benchenv import cpu_model

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [{"role": "user", "content": "Write a Python function that checks whether a string is a palindrome, "
                                        "then explain how it works step by step."}]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50": pct(ms, 50), "p99": pct(ms, 99), "mean": statistics.fmean(ms), "max": max(ms)}


# --- the server child ----------------------------------------------------------------------------
def child(args: argparse.Namespace) -> None:
    """Serve the full runtime on loopback; with --fake every model is answered by FakeBackend."""
    from edgelearn.runtime import Runtime
    from edgelearn.serve.backends import FakeBackend
    from edgelearn.server.app import serve

    runtime = Runtime(home=Path(args.home), embed=False)
    if args.fake:
        runtime.services["serving"].engine.use_backend(FakeBackend())
    serve(runtime, port=0, ready=lambda server: Path(args.port_file).write_text(
        str(server.servers[0].sockets[0].getsockname()[1])))


def start_child(home: Path, fake: bool, threads: int) -> tuple[subprocess.Popen, str, str]:
    port_file = home / "port"
    env = {**os.environ, "EDGELEARN_HOME": str(home), "EDGELEARN_DEPLOY__THREADS": str(threads),
           "EDGELEARN_DEPLOY__N_CTX": "1024", "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, __file__, "--child", "--home", str(home), "--port-file", str(port_file)]
    proc = subprocess.Popen(cmd + (["--fake"] if fake else []), env=env)
    deadline = time.monotonic() + 120
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server child did not start")
        time.sleep(0.05)
    time.sleep(0.05)
    token = (home / "token").read_text().strip()
    return proc, f"http://127.0.0.1:{port_file.read_text()}", token


def stop_child(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


# --- 1. fake backend -------------------------------------------------------------------------------
def bench_fake(n: int) -> dict:
    from edgelearn.serve.backends import FakeBackend, GenerateRequest, Target

    backend, target = FakeBackend(), Target("base")
    direct = [timed(lambda: backend.complete(target, GenerateRequest(messages=MESSAGES, max_tokens=64)))
              for _ in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, token = start_child(Path(tmp), fake=True, threads=2)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                body = {"model": "base", "messages": MESSAGES, "max_tokens": 64}
                for _ in range(30):  # warm up: imports, first connections, first commits
                    http.post("/v1/chat/completions", json=body).raise_for_status()
                    http.post("/v1/ping", content=b"{}").raise_for_status()
                ping, plain, stream, routed = [], [], [], []
                for _ in range(n):  # interleaved so drift in background load hits all alike
                    ping.append(timed(lambda: http.post("/v1/ping", content=b"{}").raise_for_status()))
                    plain.append(timed(lambda: http.post("/v1/chat/completions", json=body).raise_for_status()))

                    def streamed():
                        with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r:
                            for _ in r.iter_bytes():
                                pass

                    stream.append(timed(streamed))
                    routed.append(timed(lambda: http.post("/v1/chat/completions", json={
                        **body, "model": "edgelearn/coder"}).raise_for_status()))
        finally:
            stop_child(proc)
    return {"direct": summary(direct), "ping": summary(ping), "proxy": summary(plain),
            "proxy_stream": summary(stream), "proxy_routed": summary(routed)}


# --- 2 and 3. embedded model ---------------------------------------------------------------------
def bench_embedded(pairs: int, max_tokens: int, threads: int) -> dict:
    from llama_cpp import Llama

    from edgelearn.serve.backends import GenerateRequest, Target
    from edgelearn.serve.base import default_base_gguf
    from edgelearn.serve.llamacpp import EmbeddedBackend
    from edgelearn.store import Store

    base = str(default_base_gguf())
    from edgelearn.cpu import avoid_amx

    avoid_amx()
    raw = Llama(model_path=base, n_threads=threads, n_ctx=1024, verbose=False)
    ours = EmbeddedBackend(cache_size=1, n_threads=threads, n_ctx=1024)
    target = Target("base", model_path=base)
    request = GenerateRequest(messages=MESSAGES, max_tokens=max_tokens, temperature=0.0)
    rows: dict[str, list] = {"raw": [], "backend": [], "proxy": [], "proxy_stream": []}  # (ms, tokens, run id)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, token = start_child(Path(tmp), fake=False, threads=threads)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600) as http:
                body = {"model": "base", "messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0}
                http.post("/v1/chat/completions", json=body).raise_for_status()  # loads the model
                raw.create_chat_completion(messages=MESSAGES, max_tokens=4, temperature=0)
                ours.complete(target, GenerateRequest(messages=MESSAGES, max_tokens=4, temperature=0.0))
                for _ in range(pairs):  # interleaved: all four paths see the same background load
                    start = time.perf_counter()
                    out = raw.create_chat_completion(messages=MESSAGES, max_tokens=max_tokens, temperature=0)
                    rows["raw"].append((ms_since(start), out["usage"]["completion_tokens"], None))

                    start = time.perf_counter()
                    done = ours.complete(target, request)
                    rows["backend"].append((ms_since(start), done.usage.completion_tokens, None))

                    start = time.perf_counter()
                    response = http.post("/v1/chat/completions", json=body)
                    rows["proxy"].append((ms_since(start), response.json()["usage"]["completion_tokens"],
                                          response.headers["x-edgelearn-run-id"]))

                    start = time.perf_counter()
                    with http.stream("POST", "/v1/chat/completions", json={
                            **body, "stream": True, "stream_options": {"include_usage": True}}) as r:
                        last = [line for line in r.iter_lines() if line.startswith("data: {")][-1]
                        run_id = r.headers["x-edgelearn-run-id"]
                    rows["proxy_stream"].append((ms_since(start), json.loads(last[6:])["usage"]["completion_tokens"],
                                                 run_id))
        finally:
            stop_child(proc)
        store = Store(Path(tmp) / "edgelearn.db")  # the server's own timing of the backend, per run
        backend_ms = {r: store.runs.get(r).metadata["proxy"]["backend_ms"] for k in ("proxy", "proxy_stream")
                      for _, _, r in rows[k]}
        store.close()
    ours.close()
    result: dict = {"max_tokens": max_tokens, "threads": threads, "pairs": pairs, "rows": rows}
    rate = {name: [t / m for m, t, _ in items] for name, items in rows.items()}  # tokens per ms, per round
    result["rate_vs_raw"] = {name: statistics.median(r / raw_r for r, raw_r in zip(rate[name], rate["raw"]))
                             for name in ("backend", "proxy", "proxy_stream")}
    for name, items in rows.items():
        ms = [m for m, _, _ in items]
        result[name] = {**summary(ms), "tokens_per_s": sum(t for _, t, _ in items) / (sum(ms) / 1000),
                        "tokens": items[0][1]}
        if name.startswith("proxy"):
            # what the proxy adds to each request: end-to-end at the client minus the time the server
            # spent inside the backend for that same request (no comparison of separate generations)
            overhead = [m - backend_ms[r] for m, _, r in items]
            result[name]["overhead_ms"] = summary(overhead)
            result[name]["overhead_share"] = statistics.median(o / m for o, (m, _, _) in zip(overhead, items))
            result[name]["server_tokens_per_s"] = sum(t for _, t, _ in items) / (
                sum(backend_ms[r] for _, _, r in items) / 1000)
    return result


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


# --- report --------------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    model = cpu_model(platform.processor() or "unknown")
    import llama_cpp

    return {"cpu": model, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "llama_cpp_python": llama_cpp.__version__, "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def report(fake: dict, embedded: list[dict], before: dict, after_load: str) -> str:
    f = lambda x: f"{x:.3f}"  # noqa: E731
    added50 = fake["proxy"]["p50"] - fake["direct"]["p50"]
    added99 = fake["proxy"]["p99"] - fake["direct"]["p99"]
    logic50 = fake["proxy"]["p50"] - fake["ping"]["p50"]
    logic99 = fake["proxy"]["p99"] - fake["ping"]["p99"]
    lines = [
        "# Proxy overhead (bench/proxy.py)", "",
        f"Machine: {before['cpu']}, {before['cores']} cores, Python {before['python']}, llama-cpp-python "
        f"{before['llama_cpp_python']}. Load average before: {before['load']}; after: {after_load} "
        "(the cores are shared with other work: absolute times are noisy, comparisons are interleaved).", "",
        "## 1. Fake backend (ms per request)", "",
        "| path | n | p50 | p99 | mean | max |", "| --- | --- | --- | --- | --- | --- |"]
    for key, name in (("direct", "FakeBackend.complete in-process"), ("ping", "HTTP floor: POST /v1/ping"),
                      ("proxy", "proxy, plain (model base)"), ("proxy_stream", "proxy, streamed, to last byte"),
                      ("proxy_routed", "proxy, edgelearn/coder (bandit selection write)")):
        s = fake[key]
        lines.append(f"| {name} | {s['n']} | {f(s['p50'])} | {f(s['p99'])} | {f(s['mean'])} | {f(s['max'])} |")
    lines += ["", f"Added by the proxy over the in-process backend: p50 {f(added50)} ms, p99 {f(added99)} ms "
              f"(target p99 <= 1 ms: {'met' if added99 <= 1 else 'NOT met'}). Of that, the HTTP stack alone "
              f"(/v1/ping, same server) is p50 {f(fake['ping']['p50'] - fake['direct']['p50'])} / p99 "
              f"{f(fake['ping']['p99'] - fake['direct']['p99'])} ms; parsing, routing, the hop to the serving "
              f"thread and waiting for the run's commit add p50 {f(logic50)} / p99 {f(logic99)} ms over that floor.",
              ""]
    for number, emb in enumerate(embedded, start=2):
        lines += embedded_section(number, emb)
    load = float(before["load"].split()[0])
    if load > int(before["cores"]):
        lines += ["Reading: the load average was above the core count. Where n_threads equals the cores, llama.cpp's "
                  "threads wait on each other at every token and a descheduled one stalls the other, so separate "
                  "generations (raw vs proxy) differ by far more than the proxy costs; the per-request overhead "
                  "(client time minus the server's backend time for the same request) is the robust figure "
                  "there, and the n_threads=1 section is the clean side-by-side comparison.", ""]
    return "\n".join(lines)


def embedded_section(number: int, emb: dict) -> list[str]:
    lines = [f"## {number}. Embedded model, greedy, {emb['max_tokens']} tokens max, n_threads={emb['threads']} "
             f"({emb['pairs']} interleaved rounds; with so few, p99 is the max)", "",
             "| path | p50 ms | max ms | completion tokens | tokens/s |", "| --- | --- | --- | --- | --- |"]
    for key, name in (("raw", "raw llama-cpp-python create_chat_completion"),
                      ("backend", "EmbeddedBackend.complete in-process"),
                      ("proxy", "proxy, plain"), ("proxy_stream", "proxy, streamed")):
        s = emb[key]
        lines.append(f"| {name} | {s['p50']:.1f} | {s['max']:.1f} | {s['tokens']} | {s['tokens_per_s']:.1f} |")
    lines += ["", "What the proxy adds, per request: client end-to-end minus the server's own time inside the "
              "backend for that same request (`metadata.proxy.backend_ms` of the run):", "",
              "| path | overhead p50 ms | overhead max ms | share of end-to-end (median) | backend tokens/s in server |",
              "| --- | --- | --- | --- | --- |"]
    for key, name in (("proxy", "plain"), ("proxy_stream", "streamed")):
        s = emb[key]
        lines.append(f"| {name} | {s['overhead_ms']['p50']:.2f} | {s['overhead_ms']['max']:.2f} | "
                     f"{s['overhead_share']:.3%} | {s['server_tokens_per_s']:.1f} |")
    worst = max(emb["proxy"]["overhead_share"], emb["proxy_stream"]["overhead_share"])
    raw_tps = emb["raw"]["tokens_per_s"]
    ratio = emb["rate_vs_raw"]
    met = ratio["backend"] >= 0.9 and ratio["proxy_stream"] >= 0.9
    lines += ["", f"Proxy share of end-to-end time: {worst:.3%} at most (target <= 5 %: "
              f"{'met' if worst <= 0.05 else 'NOT met'}).", "",
              f"Tokens/s beside raw llama-cpp-python on the same prompt (raw {raw_tps:.1f}/s overall), as the median "
              "over rounds of each round's ratio to the raw run beside it: EmbeddedBackend in-process "
              f"{ratio['backend']:.0%}, proxy plain {ratio['proxy']:.0%}, proxy streamed {ratio['proxy_stream']:.0%} "
              f"(target >= 90 %: {'met' if met else 'NOT met'}).", ""]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fake-requests", type=int, default=400)
    parser.add_argument("--embedded-pairs", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", default="2,1", help="llama.cpp n_threads to run the embedded part with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    before = machine()
    fake = bench_fake(args.fake_requests)
    emb = [bench_embedded(args.embedded_pairs, args.max_tokens, int(n)) for n in args.threads.split(",")]
    text = report(fake, emb, before, " ".join(f"{x:.2f}" for x in os.getloadavg()))
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "proxy.md").write_text(text, encoding="utf-8")
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "out" / "proxy.json").write_text(json.dumps({"machine": before, "fake": fake,
                                                                   "embedded": emb}, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
