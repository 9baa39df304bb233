"""Dataset commands: ``edgelearn export`` curates a dataset now; ``edgelearn datasets`` lists them."""

from __future__ import annotations

import argparse
import sys

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgelearn.cli.core import load, open_store
from edgelearn.curate import FORMATS, export_dataset
from edgelearn.errors import CurationError
from edgelearn.store.datasets import Dataset


def register(sub) -> None:
    p = sub.add_parser("export", help="curate a training dataset from good runs now",
                       description="Curate a dataset per role (or one role) from recorded runs and print "
                                   "the rejection report: how many runs each filter dropped.")
    p.add_argument("--role", help="only this role (default: every role with good runs)")
    p.add_argument("--format", choices=sorted(FORMATS), help="file format (default: export.format)")
    p.add_argument("--max-examples", type=int, help="most examples (default: export.max_examples)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("datasets", help="list curated datasets, or show one with its rejection report")
    p.add_argument("version", nargs="?", help="a dataset version, e.g. coder-ds3")
    p.add_argument("--role", help="only this role")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_datasets)


def _print_json(value) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def cmd_export(args: argparse.Namespace) -> int:
    settings, home = load(args)
    store = open_store(args)
    console = Console()
    try:
        roles = [args.role] if args.role else store.datasets.roles(settings.export.min_reward)
        if not roles:
            raise CurationError(f"no role has a successful run with reward >= {settings.export.min_reward} "
                                "(export.min_reward) yet")
        made: list[Dataset] = []
        failed: dict[str, str] = {}
        for role in roles:
            try:
                made.append(_export_one(store, settings, home, role, args))
            except CurationError as exc:
                if args.role:
                    raise
                failed[role] = str(exc)
    finally:
        store.close()
    if args.json:
        out = {"datasets": [d.to_dict(manifest=False) for d in made]}
        if failed:
            out["failed"] = failed
        _print_json(out)
    else:
        for dataset in made:
            _show(console, dataset)
        for role, reason in failed.items():
            console.print(f"[yellow]{role}[/]: {reason}")
    return 0 if made else 1


def _export_one(store, settings, home, role: str, args: argparse.Namespace) -> Dataset:
    if args.json or not sys.stderr.isatty():
        return export_dataset(store, settings, home, role, format=args.format, max_examples=args.max_examples)
    columns = (TextColumn(f"curating {role}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(role, total=None)
        return export_dataset(store, settings, home, role, format=args.format, max_examples=args.max_examples,
                              progress=lambda done, total: bar.update(task, completed=done, total=total))


def rejection_table(dataset: Dataset) -> Table:
    """The rejection report: every filter with how many runs it dropped, and what was kept."""
    table = Table(title=f"{dataset.version}: rejection report", title_justify="left")
    table.add_column("filter")
    table.add_column("runs dropped", justify="right")
    for reason, count in dataset.rejections.items():
        table.add_row(reason.replace("_", " "), str(count), style="dim" if not count else None)
    counts = dataset.counts
    table.add_section()
    table.add_row("kept", str(counts["examples"]), style="bold")
    table.add_row("candidates", str(counts["candidates"]))
    return table


def _show(console: Console, dataset: Dataset) -> None:
    c = dataset.counts
    console.print(f"[bold]{dataset.version}[/] ({dataset.format}) → {dataset.path}")
    console.print(f"  {c['examples']} examples: {c['train']} train, {c['val']} val; "
                  f"{c['rehearsal']} rehearsed from earlier datasets")
    console.print(rejection_table(dataset))


def cmd_datasets(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        if args.version:
            dataset = store.datasets.get(args.version)
            if args.json:
                _print_json(dataset.to_dict())
            else:
                _show(Console(), dataset)
            return 0
        datasets = store.datasets.list(role=args.role)
    finally:
        store.close()
    if args.json:
        _print_json({"datasets": [d.to_dict(manifest=False) for d in datasets]})
        return 0
    table = Table(title="datasets", title_justify="left")
    for col in ("version", "role", "format", "examples", "train", "val", "rehearsal", "path"):
        table.add_column(col, justify="right" if col in ("examples", "train", "val", "rehearsal") else "left")
    for d in datasets:
        table.add_row(d.version, d.role, d.format, str(d.counts["examples"]), str(d.counts["train"]),
                      str(d.counts["val"]), str(d.counts["rehearsal"]), str(d.path))
    Console().print(table)
    return 0
