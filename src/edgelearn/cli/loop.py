"""Loop commands: demo, status, trigger, rollback, events."""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from rich.console import Console
from rich.table import Table

from edgelearn.cli.core import load, print_json

console = Console()


def cmd_demo(args) -> int:
    from edgelearn.config_toml import write_settings
    from edgelearn.demo.pack import load_pack
    from edgelearn.demo.runner import DemoOptions, demo_home, demo_settings
    from edgelearn.demo.teaching import start_teacher
    from edgelearn.demo.tool_pack import load_tool_pack
    from edgelearn.runtime import Runtime
    from edgelearn.server.app import serve_in_thread

    settings, home = load(args)
    dhome = demo_home(home)
    if not args.keep:
        for name in ("edgelearn.db", "edgelearn.db-wal", "edgelearn.db-shm"):
            (dhome / name).unlink(missing_ok=True)
        for sub in ("datasets", "jobs", "artifacts", "modelfiles"):
            shutil.rmtree(dhome / sub, ignore_errors=True)
    opts = DemoOptions(epochs=args.epochs, learning_rate=args.learning_rate, rank=args.rank, min_samples=args.min_samples,
                       eval_limit=args.eval_limit, max_tokens=args.max_tokens, timeout_s=args.timeout, tools=args.tools,
                       independence_requests=args.independence_requests, copy_variants=args.copy_variants)
    train = [t for t in load_pack() if t.split == "train"]
    tool_train = [t for t in load_tool_pack() if t.split == "train"] if args.tools else []
    teacher = start_teacher(train, tool_train)  # the role's teacher: an OpenAI-compatible server on loopback
    try:
        cfg_file = dhome / "edgelearn.toml"
        demo_cfg = demo_settings(settings, len(train) + len(tool_train), opts, teacher_url=teacher.base_url)
        write_settings(demo_cfg, cfg_file)  # so hot reload (and the TUI's toggles) keep the demo's thresholds
        runtime = Runtime(demo_cfg, home=dhome, config_file=cfg_file)
        url, stop = serve_in_thread(runtime, port=0)
        try:
            return _demo(args, runtime, url, opts, teacher, dhome)
        finally:
            stop()
    finally:
        teacher.stop()


def _demo(args, runtime, url: str, opts, teacher, dhome) -> int:
    from edgelearn.demo.runner import run_demo

    headless = args.headless or not sys.stdout.isatty()
    if headless:
        started = time.monotonic()

        def log(line: str) -> None:
            console.print(f"[dim]{time.monotonic() - started:6.0f}s[/dim] {line}", highlight=False)

        console.print(f"edgelearn demo: runtime at {url}, home {dhome}, teacher at {teacher.base_url}")
        result = run_demo(runtime, url, opts, log, teacher)
    else:
        from edgelearn.tui.app import run_tui

        holder: dict = {}

        def background(rt, log) -> None:
            holder["result"] = run_demo(rt, url, opts, log, teacher)

        run_tui(runtime, title="edgelearn demo", background=background)
        result = holder.get("result")
        if result is None:
            console.print("demo stopped before it finished")
            return 1
    console.print(f"[bold]{result.line()}[/bold]  (held-out tasks: {result.heldout}, champion {result.champion}, "
                  f"cycle {result.cycle_s / 60:.1f} min, total {result.wall_s / 60:.1f} min)")
    if args.json:
        print_json(result.__dict__)
    return 0


def _local_runtime_url(args) -> tuple[str, str] | None:
    import httpx

    settings, home = load(args)
    url = f"http://127.0.0.1:{settings.server.port}"
    token_file = home / "token"
    if not token_file.exists():
        return None
    try:
        httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
    except httpx.HTTPError:
        return None
    return url, token_file.read_text().strip()


def _call(args, method: str, path: str, body: dict | None = None) -> dict:
    """Ask the running runtime (the loop acts in its process)."""
    import httpx

    from edgelearn.errors import BackendUnavailable, EdgelearnError

    found = _local_runtime_url(args)
    if found is None:
        raise BackendUnavailable("no edgelearn runtime answers on the configured port: start it with `edgelearn serve`")
    url, token = found
    r = httpx.request(method, url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    if r.status_code >= 400:
        raise EdgelearnError(r.json().get("error", {}).get("message", r.text))
    return r.json()


def cmd_status(args) -> int:
    status = _call(args, "GET", "/v1/learning/status")
    if args.json:
        print_json(status)
        return 0
    console.print(f"stage: [bold]{status['stage']}[/bold]   toggles: " +
                  ", ".join(f"{k}={'on' if v else 'off'}" for k, v in status["toggles"].items()))
    table = Table(title="roles")
    for col in ("role", "stage", "champion", "reward", "export", "train", "experiment", "local share"):
        table.add_column(col)
    for role, r in status["roles"].items():
        exp = r["experiment"]
        exp_text = (f"{exp['challenger']} vs {exp['champion']}: " + ", ".join(
            f"{k} n={v['n']}" for k, v in exp["stats"].items())) if exp else ""
        p = r["progress"]
        reward = r["champion"]["reward"]
        table.add_row(role, r["stage"], r["champion"]["id"], "" if reward is None else f"{reward:.3f}",
                      f"{p['export']['have']}/{p['export']['need']}", f"{p['train']['have']}/{p['train']['need']}",
                      exp_text, f"{r['independence']['local_share']:.0%}")
    console.print(table)
    if status.get("job"):
        job = status["job"]
        console.print(f"job {job.get('id')}: {job.get('state')} step {job.get('step')}/{job.get('total_steps')} "
                      f"loss {job.get('loss')} eta {job.get('eta_s')} s")
    return 0


def cmd_trigger(args) -> int:
    print_json(_call(args, "POST", "/v1/learning/trigger", {"role": args.role, "reason": "manual (CLI)"}))
    return 0


def cmd_rollback(args) -> int:
    if not args.yes:
        answer = input(f"roll back the champion of {args.role}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 1
    out = _call(args, "POST", "/v1/learning/rollback", {"role": args.role, "reason": args.reason})
    console.print(f"{args.role} is now served by {out['serving']}")
    return 0


def cmd_events(args) -> int:
    from edgelearn.cli.core import open_store

    store = open_store(args)
    try:
        events = store.events.list(type=args.type, role=args.role, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print_json([e.__dict__ for e in events])
        return 0
    table = Table(title="events (newest first)")
    for col in ("id", "time", "type", "role", "subject", "payload"):
        table.add_column(col, overflow="fold")
    for e in events:
        table.add_row(str(e.id), time.strftime("%H:%M:%S", time.localtime(e.ts)), e.type, e.role or "",
                      e.subject or "", str(e.payload)[:80])
    console.print(table)
    return 0


def register(sub) -> None:
    from edgelearn.demo.runner import DemoOptions

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default: edgelearn.toml in the edgelearn home)")

    p = sub.add_parser("demo", parents=[common], help="one learning cycle on the task pack, in minutes, on the CPU")
    p.add_argument("--headless", action="store_true", help="print progress instead of opening the TUI")
    p.add_argument("--keep", action="store_true", help="keep the previous demo's store and artifacts")
    p.add_argument("--epochs", type=float, default=DemoOptions.epochs)
    p.add_argument("--learning-rate", type=float, default=DemoOptions.learning_rate)
    p.add_argument("--rank", type=int, default=DemoOptions.rank, help="LoRA rank (alpha is twice it)")
    p.add_argument("--copy-variants", type=int, default=DemoOptions.copy_variants, metavar="K",
                   help="copy-augmented training rows per tool example (train.copy_variants; 0: none)")
    p.add_argument("--min-samples", type=int, default=12, help="experiment samples per variant")
    p.add_argument("--eval-limit", type=int, help="held-out tasks measured (default: all)")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per stage")
    p.add_argument("--independence-requests", type=int, default=DemoOptions.independence_requests, metavar="N",
                   help="requests of the independence stage at most (it ends sooner once a cluster reaches level 3)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--tools", action=argparse.BooleanOptionalAction, default=DemoOptions.tools,
                   help="also teach the tool-use family (house tools of a made-up repository; on by default); "
                        "--no-tools: the code family alone, a shorter cycle")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("status", parents=[common], help="what the loop is doing (asks the running runtime)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("trigger", parents=[common], help="start a learning cycle for a role now")
    p.add_argument("role")
    p.set_defaults(handler=cmd_trigger)

    p = sub.add_parser("rollback", parents=[common], help="roll a role's champion back to the previous one")
    p.add_argument("role")
    p.add_argument("--reason", default="manual rollback (CLI)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_rollback)

    p = sub.add_parser("events", parents=[common], help="the event log")
    p.add_argument("--type", help="type or prefix, e.g. model or loop.done")
    p.add_argument("--role")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_events)
