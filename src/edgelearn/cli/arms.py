"""``edgelearn arms``: list the bandit arms and what they learned; add, enable and disable arms."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from edgelearn.errors import InvalidInput


def register(sub) -> None:
    p = sub.add_parser("arms", help="bandit arms: prompt variants and models per role",
                       description="List arms with pulls, mean reward, 95%% interval and share of recent traffic.")
    p.add_argument("--role", help="only this role")
    p.add_argument("--recent", type=int, default=1000, help="selections the traffic share is over (default 1000)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=list_arms)
    actions = p.add_subparsers(dest="arms_action", metavar="ACTION")

    add = actions.add_parser("add", help="add a prompt variant or a model arm")
    kinds = add.add_subparsers(dest="kind", metavar="KIND", required=True)
    prompt = kinds.add_parser("prompt", help="add a prompt variant")
    prompt.add_argument("role")
    prompt.add_argument("id", help="variant id (what runs record as prompt)")
    src = prompt.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the prompt text")
    src.add_argument("--file", type=Path, help="read the prompt text from this file ('-' for stdin)")
    prompt.add_argument("--notes")
    prompt.set_defaults(handler=add_prompt)
    model = kinds.add_parser("model", help="add a model arm")
    model.add_argument("role")
    model.add_argument("model_id", help="model id (what runs record as model), e.g. base or coder-v1")
    model.add_argument("--backend", required=True, help="embedded, ollama, ...")
    model.add_argument("--cost-per-1k", type=float, default=0.0, help="price per 1k tokens (default 0)")
    model.add_argument("--name", help="the backend's name for the model")
    model.set_defaults(handler=add_model)

    for verb, handler in (("enable", enable), ("disable", disable)):
        q = actions.add_parser(verb, help=f"{verb} an arm")
        q.add_argument("arm", help="arm number, role/kind/variant, or role/variant")
        q.set_defaults(handler=handler)


def _store_and_settings(args):
    from edgelearn.cli.core import load, open_store

    settings, _home = load(args)
    return open_store(args), settings


def _config_file(args) -> Path:
    from edgelearn.config import config_path

    return Path(args.config) if getattr(args, "config", None) else config_path()


def list_arms(args) -> int:
    from edgelearn.bandits import catalog
    from edgelearn.bandits.prompts import prompt_dirs
    from edgelearn.bandits.report import arm_reports

    if args.recent < 1:
        raise InvalidInput("--recent: must be at least 1", field="recent")
    store, settings = _store_and_settings(args)
    try:
        report = catalog.sync_prompts(store, prompt_dirs(settings, _config_file(args)))
        for err in report.errors:
            print(f"edgelearn: prompt file skipped: {err}", file=sys.stderr)
        if args.role:
            catalog.check_role(args.role)
        rows = arm_reports(store, args.role, args.recent)
    finally:
        store.close()
    if args.json:
        sys.stdout.write(orjson.dumps({"arms": [r.to_dict() for r in rows]}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    _print_table(rows)
    return 0


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _print_table(rows) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not rows:
        console.print("no arms yet: add prompt variants (see config/prompts/README.md) or `edgelearn arms add`")
        return
    for role in dict.fromkeys(r.role for r in rows):
        table = Table(title=f"role {role}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col, just in (("#", "right"), ("kind", "left"), ("variant", "left"), ("on", "center"),
                          ("pulls", "right"), ("mean", "right"), ("95% CI", "center"), ("share", "right"),
                          ("cost/1k", "right")):
            table.add_column(col, justify=just, no_wrap=col != "variant", overflow="fold")
        for r in (r for r in rows if r.role == role):
            mean = "-" if r.mean is None else f"{r.mean:.3f}"
            interval = "-" if r.low is None else f"{r.low:.2f}-{r.high:.2f}"
            table.add_row(str(r.id), r.kind, r.variant, "yes" if r.enabled else "no", f"{r.pulls} ({r.rewarded})",
                          mean, interval, _pct(r.share), f"{r.cost_per_1k:g}" if r.kind == "model" else "")
        console.print(table)
    console.print("pulls (rewarded); mean and 95% interval over the rewarded pulls; share of recent selections")


def add_prompt(args) -> int:
    from edgelearn.bandits import catalog

    if args.file is not None:
        try:
            text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"--file: cannot read {args.file}: {exc}", field="file") from exc
    else:
        text = args.text
    store, _ = _store_and_settings(args)
    try:
        arm = catalog.add_prompt_arm(store, args.role, args.id, text, args.notes)
    finally:
        store.close()
    print(f"arm {arm.id}: {arm.key} (enabled)")
    return 0


def add_model(args) -> int:
    from edgelearn.bandits import catalog

    store, _ = _store_and_settings(args)
    try:
        arm = catalog.add_model_arm(store, args.role, args.model_id, args.backend, args.cost_per_1k, args.name,
                                    source="api")
    finally:
        store.close()
    print(f"arm {arm.id}: {arm.key} via {arm.backend} at {arm.cost_per_1k:g} per 1k tokens (enabled)")
    return 0


def _set(args: argparse.Namespace, enabled: bool) -> int:
    from edgelearn.bandits import catalog

    store, _ = _store_and_settings(args)
    try:
        arm = catalog.set_enabled(store, args.arm, enabled)
    finally:
        store.close()
    print(f"arm {arm.id}: {arm.key} {'enabled' if enabled else 'disabled'}")
    return 0


def enable(args) -> int:
    return _set(args, True)


def disable(args) -> int:
    return _set(args, False)
