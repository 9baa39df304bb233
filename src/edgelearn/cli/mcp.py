"""``edgelearn mcp``: the MCP server on stdio (report_outcome, similar_runs, learning_status)."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("mcp", help="MCP server on stdio for agents: report outcomes, similar runs, status")
    p.add_argument("--project", type=Path, help="the project whose open session is current (default: here)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from edgelearn.sessions.mcp_server import main

    main(args.project)
    return 0
