"""``edgelearn independence``: how far each role with a teacher has moved to the local model; pin or
unpin a role's level by hand (docs/independence.md)."""

from __future__ import annotations

import argparse

from edgelearn.cli.core import console, load, open_store, print_json


def register(sub) -> None:
    p = sub.add_parser("independence", help="teacher -> local levels per role and task cluster; pin a level")
    s = p.add_subparsers(dest="independence_command", metavar="ACTION")
    show = s.add_parser("show", help="levels, local share, rewards, escapes and cost saved (the default)")
    show.add_argument("role", nargs="?", help="one role (default: every role with a teacher)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=cmd_show)
    pin = s.add_parser("pin", help="route every cluster of a role at one level until unpinned")
    pin.add_argument("role")
    pin.add_argument("level", type=int, choices=range(5), metavar="LEVEL", help="0 (teacher only) to 4")
    pin.add_argument("--reason", default="pinned by hand (CLI)")
    pin.set_defaults(handler=cmd_pin)
    unpin = s.add_parser("unpin", help="give a role's clusters back to the rule")
    unpin.add_argument("role")
    unpin.add_argument("--reason", default="unpinned by hand (CLI)")
    unpin.set_defaults(handler=cmd_unpin)
    p.set_defaults(handler=cmd_show, role=None, json=False)


def _service(args):
    from edgelearn.experiment.independence.levels import IndependenceConfig
    from edgelearn.experiment.independence.service import IndependenceService

    settings, _ = load(args)
    return IndependenceService(open_store(args), IndependenceConfig.from_settings(settings)), settings


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def cmd_show(args: argparse.Namespace) -> int:
    from edgelearn.experiment.independence.surface import independence_view

    service, settings = _service(args)
    try:
        report = independence_view(service, settings, args.role)  # what GET /v1/learning/independence answers
    finally:
        service.store.close()
    if args.json:
        print_json(report)
        return 0
    if not report["roles"]:
        console.print('no role has a teacher: set [roles.<role>] teacher = "<provider>/<model>" in the config')
        return 0
    from rich.table import Table

    for r in report["roles"]:
        pin = f", pinned at level {r['pin']}" if r["pin"] is not None else ""
        off = "" if r["enabled"] else " (independence is off: everything goes to the teacher)"
        console.print(f"[bold]{r['role']}[/] teacher {r['teacher']}{pin}{off}: local {_pct(r['local_share'])} "
                      f"of {r['requests']} requests, eligible {_pct(r['eligible_share'])}, "
                      f"escapes {r['escapes']}, cost saved {_num(r['cost_saved'], 4) or 'n/a (no price)'}")
        table = Table("cluster", "level", "share", "requests", "local", "reward local", "reward teacher",
                      "shadow", "escape rate", "cost saved")
        for c in r["clusters"]:
            table.add_row(str(c["cluster"]), str(c["level"]), _pct(c["share"]), str(c["requests"]),
                          _pct(c["local_share"]), _num(c["local_reward"]), _num(c["teacher_reward"]),
                          _num(c["shadow_reward"]), _pct(c["escape_rate"]), _num(c["cost_saved"], 4))
        console.print(table)
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    from edgelearn.experiment.independence.surface import pin_level

    service, settings = _service(args)
    try:
        pin_level(service, settings, args.role, args.level, args.reason)
    finally:
        service.store.close()
    console.print(f"{args.role}: pinned at level {args.level} (a running runtime follows within a second)")
    return 0


def cmd_unpin(args: argparse.Namespace) -> int:
    from edgelearn.experiment.independence.surface import unpin_level

    service, settings = _service(args)
    try:
        done = unpin_level(service, settings, args.role, args.reason)
    finally:
        service.store.close()
    console.print(f"{args.role}: unpinned" if done else f"{args.role}: was not pinned")
    return 0
