"""``edgelearn hooks install claude-code|codex|git``, ``edgelearn hooks post-commit``, ``edgelearn notify``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from edgelearn.errors import EdgelearnError, InvalidInput


def register(sub) -> None:
    p = sub.add_parser("hooks", help="connect agents and git to edgelearn (session outcomes)")
    hs = p.add_subparsers(dest="hooks_command", metavar="ACTION", required=True)
    inst = hs.add_parser("install", help="print (or --write) an agent's config for edgelearn's hooks")
    inst.add_argument("agent", choices=("claude-code", "codex", "git"))
    inst.add_argument("--home", type=Path, help="the home folder holding the agent's config (default: yours)")
    inst.add_argument("--project", type=Path, help="claude-code: the project's .claude/settings.json instead")
    inst.add_argument("--repo", type=Path, default=Path("."), help="git: the repository (default: here)")
    inst.add_argument("--url", help="edgelearn's address (default: the configured one)")
    inst.add_argument("--write", action="store_true", help="write the file (a .bak keeps the old one)")
    inst.add_argument("--force", action="store_true", help="replace settings of yours that conflict")
    inst.set_defaults(handler=install)
    pc = hs.add_parser("post-commit", help="(run by the git hook) score the session's edits kept in HEAD")
    pc.add_argument("repo", nargs="?", type=Path, default=Path("."))
    pc.add_argument("--url")
    pc.set_defaults(handler=post_commit)
    r = hs.add_parser("run", help="run a test/build/lint command and report it to a session (Aider's --test-cmd)")
    r.add_argument("--session", required=True, help="the session (as the agent's requests name it)")
    r.add_argument("--agent", default="aider")
    r.add_argument("--url")
    r.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the command")
    r.set_defaults(handler=run_command)
    n = sub.add_parser("notify", help="(run by Codex) report a finished turn: one JSON argument")
    n.add_argument("payload", help="the JSON Codex passes")
    n.add_argument("--url")
    n.set_defaults(handler=notify)


def install(args) -> int:
    from edgelearn.sessions import install as inst
    from edgelearn.sessions.client import server_url

    home = (args.home or Path.home()).expanduser()
    if args.agent == "claude-code":
        base = args.project.expanduser() if args.project else home
        plan = inst.plan_claude_code(base / ".claude" / "settings.json", server_url(args.url))
        note = (f"Claude Code sends the token from ${inst.TOKEN_ENV}: export {inst.TOKEN_ENV}=\"$(cat "
                f"{_token_hint()})\" where you start claude.")
    elif args.agent == "codex":
        codex_home = Path(os.environ["CODEX_HOME"]) if (os.environ.get("CODEX_HOME") and not args.home) \
            else home / ".codex"
        plan = inst.plan_codex(codex_home / "config.toml", ["edgelearn", "notify"])
        note = "Codex runs `edgelearn notify '<json>'` after each turn."
    else:
        exe = shlex.quote(sys.argv[0]) if sys.argv[0].endswith("edgelearn") else "edgelearn"
        plan = inst.plan_git(args.repo.expanduser().resolve(), f'{exe} hooks post-commit "$(git rev-parse '
                                                               '--show-toplevel)"')
        note = "Each commit scores the session's last assistant edits by how much of them it keeps."
    for c in plan.conflicts:
        print(f"conflict: {c}", file=sys.stderr)
    if not args.write:
        print(f"# {plan.path}{'' if plan.changed else ' (already set up)'}")
        print(plan.new, end="")
        print(f"# {note}\n# rerun with --write to write it", file=sys.stderr)
        return 0
    wrote = plan.write(force=args.force)
    print(f"{'wrote' if wrote else 'unchanged'}: {plan.path}")
    print(note)
    return 0


def _token_hint() -> str:
    from edgelearn.config import home_dir
    from edgelearn.security import token_path

    return str(token_path(home_dir()))


def post_commit(args) -> int:
    from edgelearn.sessions.client import post

    repo = args.repo.expanduser().resolve()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    result = post("/v1/hooks/git", {"repo": str(repo), "commit": commit}, url=args.url)
    if result.get("session"):
        print(f"edgelearn: survival {result['survival']:.2f} for session {result['session']}", file=sys.stderr)
    return 0


def run_command(args) -> int:
    """Run the command with its output passed through; report it; exit with the command's status."""
    from edgelearn.sessions.client import post

    words = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not words:
        raise InvalidInput("cmd: give the command after --", field="cmd")
    command = shlex.join(words)
    proc = subprocess.run(command, shell=True, capture_output=True, text=True, errors="replace")
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    try:
        post("/v1/hooks/command", {"session_id": args.session, "command": command, "exit_code": proc.returncode,
                                   "output": (proc.stdout + "\n" + proc.stderr)[-500_000:], "cwd": os.getcwd(),
                                   "agent": args.agent}, url=args.url)
    except EdgelearnError as exc:  # the agent gets the command's own result whatever edgelearn says
        print(f"edgelearn: not reported: {exc}", file=sys.stderr)
    return proc.returncode


def notify(args) -> int:
    from edgelearn.sessions.client import post

    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"payload: not JSON: {exc}", field="payload") from exc
    post("/v1/hooks/codex", payload, url=args.url)
    return 0
