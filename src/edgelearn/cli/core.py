"""Core commands: serve, record, runs, stats, config, doctor."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from edgelearn.config import Settings, config_path, home_dir, load_settings
from edgelearn.errors import InvalidInput
from edgelearn.store import Store

console = Console()


def load(args: argparse.Namespace | None = None) -> tuple[Settings, Path]:
    """The effective settings and the edgelearn home (raises ConfigError with a clear message)."""
    cfg = Path(args.config) if args is not None and getattr(args, "config", None) else config_path()
    return load_settings(cfg), home_dir()


def open_store(args: argparse.Namespace | None = None) -> Store:
    """The store the settings name, for commands that need no running runtime."""
    from edgelearn.serve.base import base_gguf

    settings, home = load(args)
    return Store.from_settings(settings, home, locate_base=lambda: base_gguf(settings))


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


# serve -------------------------------------------------------------------------------------------
def cmd_serve(args) -> int:
    from edgelearn.runtime import Runtime
    from edgelearn.server.app import serve

    settings, home = load(args)
    runtime = Runtime(settings, home=home)
    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port

    def ready(server):
        bound = server.servers[0].sockets[0].getsockname()[1]
        console.print(f"edgelearn serving on http://{host}:{bound}  (store {runtime.store.path})")
        console.print(f"token: {home / 'token'}   OpenAI base URL: http://{host}:{bound}/v1")

    serve(runtime, host=host, port=port, ready=ready)
    return 0


# record ------------------------------------------------------------------------------------------
def _text_arg(value: str | None, path: str | None, name: str) -> str | None:
    if value is not None and path is not None:
        raise InvalidInput(f"--{name} and --{name}-file are exclusive", field=name)
    if path is not None:
        if path == "-":
            return sys.stdin.read()
        try:
            return Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"--{name}-file: cannot read {path}: {exc.strerror}", field=name) from exc
    return value


def cmd_record(args) -> int:
    from pydantic import ValidationError

    from edgelearn.record.recorder import Recorder
    from edgelearn.record.schemas import RecordIn, describe_validation
    from edgelearn.record.signals import signals_from_commands

    output = _text_arg(args.output, args.output_file, "output")
    if output is None:
        raise InvalidInput("the run's output is required: --output TEXT or --output-file PATH (- for stdin)",
                           field="output")
    task = _text_arg(args.task, args.task_file, "task")
    input_text = _text_arg(args.input, args.input_file, "input")
    signals, details = signals_from_commands(compile_cmd=args.compile_cmd, test_cmd=args.test_cmd,
                                             lint_cmd=args.lint_cmd, junit=args.junit, cwd=args.cwd,
                                             timeout=args.timeout)
    if args.human:
        signals["human"] = args.human
    metadata = {"commands": details} if details else {}
    for item in args.meta or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--meta {item!r}: expected KEY=VALUE", field="meta")
        metadata[key] = value
    try:
        rec = RecordIn(role=args.role, output=output, task=task, input=input_text, model=args.model,
                       prompt=args.prompt, session=args.session, project=args.project, status=args.status,
                       latency_ms=args.latency_ms, signals=signals, metadata=metadata)
    except ValidationError as exc:
        raise describe_validation(exc) from exc
    settings, home = load(args)
    store = Store.from_settings(settings, home)
    try:
        run_id, reward = Recorder(store, lambda: settings).record(rec)
    finally:
        store.close()
    if args.json:
        print_json({"id": run_id, "reward": reward, "signals": signals})
    else:
        console.print(f"recorded {run_id}  reward {_fmt(reward)}  signals {json.dumps(signals)}")
    return 0


# runs / stats --------------------------------------------------------------------------------------
def cmd_runs_list(args) -> int:
    store = open_store(args)
    try:
        runs = store.runs.list(role=args.role, model=args.model, prompt=args.prompt, project=args.project,
                               min_reward=args.min_reward, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print_json([r.to_dict() for r in runs])
        return 0
    table = Table(title=f"runs (newest {len(runs)})")
    for col in ("id", "time", "role", "model", "prompt", "reward", "status", "task"):
        table.add_column(col, overflow="ellipsis", no_wrap=col != "task")
    for r in runs:
        table.add_row(r.id, _when(r.created_at), r.role, r.model_variant or "", r.prompt_variant or "",
                      _fmt(r.reward), r.status, (r.task or "")[:60])
    console.print(table)
    return 0


def cmd_runs_show(args) -> int:
    store = open_store(args)
    try:
        run = store.runs.get(args.id)
        data = {**run.to_dict(), "signals": store.runs.signals(args.id), "feedback": store.runs.feedback(args.id)}
    finally:
        store.close()
    print_json(data)
    return 0


def cmd_stats(args) -> int:
    import time

    store = open_store(args)
    try:
        since = time.time() - args.hours * 3600 if args.hours else None
        stats = store.runs.stats(since=since)
    finally:
        store.close()
    if args.json:
        print_json(stats)
        return 0
    t = stats["total"]
    console.print(f"runs {t['runs']}  scored {t['scored']}  mean reward {_fmt(t['mean_reward'])}  "
                  f"mean latency {_fmt(t['mean_latency_ms'], 1)} ms  cost {t['cost']:.4f}")
    for key in ("by_role", "by_model", "by_prompt"):
        table = Table(title=key.replace("_", " "))
        for col in ("name", "runs", "scored", "mean reward"):
            table.add_column(col)
        for row in stats[key]:
            table.add_row(str(row["name"]), str(row["runs"]), str(row["scored"]), _fmt(row["mean_reward"]))
        console.print(table)
    return 0


# config ------------------------------------------------------------------------------------------
def cmd_config_show(args) -> int:
    settings, _ = load(args)
    data = settings.model_dump()
    if args.json:
        print_json(data)
        return 0
    console.print(f"# effective config (file: {args.config or config_path()}, then EDGELEARN_* variables)")
    for section, values in data.items():
        console.print(f"\n[bold][{section}][/bold]", highlight=False)
        for key, value in values.items():
            console.print(f"{key} = {json.dumps(value)}", highlight=False)
    return 0


def cmd_config_validate(args) -> int:
    path = Path(args.file) if args.file else config_path()
    load_settings(path, environ={})
    console.print(f"{path}: valid")
    return 0


def cmd_config_defaults(args) -> int:
    from edgelearn.config_toml import render_default_toml

    sys.stdout.write(render_default_toml())
    return 0


def cmd_config_path(args) -> int:
    print(config_path())
    return 0


# doctor ------------------------------------------------------------------------------------------
def cmd_doctor(args) -> int:
    from edgelearn.doctor import run_checks

    checks = run_checks(args)
    if args.json:
        print_json([c.__dict__ for c in checks])
    else:
        table = Table(title="edgelearn doctor")
        for col in ("check", "status", "detail"):
            table.add_column(col)
        colors = {"ok": "green", "warn": "yellow", "fail": "red"}
        for c in checks:
            table.add_row(c.name, f"[{colors[c.status]}]{c.status}[/]", c.detail)
        console.print(table)
    return 1 if any(c.status == "fail" for c in checks) else 0


def register(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default: edgelearn.toml in the edgelearn home)")

    p = sub.add_parser("serve", parents=[common], help="run the runtime and its HTTP hook")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("record", parents=[common], help="record a run from a shell-driven agent")
    p.add_argument("--role", required=True)
    p.add_argument("--task")
    p.add_argument("--task-file")
    p.add_argument("--input")
    p.add_argument("--input-file")
    p.add_argument("--output")
    p.add_argument("--output-file", help="file with the model's output (- for stdin)")
    p.add_argument("--model")
    p.add_argument("--prompt")
    p.add_argument("--session")
    p.add_argument("--project")
    p.add_argument("--status", default="ok")
    p.add_argument("--latency-ms", type=float)
    p.add_argument("--compile-cmd", help="command whose exit status is the compile signal")
    p.add_argument("--test-cmd", help="test command; passed/total from its JUnit XML when it writes one")
    p.add_argument("--junit", help="path of the JUnit XML the test command writes")
    p.add_argument("--lint-cmd", help="linter or type checker; its path:line: messages are counted")
    p.add_argument("--human", choices=["accept", "reject"])
    p.add_argument("--cwd", help="directory to run the commands in")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per command")
    p.add_argument("--meta", action="append", metavar="KEY=VALUE", help="metadata (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_record)

    p = sub.add_parser("runs", parents=[common], help="list runs, or show one")
    p.add_argument("--role")
    p.add_argument("--model")
    p.add_argument("--prompt")
    p.add_argument("--project")
    p.add_argument("--min-reward", type=float)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_runs_list)
    runs_sub = p.add_subparsers(dest="runs_command", metavar="")
    show = runs_sub.add_parser("show", parents=[common], help="one run with its signals")
    show.add_argument("id")
    show.set_defaults(handler=cmd_runs_show)
    lst = runs_sub.add_parser("list", parents=[common], help="list runs (the default)")
    for flag in ("--role", "--model", "--prompt", "--project"):
        lst.add_argument(flag)
    lst.add_argument("--min-reward", type=float)
    lst.add_argument("--limit", type=int, default=20)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_runs_list)

    p = sub.add_parser("stats", parents=[common], help="counts and reward by role, model, prompt")
    p.add_argument("--hours", type=float, help="only the last N hours")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("config", parents=[common], help="show the effective config or validate a file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_config_show)
    cfg_sub = p.add_subparsers(dest="config_command", metavar="")
    show = cfg_sub.add_parser("show", parents=[common], help="the effective config (the default)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_config_show)
    val = cfg_sub.add_parser("validate", help="check a config file; exit 2 when invalid")
    val.add_argument("file", nargs="?")
    val.set_defaults(handler=cmd_config_validate)
    cfg_sub.add_parser("path", help="print the config file's path").set_defaults(handler=cmd_config_path)
    cfg_sub.add_parser("defaults", help="print the documented default config").set_defaults(
        handler=cmd_config_defaults)

    p = sub.add_parser("doctor", parents=[common], help="check the store, models, llama.cpp, Ollama, GPU")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_doctor)
