"""The git outcome: how much of a session's last assistant edits survives into a commit.

For each file the assistant wrote, the lines it wrote are matched, in order, against the file
as the commit has it (``difflib``'s matching blocks over whole lines, surrounding whitespace
ignored): a kept edit scores 1, one of whose lines half were rewritten about 0.5, a reverted or
deleted one 0. The session's ``survival`` signal is kept lines / written lines over all its
unscored edits under the repository; those edits are then marked scored by the commit.
"""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path
from typing import Any

from edgelearn.errors import InvalidInput
from edgelearn.sessions.credit import credit_for
from edgelearn.store.sessions import SessionsRepo


def _git(repo: Path, *args: str) -> str | None:
    r = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, errors="replace")
    return r.stdout if r.returncode == 0 else None


def kept_lines(written: list[str], committed: list[str]) -> int:
    """How many of ``written`` appear, in order, among ``committed`` (lines compared stripped)."""
    a = [w.strip() for w in written]
    b = [c.strip() for c in committed]
    return sum(m.size for m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())


def score_commit(runtime, repo: str | Path, commit: str | None = None) -> dict[str, Any]:
    """Score the newest session with unscored edits under ``repo`` against ``commit`` (HEAD);
    records its ``survival`` signal and returns ``{session, survival, kept, total, files}``."""
    if not Path(repo).is_dir():  # git would fail to start in it (an OSError), not answer
        raise InvalidInput(f"repo: {repo} is not a directory", field="repo")
    if commit is not None and commit.startswith("-"):  # git would read it as an option
        raise InvalidInput(f"commit: {commit!r} is not a commit", field="commit")
    root_text = _git(Path(repo), "rev-parse", "--show-toplevel")
    if root_text is None:
        raise InvalidInput(f"repo: {repo} is not a git repository", field="repo")
    root = Path(root_text.strip())
    commit = commit or (_git(root, "rev-parse", "HEAD") or "").strip()
    if not commit or _git(root, "cat-file", "-e", f"{commit}^{{commit}}") is None:
        raise InvalidInput(f"commit: {commit!r} is not a commit of {root}", field="commit")
    store = runtime.store
    session_id, edits = store.sessions.unscored_edits(str(root))
    if session_id is None:
        return {"session": None, "survival": None, "kept": 0, "total": 0, "files": 0}
    red = runtime.recorder.redactor()
    kept = total = 0
    cache: dict[str, list[str]] = {}
    for _, path, lines in edits:
        if path not in cache:
            text = _git(root, "show", f"{commit}:{Path(path).relative_to(root).as_posix()}")
            text = red.text(text) if (text and red) else text
            cache[path] = text.splitlines() if text else []  # not in the commit: deleted, nothing kept
        kept += kept_lines(lines, cache[path])
        total += len(lines)
    credit = credit_for(runtime)
    credit.add_signals(session_id, {"survival": {"kept": kept, "total": total}}, f"git:{commit[:12]}")
    ids = [i for i, _, _ in edits]
    store.write(lambda c: SessionsRepo.mark_edits_scored_in(c, ids, commit))
    return {"session": session_id, "survival": kept / total if total else None, "kept": kept, "total": total,
            "files": len(cache), "commit": commit}
