"""Background embeddings in a child process, so that they never hold the hook's GIL.

A batch is torch operations with Python between them: encoded in a thread of the server, it
made the event loop wait for the GIL and for a core, and the record latency rose with it.
Lowering the thread's priority does not help: a descheduled thread that holds the GIL stalls the
loop all the same. A process has its own interpreter, and its priority works as the kernel means
(bench/RESULTS.md, "Measurements behind choices in the code").

``ProcessEncoder`` starts ``python -m edgelearn.embed.process`` on first use (loading the model
there takes a few seconds, off the request path), sends it a batch of texts and reads the
vectors back; the child computes on ``BACKGROUND_THREADS`` torch threads under SCHED_IDLE on
Linux (it kept the record latency lower than nice 10 does), elsewhere at ``NICE``.
A batch whose child dies goes once more to a fresh child; if that one dies too, the call raises
and the embedder retries later.

The model holds about 500 MB, so a child that has had no batch for ``idle_s`` seconds
(``store.embed_idle_s``) exits, and the next batch starts a fresh one. Nothing of the child
reaches the terminal (a TUI may own it): its stderr is read line by line into this module's
logger, and progress bars are off there.

Frames, both ways: a 4-byte little-endian length, then the payload. A request is a JSON list of
strings; an answer is one status byte (0: float32 vectors follow, row-major, 384 per text;
1: an error message follows, UTF-8).
"""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import threading
import time
from typing import BinaryIO, Callable, Sequence

import numpy as np
import orjson

from edgelearn.errors import StoreError

NICE = 10  # where SCHED_IDLE is missing: below the server, so that on a busy machine the hook gets the cores
# tqdm and Hugging Face read these at import: the child never draws a progress bar
_CHILD_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"}

log = logging.getLogger(__name__)


class EmbeddingProcessError(StoreError):
    """The embedding process failed a batch or ended."""


def _write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(struct.pack("<I", len(payload)) + payload)
    stream.flush()


def _read_frame(stream: BinaryIO) -> bytes | None:
    """One frame's payload; None at a clean end of stream."""
    head = stream.read(4)
    if not head:
        return None
    if len(head) < 4:
        raise EOFError("stream ended inside a frame header")
    (size,) = struct.unpack("<I", head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError(f"stream ended after {len(payload)} of {size} bytes")
    return payload


class ProcessEncoder:
    """``encode(texts) -> (n, 384) float32`` through a child process (see the module docstring)."""

    def __init__(self, idle_s: float | Callable[[], float] = 0.0) -> None:
        # seconds without a batch before the child exits (0 keeps it); a callable follows hot reloads
        self._idle_s = idle_s if callable(idle_s) else (lambda: idle_s)
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._closing = threading.Event()
        self._last_used = 0.0
        self.started = 0  # child processes started (1 unless one died or went idle)
        self.idle_exits = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        from edgelearn.embed.encode import EMBED_DIM

        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        with self._lock:
            for attempt in (1, 2):  # a child found dead (killed, out of memory) gets the batch once more
                proc = self._ensure()
                try:
                    _write_frame(proc.stdin, orjson.dumps(list(texts)))
                    answer = _read_frame(proc.stdout)
                except (OSError, EOFError, ValueError) as exc:  # ValueError: closed meanwhile by close()
                    answer, error = None, exc
                else:
                    error = None
                if answer is not None:
                    break
                code = self._stop()
                if attempt == 2 or self._closed:
                    raise EmbeddingProcessError(f"the embedding process ended (exit status {code})"
                                                + (f": {error}" if error else ""))
            self._last_used = time.monotonic()
        if answer[:1] != b"\x00":
            raise EmbeddingProcessError(f"the embedding process failed a batch: {answer[1:].decode(errors='replace')}")
        vecs = np.frombuffer(answer, dtype=np.float32, offset=1)
        if vecs.size != len(texts) * EMBED_DIM:
            raise EmbeddingProcessError(f"the embedding process sent {vecs.size} numbers for {len(texts)} texts")
        return vecs.reshape(len(texts), EMBED_DIM)

    def _ensure(self) -> subprocess.Popen:
        if self._closed:
            raise EmbeddingProcessError("the embedding process was closed")
        if self._proc is None or self._proc.poll() is not None:
            proc = subprocess.Popen([sys.executable, "-m", "edgelearn.embed.process"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env={**os.environ, **_CHILD_ENV})
            self._proc = proc
            self.started += 1
            self._last_used = time.monotonic()
            threading.Thread(target=_log_lines, args=(proc,), name="edgelearn-embed-stderr", daemon=True).start()
            if self._idle_s() > 0:
                threading.Thread(target=self._exit_when_idle, args=(proc,), name="edgelearn-embed-idle",
                                 daemon=True).start()
        return self._proc

    def _exit_when_idle(self, proc: subprocess.Popen) -> None:
        """Ends ``proc`` once it has had no batch for ``idle_s``; a batch under way holds the lock."""
        while not self._closing.is_set():
            with self._lock:
                if self._proc is not proc:
                    return  # ended or replaced meanwhile
                idle_s = self._idle_s()
                if idle_s <= 0:
                    return  # set to stay since this child started
                left = self._last_used + idle_s - time.monotonic()
                if left <= 0:
                    self._stop()
                    self.idle_exits += 1
                    log.info("embedding process idle for %gs: ended; the next batch starts it again", idle_s)
                    return
            self._closing.wait(left)

    def _stop(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        for stream in (proc.stdin, proc.stdout):  # stderr: its reader closes it at the end of the stream
            try:
                stream.close()
            except OSError:
                pass
        try:
            return proc.wait(timeout=10)  # stdin closed: the child's loop ends
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def close(self) -> None:
        """End the child now, even in the middle of a batch (that batch's call raises)."""
        self._closed = True
        self._closing.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with self._lock:
            self._stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None


def _log_lines(proc: subprocess.Popen) -> None:
    """The child's stderr, line by line, into the log (never onto the terminal)."""
    with proc.stderr:
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                log.info("embedding process: %s", line)


def lower_priority() -> None:
    """Run this process only when the machine has a core to spare: SCHED_IDLE on Linux (a waking
    server thread preempts it at once), else ``NICE`` steps below the parent."""
    if hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass
    if hasattr(os, "nice"):
        os.nice(NICE)


def main() -> None:
    """The child: read batches from stdin, answer on stdout, until stdin closes."""
    from edgelearn.embed.encode import BACKGROUND_THREADS, embed_texts

    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # whatever a library prints must not land in the answer stream
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    lower_priority()
    while True:
        payload = _read_frame(requests)
        if payload is None:
            return
        try:
            vecs = embed_texts(orjson.loads(payload), threads=BACKGROUND_THREADS)
            answer = b"\x00" + np.ascontiguousarray(vecs, dtype=np.float32).tobytes()
        except Exception as exc:  # noqa: BLE001 - reported to the server, which retries later
            answer = b"\x01" + f"{type(exc).__name__}: {exc}".encode()
        _write_frame(answers, answer)


if __name__ == "__main__":
    main()
