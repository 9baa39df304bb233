"""The lines an assistant's edit added to a file (Claude Code's Edit / Write, Cline's file tools).

The git hook later scores how many of them a commit keeps (``edgelearn.sessions.survival``).
"""

from __future__ import annotations

import difflib
import os
import subprocess
from typing import Any


def absolute(path: Any, cwd: str | None) -> str | None:
    """``path`` made absolute against the agent's working directory (None when there is none)."""
    if not isinstance(path, str) or not path:
        return None
    return path if path.startswith("/") or not cwd else cwd.rstrip("/") + "/" + path


def edit_lines(path: str | None, pairs: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """``[(path, lines added)]`` for an edit given as (before, after) texts; [] when it added none."""
    if path is None:
        return []
    lines = [line for before, after in pairs for line in added_lines(before, after)]
    return [(path, lines)] if lines else []


def added_lines(before: str, after: str) -> list[str]:
    """Lines of ``after`` that a line diff against ``before`` marks inserted or replaced (blank
    lines aside)."""
    a, b = before.splitlines(), after.splitlines()
    out = []
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("insert", "replace"):
            out += [line for line in b[j1:j2] if line.strip()]
    return out


def file_at_head(path: str) -> str | None:
    """The file as the last commit of its repository has it (None outside git or when new)."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return None
    r = subprocess.run(["git", "show", f"HEAD:./{os.path.basename(path)}"], cwd=folder, capture_output=True,
                       text=True, errors="replace")
    return r.stdout if r.returncode == 0 else None


def search_replace(diff: str) -> list[tuple[str, str]]:
    """(search, replace) texts of Cline's ``replace_in_file`` SEARCH/REPLACE blocks."""
    blocks: list[tuple[str, str]] = []
    search: list[str] = []
    replace: list[str] = []
    part = None
    for line in diff.splitlines():
        if line.startswith("<<<<<<< SEARCH"):
            part, search, replace = "search", [], []
        elif line.startswith("=======") and part == "search":
            part = "replace"
        elif line.startswith(">>>>>>> REPLACE") and part == "replace":
            blocks.append(("\n".join(search), "\n".join(replace)))
            part = None
        elif part == "search":
            search.append(line)
        elif part == "replace":
            replace.append(line)
    return blocks
