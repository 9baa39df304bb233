"""The "independence" service: levels in the store, the scheduler in front, events for every change.

Routing calls :meth:`IndependenceService.decide` and :meth:`escape` (see ``IndependenceRouter``
in this package); rewards reach :meth:`observe_in` inside their own write transaction (the
``on_reward`` hook reads where a run was served from its metadata), so a level moves in the
same commit as the reward that moved it. Levels and pins are read from the store at most once
a second for routing, and at once after a change made here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

import apsw
import orjson

from edgelearn.errors import InvalidInput
from edgelearn.experiment.independence import state as rule
from edgelearn.experiment.independence.evidence import cost_saved
from edgelearn.experiment.independence.levels import IndependenceConfig, check_cluster, check_level
from edgelearn.experiment.independence.scheduler import RouteChoice, Scheduler
from edgelearn.experiment.independence.shadows import PendingShadow, ShadowCounting
from edgelearn.roles import check_role
from edgelearn.store.events import EventsRepo
from edgelearn.store.independence import ClusterState

log = logging.getLogger(__name__)
FLUSH_S = 5.0  # how often the request counters reach the store (the report lags by this much)

METADATA_KEY = "independence"  # run metadata: {"cluster": int | None, "side": "local" | "teacher" | "shadow"}
_EVENT = {"advance": "independence.advanced", "fallback": "independence.fell_back",
          "rollback": "independence.rolled_back"}


def _check_tokens(value: object, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{field} must be an integer >= 0, got {value!r}", field=field)
    return value


class IndependenceService(ShadowCounting):
    """Owns every role's independence levels in one runtime (or one test, or the CLI)."""

    def __init__(self, store, config: Callable[[], IndependenceConfig] | IndependenceConfig | None = None) -> None:
        self.store = store
        fixed = config if isinstance(config, IndependenceConfig) else IndependenceConfig()
        self._config = config if callable(config) and not isinstance(config, IndependenceConfig) else (lambda: fixed)
        self._levels: dict[tuple[str, int], int] = {}
        self._pins: dict[str, int] = {}
        self._cache_at = -1.0
        self._lock = threading.Lock()
        self._stale = False
        self._roles: set[str] = set()  # roles routed here: only their runs are looked up on insert
        self._stop = threading.Event()
        self.embed: Callable[[str], Any] | None = None  # a task's embedding, for per-request confidence
        # shadow answers of teacher runs not scored yet, by the teacher's run id; in process
        self._shadows: OrderedDict[str, list[PendingShadow]] = OrderedDict()
        # a replayable check of a local answer: (messages, text, tool calls) -> passed, or None when it
        # has none for these messages; the demo registers its task pack's tests
        self.check: Callable[[list[dict], str, list[dict]], bool | None] | None = None
        self.agreement: dict[tuple[str, int], list[float]] = {}  # (role, cluster) -> [sum, n] since start
        self._thread: threading.Thread | None = None
        self.scheduler = Scheduler(self.config, self._level, self._pin)

    @classmethod
    def from_settings(cls, store, settings: Callable[[], Any]) -> "IndependenceService":
        """A service that reads ``[independence]`` and ``[drift]`` from the current settings each time."""
        return cls(store, lambda: IndependenceConfig.from_settings(settings()))

    def config(self) -> IndependenceConfig:
        return self._config()

    def attach(self) -> "IndependenceService":
        """Count rewards of runs routed by independence (their metadata says where) as they are scored."""
        self.store.runs.reward_hooks.append(self.on_reward)
        self.store.writer.add_after_commit(self._after_commit)
        return self

    def start(self) -> None:
        """Flush the request counters to the store every ``FLUSH_S`` seconds in the background."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="edgelearn-independence", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the background flush; the counters gathered since the last one are written now."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=10)
        try:
            self.flush()
        except Exception:  # a closing store loses a few seconds of counters, not the stop
            log.exception("flushing independence counters at stop failed")

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_S):
            try:
                self.flush()
            except Exception:  # this tick's counters are lost; the next tick goes on
                log.exception("flushing independence counters failed")

    # routing ----------------------------------------------------------------------------------
    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._cache_at > 1.0:  # the CLI may pin from another process: re-read each second
            with self._lock:
                self._levels = self.store.independence.levels()
                self._pins = {role: pin.level for role, pin in self.store.independence.pins().items()}
                self._roles |= {role for role, _ in self._levels}
                self._cache_at = now

    def _level(self, role: str, cluster: int) -> int:
        self._refresh()
        return self._levels.get((role, cluster), 0)

    def _pin(self, role: str) -> int | None:
        self._refresh()
        return self._pins.get(role)

    def invalidate(self) -> None:
        self._cache_at = -1.0

    def _after_commit(self) -> None:
        if self._stale:
            self._stale = False
            self.invalidate()

    def decide(self, role: str, cluster: int | None, session: str | None, eligible: bool,
               confidence: float | None) -> RouteChoice:
        """Local or teacher for one request (``scheduler`` module docstring has the order of the rule)."""
        choice = self.scheduler.decide(role, cluster, session, eligible, confidence)
        self._roles.add(role)
        return choice

    def escape(self, role: str, session: str | None, cluster: int | None = None,
               reason: str = "the local answer failed a check") -> RouteChoice:
        """Move ``session`` to the teacher for good; the caller retries the request there."""
        return self.scheduler.escape(role, session, cluster, reason)

    def confidence(self, role: str, cluster: int | None, task: str | None) -> float | None:
        """The local model's confidence on ``task`` (confidence module); None at level 0, without an
        embedder, or without scored local runs on similar tasks. Embeds the task: call it off the loop."""
        if self.embed is None or not task or self.level(role, cluster) == 0:
            return None
        from edgelearn.experiment.independence.confidence import local_confidence

        champion = self.store.models.champion(role)
        try:
            return local_confidence(self.store, role, task, self.embed, champion.id if champion else "base")
        except Exception:  # no confidence is "unknown": the level alone decides
            log.warning("independence: confidence for %s failed", role, exc_info=True)
            return None

    def level(self, role: str, cluster: int | None) -> int:
        """The level routing uses for ``role`` on ``cluster`` (a pin wins)."""
        return self.scheduler.level_of(check_role(role), check_cluster(cluster))

    def flush(self) -> int:
        """Add the scheduler's request counters to the store (call it from a periodic tick); returns rows."""
        counts = self.scheduler.take_counts()
        if not counts:
            return 0

        def fn(conn):
            for (role, cluster), c in counts.items():
                self.store.independence.add_counts_in(conn, role, cluster, requests=c["requests"],
                                                      local_requests=c["local_requests"],
                                                      ineligible=c["ineligible"], escapes=c["escapes"])

        self.store.write(fn)
        return len(counts)

    # rewards ----------------------------------------------------------------------------------
    def observe_in(self, conn: apsw.Connection, role: str, cluster: int | None, side: str, old: float | None,
                   new: float | None, *, tokens_in: int | None = None, tokens_out: int | None = None,
                   champion: str | None = None) -> rule.LevelChange | None:
        """Count one scored run inside the caller's transaction and move the level if the rule says so.

        ``side`` is where the run was served (``local``, ``teacher``) or ``shadow`` for a background
        answer; ``old``/``new`` are its previous and current reward (a late signal rescoring it).
        Tokens of local runs add to the cost saved; ``champion`` names the local model (a
        different one than the cluster's restarts its evidence).
        """
        check_role(role)
        key = check_cluster(cluster)
        tokens_in, tokens_out = _check_tokens(tokens_in, "tokens_in"), _check_tokens(tokens_out, "tokens_out")
        repo = self.store.independence
        state = repo.get_in(conn, role, key)
        if champion is not None and side != "teacher" and champion != state.champion:
            if state.champion is not None:
                rule.reset(state, champion=champion, to_zero=False, reason=f"new champion {champion}")
            state.champion = champion
        if side == "local":
            state.local_tokens_in += tokens_in
            state.local_tokens_out += tokens_out
        pinned = repo.pin_in(conn, role) is not None
        change = rule.observe(state, side, old, new, self.config(), pinned=pinned)
        repo.save_in(conn, state)
        if change is not None:
            self._event_in(conn, change)
        return change

    def observe(self, role: str, cluster: int | None, side: str, reward: float | None, *, old: float | None = None,
                tokens_in: int | None = None, tokens_out: int | None = None,
                champion: str | None = None) -> rule.LevelChange | None:
        """:meth:`observe_in` in its own write; returns after the commit."""
        change = self.store.write(lambda conn: self.observe_in(conn, role, cluster, side, old, reward,
                                                               tokens_in=tokens_in, tokens_out=tokens_out,
                                                               champion=champion))
        self.invalidate()
        return change

    def on_reward(self, conn: apsw.Connection, run: dict[str, Any], old: float | None, new: float | None) -> None:
        """Reward hook: runs whose metadata carries ``independence`` count on their side."""
        if old == new:
            return
        meta = run.get("metadata")
        routed = run.get("role") in self._roles
        if isinstance(meta, str):  # rescoring hands the row's JSON text
            try:
                mark = (orjson.loads(meta) or {}).get(METADATA_KEY)
            except (orjson.JSONDecodeError, AttributeError):
                return
        elif isinstance(meta, dict):  # a new run's own metadata: only routed roles' runs carry a mark
            mark = meta.get(METADATA_KEY) if routed else None
        elif meta is None and run.get("seq") is not None and routed:
            # a session rescoring's row carries no metadata: read the mark of runs of routed roles only
            mark = self.store.independence.run_mark_in(conn, run["seq"], METADATA_KEY)
        else:
            mark = None
        if not isinstance(mark, dict):
            return
        first = old is None
        try:
            change = self.observe_in(conn, run["role"], mark.get("cluster"), mark.get("side", ""), old, new,
                                     tokens_in=run.get("tokens_in") if first else None,
                                     tokens_out=run.get("tokens_out") if first else None,
                                     champion=run.get("model_variant") if mark.get("side") != "teacher" else None)
        except InvalidInput as exc:  # a malformed mark must not fail the reward's transaction
            log.warning("run %s: independence metadata ignored: %s", run.get("id"), exc)
            return
        if change is not None:
            self._stale = True
        if mark.get("side") == "teacher" and self._shadows:
            self._shadow_in(conn, run, old, new)

    def _event_in(self, conn: apsw.Connection, change: rule.LevelChange) -> None:
        config = self.config()
        payload = change.to_dict() | {"share": config.share(change.new), "old_share": config.share(change.old)}
        EventsRepo.append_in(conn, _EVENT[change.kind], payload, role=change.role, subject=str(change.cluster))

    # champions --------------------------------------------------------------------------------
    def champion_changed(self, role: str, champion: str | None, *, rolled_back: bool, reason: str) -> list[rule.LevelChange]:
        """Restart the role's evidence for a new champion; a rollback drops every cluster to level 0."""
        check_role(role)

        def fn(conn):
            changes = []
            for state in self.store.independence.role_in(conn, role):
                change = rule.reset(state, champion=champion, to_zero=rolled_back, reason=reason)
                self.store.independence.save_in(conn, state)
                if change is not None:
                    self._event_in(conn, change)
                    changes.append(change)
            return changes

        changes = self.store.write(fn)
        self.invalidate()
        return changes

    def champion_changed_in(self, conn: apsw.Connection, role: str, champion: str | None, *, rolled_back: bool,
                            reason: str) -> None:
        """:meth:`champion_changed` inside the caller's transaction (e.g. the experiments' rollback)."""
        for state in self.store.independence.role_in(conn, role):
            change = rule.reset(state, champion=champion, to_zero=rolled_back, reason=reason)
            self.store.independence.save_in(conn, state)
            if change is not None:
                self._event_in(conn, change)
        self._stale = True

    # pins -------------------------------------------------------------------------------------
    def pin(self, role: str, level: int, reason: str = "pinned by hand") -> None:
        """Route every cluster of ``role`` at ``level`` until unpinned; levels stop moving meanwhile."""
        check_role(role)
        check_level(level)
        self._repin(role, level, reason)

    def unpin(self, role: str, reason: str = "unpinned") -> bool:
        """Give ``role``'s clusters back to the rule; False when it was not pinned."""
        check_role(role)
        return self._repin(role, None, reason)

    def _repin(self, role: str, level: int | None, reason: str) -> bool:
        def fn(conn):
            repo = self.store.independence
            old = repo.pin_in(conn, role)
            if level is None:
                if not repo.clear_pin_in(conn, role):
                    return False
            else:
                repo.set_pin_in(conn, role, level, reason)
            # traffic served under a pin says nothing about the cluster's own level: restart
            for state in repo.role_in(conn, role):
                rule.reset(state, champion=state.champion, to_zero=False, reason=reason)
                repo.save_in(conn, state)
            EventsRepo.append_in(conn, "independence.pinned" if level is not None else "independence.unpinned",
                                 {"level": level, "previous": old.level if old else None, "reason": reason},
                                 role=role)
            return True

        done = self.store.write(fn)
        self.invalidate()
        return done

    # reporting --------------------------------------------------------------------------------
    def _agreement(self, role: str, cluster: int) -> float | None:
        total, n = self.agreement.get((role, cluster), (0.0, 0))
        return total / n if n else None

    def report(self, role: str | None = None, prices: dict[str, tuple[float, float]] | None = None) -> list[dict]:
        """Per role and cluster: level, share, requests, local vs teacher reward, escapes, cost saved.

        ``prices`` maps a role to its teacher's (input, output) price per million tokens.
        """
        config = self.config()
        pins = self.store.independence.pins()
        out = []
        for s in self.store.independence.list(role):
            pin = pins.get(s.role)
            level = pin.level if pin else s.level
            price = (prices or {}).get(s.role)
            out.append({
                "role": s.role, "cluster": s.cluster, "level": level, "cluster_level": s.level,
                "pinned": pin is not None, "share": config.share(level), "champion": s.champion,
                "since": s.since, "requests": s.requests, "local_requests": s.local_requests,
                "local_share": s.local_requests / s.requests if s.requests else None,
                "eligible_share": 1.0 - s.ineligible / s.requests if s.requests else None,
                "escapes": s.escapes,
                "escape_rate": s.escapes / s.local_requests if s.local_requests else None,
                **_side_means(s), "shadow_agreement": self._agreement(s.role, s.cluster),
                "local_tokens_in": s.local_tokens_in, "local_tokens_out": s.local_tokens_out,
                "cost_saved": cost_saved(s.local_tokens_in, s.local_tokens_out, *price) if price else None,
            })
        return out


def _side_means(s: ClusterState) -> dict[str, Any]:
    return {f"{side}_reward": (getattr(s, side).sum / getattr(s, side).n if getattr(s, side).n else None)
            for side in rule.SIDES} | {f"{side}_n": getattr(s, side).n for side in rule.SIDES}


def install(runtime) -> IndependenceService:
    """Register the "independence" service on a runtime, reading its settings live."""
    service = IndependenceService.from_settings(runtime.store, lambda: runtime.settings).attach()
    if runtime.embedder is not None:  # runs get task embeddings: similar past tasks can be found
        from edgelearn.embed.encode import embed_texts

        service.embed = lambda text: embed_texts([text])[0]
    runtime.add_service("independence", service)
    return service
