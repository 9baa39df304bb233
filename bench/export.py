"""Benchmark of dataset export: runs/s and peak memory at 10k and 100k stored runs.

    .venv/bin/python bench/export.py [--sizes 10000 100000] [--out bench/results/export.md]

Builds stores with the store's own writer (one big executemany per table in one write) and
SYNTHETIC embeddings (random unit vectors per task plus noise, written straight into run_vec:
embedding 100k texts with the real model would take the bench ~20 minutes on 2 cores and is
not what is measured here). Each export runs in a fresh child process so that ru_maxrss is
that export's peak alone. Two data sets per size:

  typical    65% eligible runs over N/50 tasks, 30% exact repeats, some near duplicates;
             default settings: the pass stops once max_examples (1000) are kept
  full-scan  every eligible run repeats one of 800 answers (exact, or near-identical with a
             comment added): max_examples is never reached, so the pass examines every
             eligible run, the worst case for time (memory stays bounded by max_examples)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchenv import cpu_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

DIM = 384


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _rows(n: int, scenario: str, seed: int = 7):
    """(runs rows, vectors) for a synthetic store of ``n`` runs."""
    from edgelearn.record.recorder import content_hash

    rng = np.random.default_rng(seed)
    if scenario == "typical":
        tasks, answers = max(10, n // 50), 8
    else:
        tasks, answers = 200, 4
    task_vecs = _unit(rng.standard_normal((tasks, DIM)))
    rows, vecs = [], np.empty((n, DIM), dtype=np.float32)
    base_time = 1.7e9
    for i in range(n):
        t = int(rng.integers(tasks))
        roll = rng.random()
        status = "error" if roll < 0.10 else "ok"
        reward = None if 0.10 <= roll < 0.15 else (float(rng.uniform(0.0, 0.69)) if roll < 0.35 else
                                                     round(float(rng.uniform(0.7, 1.0)), 2))
        text = (f"Task {t}: implement the {t}-th helper of the billing module so that the invoices of "
                f"customer segment {t % 13} are rounded the way the finance team asked in ticket {t * 7}.")
        a = int(rng.integers(answers))
        if scenario == "typical" and rng.random() > 0.3:
            a = answers + i  # a fresh answer; 30% repeat one of the task's usual answers
        output = (f"def helper_{t}(invoice):\n    total = sum(line.amount for line in invoice.lines)\n"
                  f"    return round(total * {1 + a % 97} / 100, {a % 4})  # answer {a}\n")
        if rng.random() < 0.3:
            output += f"# run {i}\n"  # near-identical output: a new content hash
        rows.append((i + 1, f"{int(base_time * 1000) + i:012x}{i:012x}", base_time + i, "bench", "coder", text,
                     text, output, status, reward, content_hash(text, output)))
        vecs[i] = task_vecs[t] + rng.standard_normal(DIM).astype(np.float32) * 0.01
    return rows, _unit(vecs)


def build(path: Path, n: int, scenario: str) -> float:
    """Write a store of ``n`` synthetic runs; returns the seconds it took."""
    from edgelearn.store import Store

    rows, vecs = _rows(n, scenario)
    started = time.perf_counter()
    store = Store(path)

    def fn(conn):
        conn.executemany(
            "insert into runs(seq, id, created_at, project, role, task, input, output, status, reward, "
            "content_hash, embedded) values (?,?,?,?,?,?,?,?,?,?,?,1)", rows)
        conn.executemany("insert into run_vec(run_seq, role, emb, project) values (?, 'coder', ?, 'bench')",
                         ((i + 1, vecs[i].tobytes()) for i in range(n)))

    store.write(fn)
    store.close()
    return time.perf_counter() - started


def child(db: str, home: str) -> None:
    """One export in this (fresh) process; prints a JSON line."""
    from edgelearn.config import Settings
    from edgelearn.curate import export_dataset
    from edgelearn.store import Store

    store = Store(db)
    stored = store.runs.count_runs()
    rss_before = _current_rss_kb()
    started = time.perf_counter()
    ds = export_dataset(store, Settings(), Path(home), "coder", encode=_no_encoder)
    wall = time.perf_counter() - started
    store.close()
    print(json.dumps({"stored": stored, "wall_s": wall, "examples": ds.counts["examples"],
                      "eligible": stored - ds.rejections["status_not_ok"] - ds.rejections["unscored"]
                      - ds.rejections["below_min_reward"],
                      "unread": ds.rejections["over_max_examples"], "rejections": ds.rejections,
                      "rss_before_mb": rss_before / 1024,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _current_rss_kb() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _no_encoder(texts):
    raise AssertionError("every bench run has an embedding; the model must not load")


def machine() -> str:
    model = cpu_model("unknown")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores, {model}; Python {platform.python_version()} ({platform.platform()}); "
            f"load average at start {load} (the cores are shared with other work)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "export.md"))
    parser.add_argument("--child", nargs=2, metavar=("DB", "HOME"), help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=3, metavar=("DB", "N", "SCENARIO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if args.build:
        return print(build(Path(args.build[0]), int(args.build[1]), args.build[2]))
    info = machine()
    results = []
    work = Path(tempfile.mkdtemp(prefix="edgelearn-bench-export-"))
    try:
        for scenario in ("typical", "full-scan"):
            for n in args.sizes:
                db = work / f"{scenario}-{n}.db"
                # built in a child too: ru_maxrss survives fork + exec, so this process stays small
                built = subprocess.run([sys.executable, __file__, "--build", str(db), str(n), scenario],
                                       capture_output=True, text=True)
                if built.returncode:
                    raise SystemExit(f"building the store failed:\n{built.stderr}")
                build_s = float(built.stdout.strip().splitlines()[-1])
                home = work / f"home-{scenario}-{n}"
                out = subprocess.run([sys.executable, __file__, "--child", str(db), str(home)],
                                     capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1",
                                                                          "OPENBLAS_NUM_THREADS": "1"})
                if out.returncode:
                    raise SystemExit(f"export child failed:\n{out.stderr}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
                r.update(scenario=scenario, build_s=build_s)
                results.append(r)
                examined = r["eligible"] - r["unread"]
                print(f"{scenario:9} {n:>7} runs: export {r['wall_s']:.2f} s = {n / r['wall_s']:,.0f} runs/s, "
                      f"examined {examined:,} = {examined / r['wall_s']:,.0f}/s, "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB (before export {r['rss_before_mb']:.0f} MB); "
                      f"built in {build_s:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_report(Path(args.out), info, results)


def write_report(path: Path, info: str, results: list[dict]) -> None:
    lines = ["# Dataset export benchmark (bench/export.py)", "", f"Machine: {info}.", "",
             "Stores built with the store's writer (one executemany per table); embeddings are SYNTHETIC "
             "(random unit vectors per task plus noise) written into run_vec, so no model runs. "
             "Each store is built and each export runs in a fresh child process; peak RSS is the export "
             "process's ru_maxrss, RSS before export its resident size after imports and opening the store. "
             "runs/s = stored runs / export wall time; examined/s = runs the selection looked at / wall time.", "",
             "| data | stored runs | eligible | examined | examples | export s | runs/s | examined/s | "
             "RSS before export MB | peak RSS MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        examined = r["eligible"] - r["unread"]
        lines.append(f"| {r['scenario']} | {r['stored']:,} | {r['eligible']:,} | {examined:,} | {r['examples']:,} | "
                     f"{r['wall_s']:.2f} | {r['stored'] / r['wall_s']:,.0f} | {examined / r['wall_s']:,.0f} | "
                     f"{r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
    lines += ["", "Rejections (100k, each data set):", ""]
    for r in results:
        if r["stored"] == max(x["stored"] for x in results):
            lines.append(f"- {r['scenario']}: " + ", ".join(f"{k} {v:,}" for k, v in r["rejections"].items() if v))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
