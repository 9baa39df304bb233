"""Registry and serving commands: ``models``, ``deploy`` and ``chat``."""

from __future__ import annotations

import argparse
import sys
import time

import orjson

from edgelearn.cli.core import load, open_store


def register(sub) -> None:
    p = sub.add_parser("models", help="list registered model versions and their states")
    p.add_argument("--role", help="only this role")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("deploy", help="make a version its role's champion (and register it with Ollama)")
    p.add_argument("version", metavar="VERSION", help="a version id such as coder-v2")
    p.add_argument("--reason", default="deployed from the command line", help="why (kept in the event log)")
    p.set_defaults(handler=cmd_deploy)

    p = sub.add_parser("chat", help="chat in the terminal with a model, streaming tokens")
    p.add_argument("--model", default="base",
                   help="base, a version id (coder-v2), edgelearn/<role> (its champion) or ollama/<name>")
    p.add_argument("--system", help="a system message")
    p.add_argument("--max-tokens", type=int, default=None, help="answer length limit (deploy.max_tokens)")
    p.set_defaults(handler=cmd_chat)


def cmd_models(args: argparse.Namespace) -> int:
    from edgelearn.serve.registry import version_view

    store = open_store(args)
    try:
        views = [version_view(store, v) for v in store.models.list(role=args.role)]
    finally:
        store.close()
    if args.json:
        sys.stdout.write(orjson.dumps(views, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for name in ("created", "dataset", "files", "ollama"):
        table.add_column(name)
    for view in views:
        pending = view["ollama"]["pending"]
        ollama = view["ollama"]["name"] or "-"
        if pending:
            ollama = f"{pending['action']} {pending['status']} ({pending['attempts']} tries)"
            if pending["last_error"]:
                ollama += f": {pending['last_error'][:60]}"
        files = "+".join(kind for kind in ("adapter", "merged") if view[f"{kind}_path"])
        table.add_row(view["id"], view["state"], time.strftime("%Y-%m-%d %H:%M", time.localtime(view["created_at"])),
                      view["dataset_version"] or "-", files, ollama)
    console = Console()
    if not views:
        console.print("no model versions yet; `base` (the bundled base model) serves every role")
    else:
        console.print(table)
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from edgelearn.serve.sync import OllamaSync

    settings, home = load(args)
    store = open_store(args)
    try:
        before = store.models.get(args.version)
        version = store.models.set_state(args.version, "champion", args.reason)
        note = "already champion" if before.state == "champion" else f"{before.state} → champion"
        print(f"{version.id}: {note} of role {version.role}")
        if settings.deploy.backend == "embedded":
            return 0
        task = store.models.sync_task(version.id)
        if task is not None and task.status == "failed":
            store.models.sync_requeue(version.id)
        OllamaSync(store, lambda: settings, home).run_once()
        task = store.models.sync_task(version.id)
        version = store.models.get(version.id)
        if task is None:
            print(f"Ollama ({settings.deploy.ollama_url}) serves it as {version.ollama_name}")
            return 0
        if task.status == "pending":
            print(f"Ollama is not reachable at {settings.deploy.ollama_url}: the registration is queued and "
                  "`edgelearn serve` retries it; the embedded backend serves the version meanwhile")
            return 0
        print(f"Ollama refused the registration: {task.last_error}", file=sys.stderr)
        return 1
    finally:
        store.close()


def cmd_chat(args: argparse.Namespace) -> int:
    from edgelearn.serve.backends import GenerateRequest
    from edgelearn.serve.engine import Engine
    from edgelearn.serve.routing import route

    settings, _ = load(args)
    store = open_store(args)
    engine = Engine(store, lambda: settings, max_workers=1)
    try:
        chosen = route(args.model, services={}, models=store.models)
        served = engine.resolve(chosen.model_id)
        print(f"chatting with {chosen.model_id} ({served.backend.name}); an empty line or Ctrl-D ends", file=sys.stderr)
        messages = [{"role": "system", "content": args.system}] if args.system else []
        while True:
            try:
                line = input("> ").strip()
            except EOFError:
                break
            if not line:
                break
            messages.append({"role": "user", "content": line})
            request = GenerateRequest(messages=list(messages), max_tokens=args.max_tokens or settings.deploy.max_tokens)
            parts = []
            for chunk in engine.stream(served, request):
                parts.append(chunk.text)
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
            sys.stdout.write("\n")
            messages.append({"role": "assistant", "content": "".join(parts)})
        return 0
    finally:
        engine.close()
        store.close()
