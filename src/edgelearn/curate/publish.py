"""Writing a dataset's files and publishing them: temp dir, atomic rename, then the row.

Files are written into ``<home>/datasets/.tmp-<version>-<pid>-<random>/`` and hashed as they
are written. Publishing happens inside one store write: insert the row (which fails if
another export took the version), rename the directory into place, append the
``dataset.created`` event; a failure anywhere rolls the row back and puts the directory back
into the temp dir, which is then removed. A process killed mid-way leaves only a temp dir
named with its pid, which the next export removes (``sweep``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import apsw
import orjson

from edgelearn.errors import CurationError, StoreError
from edgelearn.store.datasets import Dataset, VersionTaken
from edgelearn.store.events import EventsRepo

SPLITS = ("train", "val")


def datasets_root(home: Path) -> Path:
    """Where dataset versions live: ``<home>/datasets``."""
    return Path(home) / "datasets"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(root: Path) -> list[Path]:
    """Remove temp dirs left by exports whose process is gone; returns what was removed."""
    removed = []
    if not root.is_dir():
        return removed
    for path in root.iterdir():
        if not path.is_dir() or not path.name.startswith((".tmp-", ".trash-")):
            continue
        parts = path.name.rsplit("-", 2)
        pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
        # a temp dir of this process may belong to an export still running in another thread
        mine = pid == os.getpid() and path.name.startswith(".tmp-")
        if pid is None or path.name.startswith(".trash-") or (not mine and not _pid_alive(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class DatasetFiles:
    """train.jsonl and val.jsonl being written in a private temp dir."""

    def __init__(self, root: Path, label: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.dir = Path(tempfile.mkdtemp(prefix=f".tmp-{label}-{os.getpid()}-", dir=root))
        self._files = {s: open(self.dir / f"{s}.jsonl", "wb") for s in SPLITS}
        self._hashes = {s: hashlib.sha256() for s in SPLITS}
        self.lines = {s: 0 for s in SPLITS}

    def add(self, split: str, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        self._files[split].write(line)
        self._hashes[split].update(line)
        self.lines[split] += 1

    def close(self) -> dict[str, dict[str, Any]]:
        """Flush and fsync the example files; returns {name: {sha256, bytes, examples}}."""
        info = {}
        for split, fh in self._files.items():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            name = f"{split}.jsonl"
            info[name] = {"sha256": self._hashes[split].hexdigest(), "bytes": (self.dir / name).stat().st_size,
                          "examples": self.lines[split]}
        return info

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        path = self.dir / "manifest.json"
        with open(path, "wb") as fh:
            fh.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    def discard(self) -> None:
        for fh in self._files.values():
            if not fh.closed:
                fh.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def publish(store, files: DatasetFiles, final: Path, create: Callable[[apsw.Connection], Dataset]) -> Dataset:
    """Rename ``files`` to ``final`` and commit the row ``create(conn)`` inserts, all or nothing."""

    def fn(conn: apsw.Connection) -> Dataset:
        dataset = create(conn)  # raises CurationError when the version is taken: nothing moved yet
        if final.exists():
            # no row has this version, so the directory is an orphan of a killed export
            os.rename(final, files.root / f".trash-{final.name}-{os.getpid()}-{os.urandom(4).hex()}")
        os.rename(files.dir, final)
        try:
            EventsRepo.append_in(conn, "dataset.created", {
                "version": dataset.version, "path": str(final), "format": dataset.format, **dataset.counts,
            }, role=dataset.role, subject=dataset.version)
        except BaseException:
            os.rename(final, files.dir)
            raise
        return dataset

    try:
        dataset = store.write(fn)
    except (StoreError, OSError) as exc:
        # the commit failed after the rename: take the directory back so nothing half-published stays
        if final.exists() and not files.dir.exists():
            os.rename(final, files.dir)
        files.discard()
        if isinstance(exc, OSError):
            raise CurationError(f"cannot publish dataset into {final}: {exc}") from exc
        raise
    except VersionTaken:
        raise  # the files stay for a retry under the next version
    except BaseException:
        files.discard()
        raise
    sweep(files.root)
    return dataset
