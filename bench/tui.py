"""How fast each TUI screen opens over a store of 100k runs (mount to first data, with Pilot).

    .venv/bin/python bench/tui.py [--runs 100000] [--spread-days 30] [--out bench/results/tui.md]

Builds a store in a temporary home with batched writes (runs over ``--spread-days``, three
roles, four models, three prompts, two registered adapters and an experiment), starts a real
``Runtime`` over it (services not started, so nothing else competes), opens the TUI headless
at 120x40 and, for every screen, measures from the key press (and from the screen's mount) to
the moment its first data is on screen. Then the same for a run filter and a run's detail, and
the data-source calls alone. Each figure is the median of ``--repeat`` fresh app launches.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchenv import cpu_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SCREENS = [("1", "dashboard"), ("2", "runs"), ("3", "arms"), ("4", "models"), ("5", "experiments"),
           ("6", "events"), ("7", "config")]


def build_store(home: Path, runs: int, spread_days: float, seed: int = 0) -> float:
    """Fill ``home/edgelearn.db``; returns the seconds it took."""
    from edgelearn.serve.registry import register
    from edgelearn.store import Store
    from edgelearn.store.runs import NewRun

    started = time.perf_counter()
    store = Store(home / "edgelearn.db", max_batch=100_000)
    rng = random.Random(seed)
    now = time.time()
    roles, models = ("coder", "fixer", "judge"), ("base", "coder-v1", "coder-v2", "external/gpt-4o-mini")
    prompts = ("default", "terse", "stepwise")
    step = spread_days * 86400 / runs

    def batch(start: int, n: int):
        def fn(conn):
            for i in range(start, start + n):
                tests = round(rng.random(), 2)
                store.runs.insert_in(conn, NewRun(
                    id=f"{i:024x}", created_at=now - spread_days * 86400 + i * step, role=rng.choice(roles),
                    output=f"def solve_{i}(x):\n    return x\n",
                    content_hash=hashlib.sha256(str(i).encode()).hexdigest(),
                    task=f"task {i}", input=f"Implement solve_{i}.", prompt_variant=rng.choice(prompts),
                    model_variant=rng.choice(models), reward=tests, tokens_in=120, tokens_out=60, latency_ms=300.0,
                    reward_components={"tests": tests}, signals={"tests": (tests, {"passed": int(tests * 10)})}))
        store.write(fn)

    for start in range(0, runs, 5000):
        batch(start, min(5000, runs - start))
    base = home / "base.gguf"
    base.write_bytes(b"GGUF" + b"\0" * 60)
    for n in (1, 2):
        art = home / "artifacts" / f"job-{n}"
        art.mkdir(parents=True)
        (art / "adapter.gguf").write_bytes(b"GGUF" + b"\0" * 60)
        register(store, "coder", art, job_id=f"job-{n}", metrics={"parity": {"adapter": True}},
                 base_path=base, home=home)
    store.models.set_state("coder-v1", "champion", "bench")
    store.models.set_state("coder-v2", "challenger", "bench")
    store.write(lambda conn: store.experiments.start_in(conn, "coder", "coder-v1", "coder-v2", 0.1))

    def events(conn):
        for i in range(5000):  # a busy event log: reward updates, selections
            store.events.append_in(conn, "reward.updated", {"i": i}, role=roles[i % 3], subject=f"{i:024x}")

    store.write(events)
    store.close()
    return time.perf_counter() - started


async def _wait_first_data(pilot, screen, timeout: float = 30.0) -> float:
    deadline = time.perf_counter() + timeout
    while screen.first_data_at is None:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{type(screen).__name__} showed no data in {timeout}s")
        await asyncio.sleep(0.002)
    return screen.first_data_at


async def measure_app(runtime) -> dict[str, dict[str, float]]:
    """One fresh app: per screen, key press → first data and mount → first data (ms)."""
    from edgelearn.client import EmbeddedClient
    from edgelearn.tui.app import EdgelearnApp
    from edgelearn.tui.screens.run_detail import RunDetailScreen
    from edgelearn.tui.source import ClientSource

    out: dict[str, dict[str, float]] = {}
    app = EdgelearnApp(ClientSource(EmbeddedClient.over_runtime(runtime)), runtime=runtime, refresh_s=3600)
    launched = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        for key, name in SCREENS:
            pressed = time.perf_counter()
            if name != "dashboard":
                await pilot.press(key)
            else:
                pressed = launched
            screen = app.screen
            first = await _wait_first_data(pilot, screen)
            out[name] = {"press": (first - pressed) * 1000, "mount": (first - screen.mounted_at) * 1000}
            if name == "dashboard":
                while screen.status_at is None:
                    await asyncio.sleep(0.002)
                out["dashboard · roles table (learning status)"] = {
                    "press": (screen.status_at - pressed) * 1000,
                    "mount": (screen.status_at - screen.mounted_at) * 1000}
            await app.workers.wait_for_complete()
        # a filter on the Runs screen, and a run's detail
        await pilot.press("2")
        runs = app.screen
        for label, flt in (("runs · role filter", {"role": "judge"}), ("runs · prompt + reward filter",
                                                                      {"prompt": "terse", "min_reward": 0.9})):
            from edgelearn.tui.source import RunFilter

            before = runs.loads
            pressed = time.perf_counter()
            runs.filters = RunFilter(**flt)
            runs.reload()
            while runs.loads == before:
                await asyncio.sleep(0.002)
            out[label] = {"press": (time.perf_counter() - pressed) * 1000, "mount": float("nan")}
        pressed = time.perf_counter()
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        first = await _wait_first_data(pilot, detail)
        out["run detail"] = {"press": (first - pressed) * 1000, "mount": (first - detail.mounted_at) * 1000}
    return out


def measure_calls(runtime, repeat: int) -> dict[str, float]:
    """The data-source calls behind each screen, alone (median ms)."""
    from edgelearn.client import EmbeddedClient
    from edgelearn.tui.source import ClientSource, RunFilter

    src = ClientSource(EmbeddedClient.over_runtime(runtime))
    now = time.time()
    calls = {
        "learning_status": src.learning_status, "overview": lambda: src.overview(now),
        "runs": lambda: src.runs(RunFilter(), 200), "runs(role)": lambda: src.runs(RunFilter(role="judge"), 200),
        "arms": src.arms, "models": src.models, "experiments": src.experiments, "events": lambda: src.events(limit=300),
        "config": src.config,
    }
    out = {}
    for name, fn in calls.items():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        out[name] = statistics.median(times)
    return out


def machine() -> str:
    cpu = cpu_model()
    import textual

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, Textual {textual.__version__}, "
            f"{platform.system()} {platform.release()}; load average {load:.2f} at the start (shared machine)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--spread-days", type=float, nargs="+", default=[30.0, 1.0],
                        help="spread the runs over this many days (one store per value)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="bench/results/tui.md")
    args = parser.parse_args(argv)

    from edgelearn.runtime import Runtime

    lines = [f"# TUI: screen open time over a store of {args.runs:,} runs", "",
             f"Machine: {machine()}.", "",
             "`bench/tui.py`: a real `Runtime` (services not started) over a store built with batched writes; the "
             "TUI headless at 120x40 driven by Pilot; *press* is key press → first data on screen, *mount* is the "
             "screen's mount → first data (the first screen, the dashboard, counts from app launch; its roles "
             "table waits for `learning_status` and is timed on its own line). Median of "
             f"{args.repeat} fresh launches. Budget: 300 ms per screen.", ""]
    for days in args.spread_days:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            os.environ["EDGELEARN_HOME"] = str(home)
            built = build_store(home, args.runs, days)
            runtime = Runtime(home=home, embed=False)
            try:
                results = [asyncio.run(measure_app(runtime)) for _ in range(args.repeat)]
                calls = measure_calls(runtime, args.repeat)
            finally:
                runtime.stop()
        names = list(results[0])
        lines += [f"## {args.runs:,} runs spread over {days:g} day(s) (store built in {built:.1f} s)", "",
                  "| screen | press → data (ms) | mount → data (ms) | under 300 ms |", "| --- | ---: | ---: | :---: |"]
        for name in names:
            press = statistics.median(r[name]["press"] for r in results)
            mount = statistics.median(r[name]["mount"] for r in results)
            mount_s = "" if mount != mount else f"{mount:.0f}"
            lines.append(f"| {name} | {press:.0f} | {mount_s} | {'yes' if press < 300 else '**no**'} |")
        lines += ["", "Data-source calls alone (median ms): " +
                  ", ".join(f"`{k}` {v:.1f}" for k, v in calls.items()), ""]
        print("\n".join(lines[-(len(names) + 6):]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
