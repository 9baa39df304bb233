"""``edgelearn mcp``: an MCP server on stdio, so MCP-speaking agents report without HTTP plumbing.

It talks to the running edgelearn over loopback HTTP with the home's token (one writer for the
store, the reward hooks of the running process). The current session is the tool's
``session_id``, else ``$EDGELEARN_SESSION``, else the newest open session of the project the
server was started in (its working directory, as agents start MCP servers).

    report_outcome    signals and/or a verdict for the current session
    similar_runs      the k best-rewarded past runs with a similar task (in-context examples)
    learning_status   where the learning loop stands (stage, thresholds, job, experiments)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgelearn.errors import EdgelearnError, InvalidInput
from edgelearn.sessions.client import get, post


def current_session(session_id: str | None, project: str | None = None) -> str:
    """The session a tool call is about (see the module docstring)."""
    if session_id:
        return session_id
    if os.environ.get("EDGELEARN_SESSION"):
        return os.environ["EDGELEARN_SESSION"]
    project = project or os.getcwd()
    rows = get("/v1/sessions", {"project": project, "open": "true", "limit": 1})["sessions"]
    if not rows:
        raise InvalidInput(f"session_id: no open session of {project}; pass session_id", field="session_id")
    return rows[0]["id"]


def report_outcome(signals: dict[str, Any] | None = None, verdict: str | None = None, score: float | None = None,
                   comment: str | None = None, session_id: str | None = None) -> dict[str, Any]:
    """Report how the current session's work turned out.

    signals: any of {"compile": true|false, "tests": {"passed": n, "total": m}, "errors": n}.
    verdict: "accept" or "reject" (the user's); score: 1-5 instead of a verdict.
    session_id: the session (default: $EDGELEARN_SESSION, else this project's newest open one).
    """
    if not signals and verdict is None and score is None:
        raise InvalidInput("signals, verdict or score: give at least one", field="signals")
    sid = current_session(session_id)
    out: dict[str, Any] = {"session": sid, "rescored": 0}
    if signals:
        out["rescored"] += post(f"/v1/sessions/{sid}/signals", {"signals": signals, "source": "mcp"})["rescored"]
    if verdict is not None or score is not None:
        body = {"kind": "score", "value": score} if score is not None else {"kind": verdict}
        if comment:
            body["comment"] = comment
        out["rescored"] += post(f"/v1/sessions/{sid}/feedback", body)["rescored"]
    return out


def similar_runs(task: str, k: int = 5, role: str = "coder", project: str | None = None) -> dict[str, Any]:
    """The k best-rewarded past runs whose task is most like ``task``: examples to learn from."""
    return post("/v1/similar", {"task": task, "k": k, "role": role, "project": project})


def learning_status() -> dict[str, Any]:
    """Where the learning loop stands: stage and thresholds per role, the training job, experiments."""
    return get("/v1/learning/status")


def build():
    """The MCP server with the three tools."""
    try:
        from mcp.server.mcpserver import MCPServer
    except ModuleNotFoundError:  # mcp 1.x names it FastMCP
        from mcp.server.fastmcp import FastMCP as MCPServer

    server = MCPServer(name="edgelearn", instructions=(
        "edgelearn learns from your sessions. Call report_outcome when tests ran or the user judged the work; "
        "call similar_runs for worked examples of a task."))
    for fn in (report_outcome, similar_runs, learning_status):
        server.tool()(_reporting(fn))
    return server


def _reporting(fn):
    """Tool errors as a message the agent can act on, not a stack trace."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgelearnError as exc:
            try:
                from mcp.server.mcpserver.exceptions import ToolError
            except ModuleNotFoundError:  # mcp 1.x
                from mcp.server.fastmcp.exceptions import ToolError

            raise ToolError(str(exc)) from exc

    return wrapper


def main(project: Path | None = None) -> None:
    """Serve on stdio until the agent closes it."""
    if project is not None:
        os.chdir(project)
    build().run("stdio")
