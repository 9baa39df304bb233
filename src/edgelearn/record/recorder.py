"""Turning a record request into a stored, scored run; late signals and feedback.

Everything CPU-bound (validation, redaction, hashing, scoring) happens in the caller's
thread; the writer thread only inserts, so group commits stay short.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import random
import time
from typing import Any, Callable, Coroutine

import orjson

from edgelearn.config import Settings
from edgelearn.errors import InvalidInput
from edgelearn.record.privacy import Redactor
from edgelearn.record.rewards import compute_reward, normalize_signals
from edgelearn.record.schemas import FeedbackIn, RecordIn
from edgelearn.store import Store
from edgelearn.store.runs import NewRun, record_signals_json

log = logging.getLogger(__name__)

# the first of a burst of recordings after streams' ends waits this long (``Recorder.later``)
LATER_GRACE_S = 0.010

# a run larger than this (input + output characters) is prepared and committed off the event loop
LARGE_RUN_CHARS = 32_000


def run_chars(rec: RecordIn) -> int:
    """Characters of a run's input and output: the text redaction scans (~1 ms per 30 kB)."""
    if isinstance(rec.input, str):
        n = len(rec.input)
    else:
        n = sum(_message_chars(m) for m in rec.input or ())
    return n + len(rec.output)


def _message_chars(message) -> int:
    # agent turns put their text in content parts and tool-call arguments too
    content = message.content
    if isinstance(content, str):
        n = len(content)
    elif isinstance(content, list):
        n = sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    else:
        n = 0
    for call in getattr(message, "tool_calls", None) or ():
        if isinstance(call, dict):
            n += len((call.get("function") or {}).get("arguments") or "")
    return n


def new_run_id(now: float | None = None) -> str:
    """24 hex characters: milliseconds since the epoch, then 48 random bits (sortable by time)."""
    ms = int((time.time() if now is None else now) * 1000)
    # random's generator, not os.urandom: a syscall per run for an id that guards nothing
    return f"{ms:012x}{random.getrandbits(48):012x}"


def content_hash(input_text: str | None, output: str) -> str:
    """sha256 of the whitespace-normalized input and output (exact-duplicate detection)."""
    # str.split() splits on exactly the characters re's \s matches, at a fraction of the cost
    norm_in = " ".join((input_text or "").split())
    norm_out = " ".join(output.split())
    return hashlib.sha256(f"{norm_in}\x00{norm_out}".encode()).hexdigest()


def _dumps(value: Any, field: str) -> bytes:
    """JSON bytes of ``value`` as the store writes it; what JSON in SQLite cannot hold (an integer
    past 64 bits, a lone surrogate) is an ``InvalidInput`` naming ``field``."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError as exc:
        raise InvalidInput(f"{field}: {exc}", field=field) from None


class Recorder:
    """Validates, redacts and scores runs, and writes them through the store's writer."""

    def __init__(self, store: Store, settings: Callable[[], Settings]) -> None:
        self.store = store
        self._settings = settings
        self._redactor: Redactor | None = None
        self._redactor_key: tuple = ()
        self._rewards: Any = None
        self._weights: dict[str, float] = {}
        # runs recorded after their answer went out (``later``): done when committed, by id; the
        # recordings not started yet, the starter task, the recordings running
        self._later: dict[str, asyncio.Future] = {}
        self._queued: collections.deque[tuple[Coroutine[Any, Any, Any], asyncio.Future]] = collections.deque()
        self._starter: asyncio.Task | None = None
        self._recording: set[asyncio.Task] = set()

    def later(self, run_id: str, recording: Coroutine[Any, Any, Any]) -> None:
        """Record run ``run_id`` (``recording`` does) once its answer went out: a stream's last bytes
        do not wait for the writer. Until it is done, the endpoints that take a run id wait for it
        (``settled``), so a client holding the whole answer can attach signals at once; a stopping
        server drains it. Recordings start one per turn of the event loop, the first of a burst
        ``LATER_GRACE_S`` after it came: each one prepares its run on the loop's thread, and a hundred
        streams ending together must not hold up the last bytes of the others for their preparations
        (bench/RESULTS.md, gateway_stream_end)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._later[run_id] = done
        done.add_done_callback(lambda f: self._later.pop(run_id) if self._later.get(run_id) is f else None)
        self._queued.append((recording, done))
        if self._starter is None or self._starter.done() or self._starter.get_loop() is not loop:
            self._starter = loop.create_task(self._start_queued())

    async def _start_queued(self) -> None:
        loop = asyncio.get_running_loop()
        # streams that end together send their last bytes within a few milliseconds: those go first
        await asyncio.sleep(LATER_GRACE_S)
        while self._queued:
            recording, done = self._queued.popleft()
            task = loop.create_task(recording)  # its first step runs in the next turn, after the I/O
            self._recording.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(lambda t, d=done: self._recorded(t, d))
            await asyncio.sleep(0)

    def _recorded(self, task: asyncio.Task, done: asyncio.Future) -> None:
        self._recording.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording a run after its answer failed", exc_info=task.exception())
        if not done.done():
            done.set_result(None)

    async def settled(self, run_id: str | None = None, timeout: float = 30.0) -> None:
        """Wait until run ``run_id`` (every run, without an id) recorded ``later`` is committed or failed."""
        if run_id is None:
            waiting = list(self._later.values())
        else:
            waiting = [self._later[run_id]] if run_id in self._later else []
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)

    def redactor(self) -> Redactor | None:
        privacy = self._settings().privacy
        if not privacy.redact:
            return None
        key = tuple(privacy.blocked_patterns)
        if self._redactor is None or key != self._redactor_key:
            self._redactor = Redactor(privacy.blocked_patterns)
            self._redactor_key = key
        return self._redactor

    def _score(self, values: dict[str, float]) -> tuple[float | None, dict[str, float]]:
        rs = self._settings().rewards
        if rs is not self._rewards:  # a config reload makes new settings objects
            self._rewards, self._weights = rs, rs.weights.model_dump()
        return compute_reward(values, self._weights, rs.no_signal_reward)

    def prepare(self, rec: RecordIn) -> NewRun:
        """A ``NewRun`` ready for the writer; raises ``InvalidInput`` naming a bad field."""
        settings = self._settings()
        red = self.redactor()
        raw_signals = rec.signals
        values = normalize_signals(raw_signals, settings.rewards.errors_scale)
        reward, components = self._score(values)
        if rec.input is None:
            input_text = None
        elif isinstance(rec.input, str):
            input_text = red.text(rec.input) if red else rec.input
        else:
            msgs = [m.model_dump(exclude_none=True) for m in rec.input]
            input_text = _dumps(red.any(msgs) if red else msgs, "input").decode()
        output = red.text(rec.output) if red else rec.output
        task = rec.task
        if task is None and isinstance(rec.input, list):
            task = next((m.content for m in reversed(rec.input) if m.role == "user" and isinstance(m.content, str)), None)
        if task is not None and red:
            task = red.text(task)
        metadata = red.any(rec.metadata) if red else rec.metadata
        # the raw signal is stored as sent (test logs, lint output): it can hold PII too
        signals = {k: (v, red.any(raw_signals[k]) if red else raw_signals[k]) for k, v in values.items()}
        # serialised here, once: what JSON cannot hold is refused before the commit, and the writer stores these
        metadata_json = _dumps(metadata, "metadata").decode()
        try:
            signals_json = record_signals_json(signals)
        except TypeError as exc:
            raise InvalidInput(f"signals: {exc}", field="signals") from None
        now = time.time()
        return NewRun(
            id=rec.run_id or new_run_id(now),
            announced=rec.run_id is not None,
            minted=rec.run_id is None,
            created_at=rec.created_at if rec.created_at is not None else now,
            role=rec.role, output=output, content_hash=content_hash(input_text, output),
            session=rec.session, project=rec.project, task=task, prompt_variant=rec.prompt,
            model_variant=rec.model, input=input_text, tokens_in=rec.tokens_in, tokens_out=rec.tokens_out,
            latency_ms=rec.latency_ms, cost=rec.cost, status=rec.status, reward=reward,
            reward_components=components, metadata=metadata, signals=signals,
            metadata_json=metadata_json, signals_json=signals_json,
        )

    def record(self, rec: RecordIn) -> tuple[str, float | None]:
        """Store one run; returns (id, reward) after the commit."""
        run = self.prepare(rec)
        return self.store.write(lambda c: self.store.runs.insert_in(c, run))

    async def arecord(self, rec: RecordIn, run_id: str | None = None,
                      inline: bool = True) -> tuple[str, float | None]:
        """``record`` for the event loop. A run over ``LARGE_RUN_CHARS`` is prepared on a worker
        thread and committed by the writer thread, so the loop keeps serving meanwhile; a smaller
        one is prepared here and may commit inline (``inline=False``: always on the writer thread).
        ``run_id`` overrides the stored id."""
        large = run_chars(rec) > LARGE_RUN_CHARS
        run = await asyncio.to_thread(self.prepare, rec) if large else self.prepare(rec)
        if run_id is not None:
            run.id, run.minted = run_id, False
        return await self.store.awrite(lambda c: self.store.runs.insert_in(c, run), inline=inline and not large)

    def _batch_fn(self, recs: list[RecordIn]) -> Callable:
        runs = []
        for i, rec in enumerate(recs):
            try:
                runs.append(self.prepare(rec))
            except InvalidInput as exc:
                raise InvalidInput(f"runs.{i}.{exc}", field=f"runs.{i}.{exc.field}") from exc
        insert = self.store.runs.insert_in

        def fn(conn):
            # all or nothing: a failing run rolls the whole batch back (savepoint in the writer)
            return [insert(conn, run) for run in runs]

        return fn

    async def arecord_many(self, recs: list[RecordIn]) -> list[tuple[str, float | None]]:
        """Store many runs atomically in one transaction."""
        return await self.store.awrite(self._batch_fn(recs))

    def record_many(self, recs: list[RecordIn]) -> list[tuple[str, float | None]]:
        return self.store.write(self._batch_fn(recs))

    def add_signals(self, run_id: str, signals: dict[str, Any], source: str = "api") -> tuple[float | None, float | None]:
        """Attach late signals; the reward is recomputed from the latest value of each kind."""
        values = normalize_signals(signals, self._settings().rewards.errors_scale)
        red = self.redactor()
        packed = {k: (v, red.any(signals[k]) if red else signals[k]) for k, v in values.items()}
        return self.store.write(
            lambda c: self.store.runs.add_signals_in(c, run_id, packed, source, self._score))

    def add_feedback(self, fb: FeedbackIn, run_id: str) -> tuple[float | None, float | None]:
        """Human feedback: stored as feedback and as the run's ``human`` signal."""
        raw = fb.signal()
        values = normalize_signals({"human": raw}, self._settings().rewards.errors_scale)
        comment = self.redactor().text(fb.comment) if (fb.comment and self.redactor()) else fb.comment
        packed = {"human": (values["human"], raw)}
        feedback = (fb.kind, values["human"], raw, comment)
        return self.store.write(lambda c: self.store.runs.add_signals_in(
            c, run_id, packed, "feedback", self._score, feedback=feedback))
