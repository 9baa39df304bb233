"""Training commands: ``edgelearn train`` starts a LoRA job and follows it; ``edgelearn jobs`` lists,
shows and cancels jobs."""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from edgelearn.cli.core import load, open_store
from edgelearn.errors import InvalidInput, NotFound, TrainingError
from edgelearn.store.jobs import STATES, Job


def register(sub) -> None:
    p = sub.add_parser("train", help="train a LoRA adapter for a role now, and follow the job",
                       description="Train on a curated dataset version (default: the role's latest) or a "
                                   "messages JSONL file (split 80/20 by a hash of each line's run id).")
    p.add_argument("--role", help="role to train (default: the dataset's role)")
    p.add_argument("--dataset", metavar="VERSION|FILE", help="a dataset version such as coder-ds3, or a JSONL file")
    p.add_argument("--detach", action="store_true", help="start the job and return its id at once")
    p.add_argument("--json", action="store_true", help="print the finished job as JSON")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("jobs", help="list training jobs; `jobs show ID`, `jobs cancel ID`")
    _list_args(p)
    p.set_defaults(handler=cmd_jobs)
    jobs_sub = p.add_subparsers(dest="jobs_command", metavar="")
    lst = jobs_sub.add_parser("list", help="list jobs, newest first (the default)")
    _list_args(lst)
    lst.set_defaults(handler=cmd_jobs)
    show = jobs_sub.add_parser("show", help="one job with its progress and metrics")
    show.add_argument("id")
    show.set_defaults(handler=cmd_jobs_show)
    cancel = jobs_sub.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("id")
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=cmd_jobs_cancel)


def _list_args(p) -> None:
    p.add_argument("--role", help="only this role")
    p.add_argument("--state", choices=STATES, help="only jobs in this state")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print JSON")


def _print_json(value) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def resolve_dataset(store, home: Path, settings, spec: str | None, role: str | None) -> tuple[Path, str, str]:
    """(dataset directory, version label, role) for ``--dataset`` (a version or a JSONL file)."""
    from edgelearn.train.data import read_examples, split_file

    if spec and Path(spec).expanduser().is_file():
        source = Path(spec).expanduser().resolve()
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
        if role is None:
            roles = Counter(e.get("role") for e in read_examples(source) if e.get("role"))
            if not roles:
                raise InvalidInput("--role: the file's lines name no role; pass --role", field="role")
            role = roles.most_common(1)[0][0]
        out = home / "cache" / "datasets" / f"file-{digest}"
        split_file(source, out, settings.export.val_fraction)
        return out, f"file:{source.name}@{digest}", role
    if spec is None:
        if role is None:
            raise InvalidInput("--dataset or --role is needed (the role's latest dataset is used)", field="dataset")
        dataset = store.datasets.latest(role)
        if dataset is None:
            raise TrainingError(f"role {role!r} has no curated dataset yet; run `edgelearn export --role {role}` "
                                "or pass --dataset FILE")
    else:
        try:
            dataset = store.datasets.get(spec)
        except NotFound:
            raise InvalidInput(f"--dataset: {spec!r} is neither a file nor a dataset version "
                               "(`edgelearn datasets` lists them)", field="dataset") from None
    if role is not None and role != dataset.role:
        raise InvalidInput(f"--role {role} differs from dataset {dataset.version}'s role {dataset.role}", field="role")
    return Path(dataset.path), dataset.version, dataset.role


def cmd_train(args: argparse.Namespace) -> int:
    from edgelearn.train import cancel, get, start_job

    settings, home = load(args)
    store = open_store(args)
    try:
        path, version, role = resolve_dataset(store, home, settings, args.dataset, args.role)
        job_id = start_job(store, settings, home, role=role, dataset_dir=path, dataset_version=version)
        if args.detach:
            print(job_id)
            return 0
        try:
            job = _follow(store, job_id, quiet=args.json or not sys.stderr.isatty())
        except KeyboardInterrupt:
            Console(stderr=True).print(f"cancelling {job_id} ...")
            cancel(store, job_id)
            return 130
        job = get(store, job_id)
    finally:
        store.close()
    if args.json:
        _print_json(job.to_dict())
    else:
        _show(Console(), job)
    if job.state != "succeeded":
        raise TrainingError(f"job {job.id} {job.state}: {job.reason}")
    return 0


def _follow(store, job_id: str, quiet: bool) -> Job:
    """Wait for the job, with a live progress bar on a terminal."""
    from edgelearn.train import get, wait

    if quiet:
        return wait(store, job_id)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}  {task.fields[speed]} tok/s"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(job_id, total=None, loss="-", speed="-")
        while True:
            job = get(store, job_id)
            p = job.progress
            bar.update(task, description=f"{job_id} {job.stage or job.state}", total=p.get("total_steps"),
                       completed=p.get("step", 0), loss=p.get("loss", "-"), speed=p.get("tokens_per_s", "-"))
            if not job.active:
                return job
            time.sleep(0.5)


def _show(console: Console, job: Job) -> None:
    colour = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}.get(job.state, "cyan")
    console.print(f"[bold]{job.id}[/]  role {job.role}  [{colour}]{job.state}[/]  dataset {job.dataset_version}")
    if job.reason:
        console.print(f"  reason: {job.reason}")
    m = job.metrics
    if m.get("training"):
        t = m["training"]
        console.print(f"  trained {t['steps']} steps, {t['tokens']} tokens in {t['seconds']} s "
                      f"({t['tokens_per_s']} tok/s), final loss {t['final_loss']}")
    if m.get("val_loss"):
        console.print(f"  validation loss: base {m['val_loss']['base']}  adapter {m['val_loss']['adapter']}")
    for name in ("adapter", "merged"):
        r = (m.get("parity") or {}).get(name)
        if r:
            console.print(f"  parity {name}: match {r['match']:.0%}  exact {r['exact_match']:.0%}  "
                          f"stop {r['stop_rate'] if r['stop_rate'] is None else format(r['stop_rate'], '.0%')}  "
                          f"{'passed' if r['passed'] else 'FAILED'}")
    if job.artifact_dir:
        console.print(f"  artifacts: {job.artifact_dir}")


def cmd_jobs(args: argparse.Namespace) -> int:
    from edgelearn.train import list_jobs

    store = open_store(args)
    try:
        jobs = list_jobs(store, role=args.role, state=args.state, limit=args.limit)
    finally:
        store.close()
    if args.json:
        _print_json([j.to_dict() for j in jobs])
        return 0
    table = Table("id", "role", "state", "stage", "step", "loss", "tok/s", "dataset", "reason")
    for j in jobs:
        p = j.progress
        step = f"{p['step']}/{p['total_steps']}" if p.get("total_steps") else ""
        table.add_row(j.id, j.role, j.state, j.stage or "", step, str(p.get("loss", "")),
                      str(p.get("tokens_per_s", "")), j.dataset_version or "", (j.reason or "")[:60])
    Console().print(table)
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    from edgelearn.train import get

    store = open_store(args)
    try:
        job = get(store, args.id)
    finally:
        store.close()
    if getattr(args, "json", False):
        _print_json(job.to_dict())
    else:
        _show(Console(), job)
    return 0


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    from edgelearn.train import cancel

    store = open_store(args)
    try:
        job = cancel(store, args.id)
    finally:
        store.close()
    if args.json:
        _print_json(job.to_dict())
    else:
        Console().print(f"{job.id}: {job.state}" + (f" ({job.reason})" if job.reason else ""))
    return 0
