"""``edgelearn providers``: the configured model providers, their models, and whether they answer."""

from __future__ import annotations

import argparse

from edgelearn.cli.core import console, load, print_json


def register(sub) -> None:
    p = sub.add_parser("providers", help="list the model providers behind the gateway ([providers.<name>])")
    p.add_argument("--check", action="store_true", help="call each provider: reachable, key present, key accepted")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_providers)


def cmd_providers(args: argparse.Namespace) -> int:
    from edgelearn.serve.providers.check import check_provider, key_state

    settings, _ = load(args)
    rows = []
    failed = False
    for name, provider in settings.providers.items():
        row = {"name": name, "type": provider.type, "base_url": provider.base_url, "key": key_state(provider),
               "models": [f"{name}/{m}" for m in provider.models]}
        if args.check:
            check = check_provider(name, provider)
            row["check"] = {"status": check.status, "detail": check.detail}
            row["models"] = row["models"] or [f"{name}/{m}" for m in check.models]
            failed = failed or check.status == "fail"
        rows.append(row)
    if args.json:
        print_json(rows)
        return 1 if failed else 0
    if not rows:
        console.print("no providers configured: add [providers.<name>] to the config "
                      "(examples in config/edgelearn.toml)")
        return 0
    from rich.table import Table

    table = Table("provider", "type", "base_url", "key variable", "models", *(["check"] if args.check else []))
    for row in rows:
        models = ", ".join(row["models"]) or "(from the provider's /models)"
        check = [f"{row['check']['status']}: {row['check']['detail']}"] if args.check else []
        table.add_row(row["name"], row["type"], row["base_url"], row["key"], models, *check)
    console.print(table)
    return 1 if failed else 0
