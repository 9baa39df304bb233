"""Agent configuration for edgelearn's hooks, merged into the user's files without loss.

``plan_*`` returns a ``Plan``: the file, its new text, and the conflicts (an existing setting of
the user's that edgelearn would have to change). ``Plan.write`` refuses while conflicts remain
unless asked to replace them (``force``), keeps a ``.bak`` of the file it changes, and writes
atomically. Nothing is written when nothing changes.

    claude-code  ``.claude/settings.json``: HTTP hooks for PostToolUse / PostToolUseFailure (Bash),
                 PostToolUse (Edit, Write, MultiEdit: the edits the git hook scores), Stop, SessionEnd
    codex        ``.codex/config.toml``: ``notify = ["edgelearn", "notify"]``
    git          ``.git/hooks/post-commit``: ``edgelearn hooks post-commit`` (an existing hook keeps
                 its lines; ours is a marked block appended to it)
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from edgelearn.errors import InvalidInput

TOKEN_ENV = "EDGELEARN_TOKEN"
GIT_MARK = "# edgelearn: score the assistant's edits that survive into this commit"


@dataclass
class Plan:
    path: Path
    old: str | None
    new: str
    conflicts: list[str] = field(default_factory=list)
    executable: bool = False

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def write(self, force: bool = False) -> bool:
        """Write the new text (False when nothing changed); ``InvalidInput`` listing the conflicts
        unless ``force``."""
        if self.conflicts and not force:
            raise InvalidInput(f"{self.path}: would change your settings: {'; '.join(self.conflicts)}; "
                               "rerun with --force to replace them", field="force")
        if not self.changed:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.old is not None:
            self.path.with_name(self.path.name + ".bak").write_text(self.old, encoding="utf-8")
        tmp = self.path.with_name(self.path.name + ".edgelearn-tmp")
        tmp.write_text(self.new, encoding="utf-8")
        if self.executable:
            tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        elif self.path.exists():
            tmp.chmod(self.path.stat().st_mode)
        os.replace(tmp, self.path)
        return True


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def claude_hook(url: str) -> dict:
    """One Claude Code HTTP hook handler posting to edgelearn (token from ``$EDGELEARN_TOKEN``)."""
    return {"type": "http", "url": f"{url}/v1/hooks/claude-code", "timeout": 10,
            "headers": {"Authorization": f"Bearer ${TOKEN_ENV}"}, "allowedEnvVars": [TOKEN_ENV]}


CLAUDE_EVENTS = (("PostToolUse", "Bash|Edit|Write|MultiEdit"), ("PostToolUseFailure", "Bash"), ("Stop", None),
                 ("SessionEnd", None))


def plan_claude_code(settings_file: Path, url: str) -> Plan:
    """Claude Code's settings with edgelearn's hooks added; the user's other hooks and keys stay."""
    old = _read(settings_file)
    try:
        data = json.loads(old) if old and old.strip() else {}
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{settings_file}: not valid JSON ({exc}); fix it first, edgelearn will not "
                           "rewrite a file it cannot read", field="settings") from exc
    if not isinstance(data, dict) or not isinstance(data.get("hooks", {}), dict):
        raise InvalidInput(f"{settings_file}: expected a JSON object with a 'hooks' object", field="settings")
    hooks = data.setdefault("hooks", {})
    ours = claude_hook(url)
    conflicts: list[str] = []
    for event, matcher in CLAUDE_EVENTS:
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise InvalidInput(f"{settings_file}: hooks.{event} is not a list", field=f"hooks.{event}")
        mine = [(g, h) for g in groups if isinstance(g, dict) for h in g.get("hooks", [])
                if isinstance(h, dict) and str(h.get("url", "")).endswith("/v1/hooks/claude-code")]
        if not mine:
            group: dict = {"hooks": [ours]}
            if matcher:
                group = {"matcher": matcher, **group}
            groups.append(group)
            continue
        g, h = mine[0]
        if h != ours or g.get("matcher") != matcher:
            conflicts.append(f"hooks.{event} has an edgelearn hook with other settings ({h.get('url')})")
            g.update({"matcher": matcher} if matcher else {})
            h.clear()
            h.update(ours)
    return Plan(settings_file, old, json.dumps(data, indent=2) + "\n", conflicts)


def plan_codex(config_file: Path, command: list[str]) -> Plan:
    """Codex's config.toml with ``notify`` set to edgelearn's command; comments and tables stay."""
    old = _read(config_file)
    try:
        doc = tomlkit.parse(old or "")
    except Exception as exc:  # tomlkit raises its own ParseError family
        raise InvalidInput(f"{config_file}: not valid TOML ({exc}); fix it first", field="config") from exc
    conflicts = []
    current = doc.get("notify")
    if current is not None and list(current) != command:
        conflicts.append(f"notify is already {list(current)!r}")
    if current is None or list(current) != command:
        doc["notify"] = command  # tomlkit puts a new top-level key before the tables
    return Plan(config_file, old, tomlkit.dumps(doc), conflicts)


def git_hooks_dir(repo: Path) -> Path:
    """The repository's hooks folder (honours ``core.hooksPath``)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=repo, capture_output=True, text=True,
                             check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InvalidInput(f"{repo}: not a git repository", field="repo") from exc
    path = Path(out)
    return path if path.is_absolute() else repo / path


def plan_git(repo: Path, command: str) -> Plan:
    """The post-commit hook with edgelearn's block; an existing hook keeps every line."""
    path = git_hooks_dir(repo) / "post-commit"
    old = _read(path)
    block = f"{GIT_MARK}\n{command} || true\n"
    if old is None:
        new = "#!/bin/sh\n" + block
    elif GIT_MARK in old:
        new = old
    else:
        if not old.startswith("#!/bin/sh") and not old.startswith("#!/usr/bin/env sh") and \
                not old.startswith("#!/bin/bash") and not old.startswith("#!/usr/bin/env bash"):
            return Plan(path, old, old, [f"{path} is not a shell script; add this line to it yourself: {command}"],
                        executable=True)
        new = old + ("" if old.endswith("\n") else "\n") + block
    return Plan(path, old, new, executable=True)
