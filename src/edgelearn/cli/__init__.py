"""The ``edgelearn`` command: thin subcommands over the library.

Each stage owns a module here with ``register(subparsers)``; errors become exit codes only
in this package (1 for a failed operation, 2 for bad input or config).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from edgelearn.errors import ConfigError, EdgelearnError, InvalidInput

COMMAND_MODULES = ("core", "arms", "export", "train", "models", "providers", "loop", "independence", "tui", "hooks",
                   "mcp")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgelearn", description="Local learning loop for coding agents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"edgelearn.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"edgelearn.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        default = getattr(args, "default_handler", None) or _default_command(parser)
        if default is None:
            parser.print_help()
            return 0
        handler = default
    try:
        return int(handler(args) or 0)
    except (ConfigError, InvalidInput) as exc:
        print(f"edgelearn: {exc}", file=sys.stderr)
        return 2
    except EdgelearnError as exc:
        print(f"edgelearn: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _default_command(parser):
    """`edgelearn` with no arguments opens the TUI when it is installed."""
    try:
        module = importlib.import_module("edgelearn.cli.tui")
    except ModuleNotFoundError:
        return None
    return getattr(module, "default_handler", None)


if __name__ == "__main__":
    sys.exit(main())
