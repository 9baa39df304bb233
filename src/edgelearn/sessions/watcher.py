"""The workspace watcher: test and lint results a repository's tools write → session signals.

Off unless ``[watch] paths`` lists repositories. In each, watchdog reports new or changed

    *.xml whose root is <testsuite(s)>     JUnit XML          → tests passed / total
    *.sarif, *.sarif.json                  SARIF 2.1.0        → errors: the count of results
    .pytest_cache/v/cache/lastfailed       pytest's failures  → tests 1/1 when empty, else 0/1
                                                                (it holds no count of passes)

A file is read once it has been quiet for ``watch.debounce_s``; a file written in pieces that
does not parse yet is read again on its next change; a result already counted (same path and
content) is not counted twice. The signal goes to the newest open session of the project (the
watched path, or a session whose project lies inside it). Deleted folders, unreadable or
half-written files are logged, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from edgelearn.errors import EdgelearnError, InvalidInput
from edgelearn.record.signals import parse_junit

log = logging.getLogger(__name__)

LASTFAILED = (".pytest_cache", "v", "cache", "lastfailed")


def result_kind(path: Path) -> str | None:
    """"junit", "sarif" or "lastfailed" for a file the watcher reads, None for any other."""
    name = path.name.lower()
    if path.parts[-4:] == LASTFAILED:
        return "lastfailed"
    if name.endswith(".sarif") or name.endswith(".sarif.json"):
        return "sarif"
    if name.endswith(".xml") and ".git" not in path.parts:
        return "junit"
    return None


def read_result(path: Path, kind: str) -> dict[str, Any] | None:
    """The signals a result file gives; None when it is not (yet) a whole result of its kind."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        log.info("watch: cannot read %s: %s", path, exc)
        return None
    if kind == "junit":
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            return None  # half written: read again on its next change
        if root.tag not in ("testsuite", "testsuites"):
            return None
        try:
            passed, total = parse_junit(path)
        except InvalidInput:
            return None
        return {"tests": {"passed": passed, "total": total}} if total > 0 else None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if kind == "sarif":
        if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
            return None
        return {"errors": sum(len(r.get("results") or []) for r in data["runs"] if isinstance(r, dict))}
    if isinstance(data, dict):  # lastfailed: {node id: true} of the last run's failures
        return {"tests": {"passed": 0 if data else 1, "total": 1}}
    return None


class WorkspaceWatcher:
    """Watches ``[watch] paths`` and sends each new result to its project's newest open session."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self._observer = None
        self._timers: dict[Path, threading.Timer] = {}
        self._seen: dict[Path, str] = {}
        self._lock = threading.Lock()
        self.delivered: list[dict[str, Any]] = []  # what was sent, newest last (for the TUI and tests)

    def start(self) -> None:
        paths = [Path(p).expanduser() for p in self.runtime.settings.watch.paths]
        if not paths:
            return
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def __init__(self, root: Path) -> None:
                self.root = root

            def on_any_event(self, event) -> None:
                if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
                    return
                target = getattr(event, "dest_path", "") or event.src_path
                watcher.changed(self.root, Path(target if isinstance(target, str) else target.decode()))

        self._observer = Observer()
        for root in paths:
            if not root.is_dir():
                log.warning("watch: %s is not a folder; not watched", root)
                continue
            self._observer.schedule(Handler(root.resolve()), str(root), recursive=True)
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
        with self._lock:
            for t in self._timers.values():
                t.cancel()
            self._timers.clear()

    def changed(self, root: Path, path: Path) -> None:
        """A file under ``root`` changed: (re)start its quiet-time timer if it is a result file."""
        kind = result_kind(path)
        if kind is None:
            return
        with self._lock:
            old = self._timers.pop(path, None)
            if old is not None:
                old.cancel()
            timer = threading.Timer(self.runtime.settings.watch.debounce_s, self._settled, (root, path, kind))
            timer.daemon = True
            self._timers[path] = timer
            timer.start()

    def _settled(self, root: Path, path: Path, kind: str) -> None:
        with self._lock:
            self._timers.pop(path, None)
        try:
            self.deliver(root, path, kind)
        except Exception:  # a watcher thread must outlive any one file
            log.exception("watch: %s failed", path)

    def deliver(self, root: Path, path: Path, kind: str) -> dict[str, Any] | None:
        """Read a settled result file and send its signals; what was sent, or None."""
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            log.info("watch: %s went away: %s", path, exc)
            return None
        if self._seen.get(path) == digest:
            return None
        signals = read_result(path, kind)
        if signals is None:
            return None
        self._seen[path] = digest
        session = self.runtime.store.sessions.newest_open(str(root))
        if session is None:
            log.info("watch: %s: no open session of %s", path, root)
            return None
        from edgelearn.sessions.credit import credit_for

        try:
            out = credit_for(self.runtime).add_signals(session, signals, f"watch:{kind}")
        except EdgelearnError as exc:
            log.warning("watch: %s: %s", path, exc)
            return None
        sent = {"session": session, "path": str(path), "signals": signals, "rescored": len(out.rescored)}
        self.delivered.append(sent)
        return sent


def install(runtime) -> None:
    """Register the watcher with the runtime (it starts only when ``[watch] paths`` is set)."""
    runtime.add_service("watch", WorkspaceWatcher(runtime))
