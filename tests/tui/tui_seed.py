"""Seeded data and helpers for the TUI tests: fixed ids, fixed timestamps, a frozen clock.

``seed_store(store, home)`` fills a store through its repositories while ``time.time`` is
frozen at chosen instants, so every row and event has a timestamp the snapshots can rely on.
The app under test gets ``clock=lambda: NOW`` and the time zone is UTC.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from contextlib import contextmanager
from pathlib import Path

from edgelearn.serve import registry

NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC: every seeded time is relative to this


@contextmanager
def frozen(at: float):
    """``time.time()`` returns ``at`` (then ``at`` + 1 ms per call, so orderings stay strict)."""
    real = time.time
    state = {"t": at}

    def fake() -> float:
        state["t"] += 0.001
        return state["t"]

    time.time = fake
    try:
        yield
    finally:
        time.time = real


def _gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * 60)  # the registry checks the magic only
    return path


def _run(i: int):
    from edgelearn.store.runs import NewRun

    role = "fixer" if i % 3 == 2 else "coder"
    # rewards climb over the hour with a deterministic wobble, as a learning loop's would
    reward = round(min(1.0, max(0.0, 0.35 + 0.5 * i / 60 + 0.12 * math.sin(i * 1.7))), 3)
    models = ("gpt-4o-mini", "base", "coder-v1", "coder-v2") if role == "coder" else ("gpt-4o-mini", "base")
    model = models[i % len(models)]
    tests = round(reward, 2)
    return NewRun(
        id=f"{0xe1000000 + i:024x}", created_at=NOW - 3600 + i * 58.0, role=role,
        output=f"def solve_{i}(x):\n    return x * {i}\n", content_hash=f"{i:064x}", session=f"s{i % 5}",
        project="demo", task=f"write solve_{i} for task {i}", prompt_variant=("default", "stepwise")[i % 2],
        model_variant=model, input=f"Implement solve_{i}.", tokens_in=120 + i, tokens_out=40 + i,
        latency_ms=300.0 + 7 * i, cost=0.002 if model == "gpt-4o-mini" else 0.0, reward=reward,
        reward_components={"compile": 1.0, "tests": tests},
        signals={"compile": (1.0, {"exit": 0}), "tests": (tests, {"passed": int(tests * 10), "total": 10})})


# (role, kind, variant, (n, sum, sum of squares, count)) of the seeded arms
ARMS = [("coder", "prompt", "default", (40, 26.0, 18.0, 40)),
        ("coder", "prompt", "stepwise", (35, 25.5, 19.5, 35)),
        ("coder", "model", "base", (20, 10.0, 5.6, 20)),
        ("coder", "model", "coder-v1", (30, 21.0, 15.3, 30)),
        ("fixer", "prompt", "default", (12, 6.0, 3.4, 12)),
        ("fixer", "model", "gpt-4o-mini", (1, 0.8, 0.64, 1))]
PARITY = {"adapter": True, "merged": True}
# (number, metrics, registered at, state, why) of the seeded model versions of "coder"
MODELS = [(1, {"parity": PARITY, "val_loss": 1.42, "eval": 0.71}, NOW - 3000, "champion", "beat the base"),
          (2, {"parity": PARITY, "val_loss": 1.18, "eval": 0.83}, NOW - 1200, "challenger", "parity gate passed")]
DECISION = {"outcome": "continue", "reason": "challenger has 24 of 100 samples",
            "samples": {"champion": 180, "challenger": 24}, "champion_mean": 0.73, "challenger_mean": 0.8,
            "lift": 0.096, "prob_better": 0.88, "e_promote": 3.1, "e_futility": 0.2, "e_threshold": 20.0}


def _seed_arms(conn) -> None:
    from edgelearn.store.arms import GLOBAL, ArmsRepo, Clock, Selection, Stat

    for role, kind, variant, (n, s, s2, count) in ARMS:
        arm, _ = ArmsRepo.upsert_in(conn, role, kind, variant, source="api",
                                    text=f"{variant} prompt" if kind == "prompt" else None)
        ArmsRepo.put_stat_in(conn, arm.id, GLOBAL, Stat(n, s, s2, count, 100))
    for role in ("coder", "fixer"):
        ArmsRepo.set_clock_in(conn, Clock(role, 100, 1.0, 0))
    for i in range(6):
        ArmsRepo.insert_selection_in(conn, Selection(f"{0xe1000000 + i:024x}", "coder", 1 + i % 2, 3, None,
                                                     "thompson", NOW - 3600 + i * 58.0))


def _seed_experiment(store, conn) -> None:
    from edgelearn.store.experiments import ExperimentsRepo, Watch

    exp_id = store.experiments.start_in(conn, "coder", "coder-v1", "coder-v2", 0.1)
    ExperimentsRepo.add_sample_in(conn, exp_id, "champion", n=180, reward=131.4, reward_sq=99.1,
                                  latency_ms=310.0 * 180)
    ExperimentsRepo.add_sample_in(conn, exp_id, "challenger", n=24, reward=19.2, reward_sq=15.6,
                                  latency_ms=320.0 * 24)
    ExperimentsRepo.set_decision_in(conn, exp_id, DECISION)
    ExperimentsRepo.set_watch_in(conn, Watch("coder", "coder-v1", None, 0.72, 0.11, {}, True, NOW - 2900))


def seed_store(store, home: Path) -> None:
    """Runs, arms, models, an experiment, a chain training a job, a drift watch and their events, at fixed times."""
    def runs(conn) -> None:
        for i in range(60):
            store.runs.insert_in(conn, _run(i))

    with frozen(NOW - 3700):
        store.write(runs)
    with frozen(NOW - 3650):
        store.write(_seed_arms)
    base = _gguf(home / "base.gguf")
    for n, metrics, registered, state, why in MODELS:
        artifacts = home / "artifacts" / f"job-{n}"
        _gguf(artifacts / "adapter.gguf")
        with frozen(registered):
            model_id = registry.register(store, "coder", artifacts, job_id=f"job-{n}", dataset_version=f"coder-ds{n}",
                                        metrics=metrics, base_path=base, home=home)
        with frozen(registered + 100):
            store.models.set_state(model_id, state, why)
    with frozen(NOW - 1050):
        store.write(lambda conn: _seed_experiment(store, conn))
    with frozen(NOW - 600):
        chain = store.write(lambda conn: store.experiments.start_chain_in(conn, "fixer", "sample_count", {"runs": 120}))
    with frozen(NOW - 300):
        store.events.append("dataset.created", {"version": "fixer-ds1", "examples": 96}, role="fixer",
                            subject="fixer-ds1")
    with frozen(NOW - 280):
        store.jobs.create("job-3", role="fixer", base_model="SmolLM2-135M-Instruct", dataset_dir=str(home / "ds"),
                          job_dir=str(home / "jobs" / "job-3"), dataset_version="fixer-ds1", config={"rank": 16})
        store.jobs.start("job-3", pid=4242, proc_start=None, backend="peft")
        store.jobs.report("job-3", stage="training", progress={"step": 12, "total_steps": 48, "loss": 1.234,
                                                               "tokens_per_s": 152.0, "eta_s": 290.0})
        store.write(lambda conn: store.experiments.update_chain_in(conn, chain, stage="train", job_id="job-3"))


def make_app(source, **options):
    from edgelearn.tui.app import EdgelearnApp

    options.setdefault("clock", lambda: NOW)
    options.setdefault("refresh_s", 3600.0)  # tests reload on purpose; no timer races a snapshot
    return EdgelearnApp(source, **options)


async def settle(pilot, rounds: int = 3) -> None:
    """Wait until every load the app started has finished and been painted."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await asyncio.sleep(0.01)
    await pilot.pause()


async def press(pilot, *keys: str) -> None:
    """Press each key in turn, letting the app settle after each."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def runtime_app(rt):
    """The app over runtime ``rt`` (embedded client), remembering its notifications in ``app.notes``."""
    from edgelearn.client import EmbeddedClient
    from edgelearn.tui.source import ClientSource

    app = make_app(ClientSource(EmbeddedClient.over_runtime(rt)), runtime=rt)
    app.notes = record_notes(app)
    return app


def record_notes(app) -> list[tuple[str, str]]:
    """Make ``app`` remember every notification as (severity, message); returns the list."""
    notes: list[tuple[str, str]] = []
    original = app.notify

    def notify(message, *args, **kwargs):
        notes.append((kwargs.get("severity", "information"), str(message)))
        return original(message, *args, **kwargs)

    app.notify = notify
    return notes


def table_rows(screen, selector: str = "DataTable") -> list[list[str]]:
    """The plain text of every row of a screen's table."""
    from textual.widgets import DataTable

    table = screen.query_one(selector, DataTable)
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(table.row_count)]


def text_of(widget, width: int = 200) -> str:
    """What a Static shows, as plain text (rich renderables rendered at ``width``)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


# the teacher of "coder" in the independence tests: provider "up", model "big", 2 $ / 8 $ per million tokens
TEACHER = "up/big"
# (cluster, level, local rewards (n, sum), teacher rewards (n, sum), requests, local requests, escapes, tokens in, out)
CLUSTERS = [(0, 3, (140, 115.0), (150, 124.5), 900, 610, 4, 410_000, 160_000),
            (1, 2, (120, 96.0), (130, 105.3), 700, 330, 7, 240_000, 90_000),
            (2, 0, (0, 0.0), (90, 70.2), 300, 0, 0, 0, 0)]


def teacher_settings():
    """Settings where ``coder`` has the teacher ``up/big`` (a provider on a port nothing answers)."""
    from edgelearn.config import Settings

    return Settings(providers={"up": {"type": "openai", "base_url": "http://127.0.0.1:9/v1",
                                      "prices": {"big": {"input": 2.0, "output": 8.0}}}},
                    roles={"coder": {"teacher": TEACHER}})


def seed_independence(store) -> None:
    """Levels of three task clusters of ``coder``, their level changes, and an hour of teacher runs
    whose share falls as the local model takes over (beside ``seed_store``'s local runs)."""
    from edgelearn.store.events import EventsRepo
    from edgelearn.store.independence import ClusterState, IndependenceRepo, Sums
    from edgelearn.store.runs import NewRun

    def clusters(conn) -> None:
        for cluster, level, (ln, ls), (tn, ts), requests, local, escapes, t_in, t_out in CLUSTERS:
            IndependenceRepo.save_in(conn, ClusterState(
                "coder", cluster, level=level, champion="coder-v1", epoch=level, since=NOW - 1800,
                local=Sums(ln, ls, ls * ls / ln if ln else 0.0), teacher=Sums(tn, ts, ts * ts / tn),
                requests=requests, local_requests=local, escapes=escapes, local_tokens_in=t_in,
                local_tokens_out=t_out))
            for old in range(level):
                EventsRepo.append_in(conn, "independence.advanced", {"old": old, "new": old + 1, "cluster": cluster},
                                     role="coder", subject=str(cluster))

    def teacher_runs(conn) -> None:
        for i in range(40):  # ever fewer teacher runs as the hour goes on
            store.runs.insert_in(conn, NewRun(
                id=f"{0xe2000000 + i:024x}", created_at=NOW - 3590 + 3300 * (i / 40) ** 3, role="coder", output="ok",
                content_hash=f"{0xe2000000 + i:064x}", task=f"teacher task {i}", model_variant=TEACHER,
                tokens_in=900, tokens_out=300, reward=0.8))

    with frozen(NOW - 1800):
        store.write(clusters)
    with frozen(NOW - 3650):
        store.write(teacher_runs)
