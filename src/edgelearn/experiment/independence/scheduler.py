"""Which side answers one request of a role that has a teacher: the local champion or the teacher.

``decide(role, cluster, session, eligible, confidence)`` in this order:

1. independence switched off: the teacher;
2. a session seen before keeps its side (one agent session is never split mid-task), except
   that a local session whose request no longer fits the local context moves to the teacher
   for good (an agent's prompt only grows within a session);
3. a request that does not fit the local context: the teacher, counted as *ineligible*, not
   as a local failure;
4. level 0: the teacher;
5. the session's uniform number ``u`` (a hash of role and session, as experiments do) at or
   above the level's share: the teacher. Keyed on the role alone, so a level going up only
   moves new sessions towards local, and a session's cluster level picks its share;
6. the local model's confidence on the request, when known, below ``min_confidence``: the
   teacher;
7. else the local champion.

``escape(role, session)`` moves a session to the teacher for the rest of it (a local answer
failed a cheap check). Session memory is in process, bounded (LRU); after a restart a
session is decided afresh by the same hash, so it keeps its side unless its level changed.
Requests without a session are drawn afresh each time, with the same shares.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from typing import Callable, Literal

from edgelearn.errors import InvalidInput
from edgelearn.experiment.assign import bucket
from edgelearn.experiment.independence.levels import IndependenceConfig, check_cluster
from edgelearn.roles import check_role

Target = Literal["local", "teacher"]
MAX_SESSIONS = 100_000


@dataclass(frozen=True)
class RouteChoice:
    """Where one request goes and why; ``shadow`` asks for a background local answer too."""

    target: Target
    reason: str
    role: str
    cluster: int
    level: int
    share: float
    eligible: bool = True
    shadow: bool = False
    sticky: bool = False

    @property
    def local(self) -> bool:
        return self.target == "local"


def _uniform() -> float:
    return secrets.randbits(53) / float(1 << 53)


class Scheduler:
    """The per-request rule; levels and pins come from callables (the service's cache)."""

    def __init__(self, config: Callable[[], IndependenceConfig], level: Callable[[str, int], int],
                 pin: Callable[[str], int | None], *, max_sessions: int = MAX_SESSIONS) -> None:
        self._config = config
        self._level = level
        self._pin = pin
        self._sessions: OrderedDict[tuple[str, str], RouteChoice] = OrderedDict()
        self._max_sessions = max_sessions
        self._lock = threading.Lock()
        # (role, cluster) -> Counter(requests, local_requests, ineligible, escapes), taken by the service
        self.counts: dict[tuple[str, int], Counter] = {}

    def level_of(self, role: str, cluster: int) -> int:
        """The level that routes ``role``'s requests on ``cluster``: the pin, else the cluster's."""
        pinned = self._pin(role)
        return pinned if pinned is not None else self._level(role, cluster)

    def decide(self, role: str, cluster: int | None, session: str | None, eligible: bool,
               confidence: float | None) -> RouteChoice:
        """Local or teacher for this request (see the module docstring); InvalidInput names a bad argument."""
        check_role(role)
        key = check_cluster(cluster)
        if session is not None and not isinstance(session, str):
            raise InvalidInput(f"session must be a string or None, got {session!r}", field="session")
        if not isinstance(eligible, bool):
            raise InvalidInput(f"eligible must be true or false, got {eligible!r}", field="eligible")
        if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
                                       or not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0):
            raise InvalidInput(f"confidence must be a number in [0, 1] or None, got {confidence!r}",
                               field="confidence")
        config = self._config()
        with self._lock:
            choice = self._choose(config, role, key, session, eligible, confidence)
            counts = self.counts.setdefault((role, key), Counter())  # the request's cluster, not its session's
            counts["requests"] += 1
            counts["local_requests"] += choice.local
            counts["ineligible"] += not eligible
        return choice

    def _choose(self, config: IndependenceConfig, role: str, cluster: int, session: str | None, eligible: bool,
                confidence: float | None) -> RouteChoice:
        if not config.enabled:
            return RouteChoice("teacher", "independence is switched off", role, cluster, 0, 0.0, eligible)
        if session:
            known = self._sessions.get((role, session))
            if known is not None:
                self._sessions.move_to_end((role, session))
                if known.local and not eligible:
                    moved = replace(known, target="teacher", eligible=False, sticky=True,
                                    reason="the session's request no longer fits the local context; "
                                           "the session stays with the teacher")
                    self._sessions[(role, session)] = moved
                    return moved
                return replace(known, sticky=True, eligible=eligible, shadow=False)
        level = self.level_of(role, cluster)
        share = config.share(level)
        u = bucket(f"independence:{role}", "s:" + session) if session else _uniform()
        if not eligible:
            choice = RouteChoice("teacher", "does not fit the local model's context (ineligible)", role, cluster,
                                 level, share, eligible=False)
        elif level == 0:
            choice = RouteChoice("teacher", "level 0: every request goes to the teacher", role, cluster, level, share)
        elif u >= share:
            choice = RouteChoice("teacher", f"level {level}: in the teacher's {1 - share:.0%}", role, cluster,
                                 level, share)
        elif confidence is not None and confidence < config.min_confidence:
            choice = RouteChoice("teacher", f"local confidence {confidence:.2f} < {config.min_confidence:.2f}", role,
                                 cluster, level, share)
        else:
            choice = RouteChoice("local", f"level {level}: in the local {share:.0%}", role, cluster, level, share)
        if choice.target == "teacher" and eligible and config.shadow_share > 0 and _uniform() < config.shadow_share:
            choice = replace(choice, shadow=True)
        if session:
            self._sessions[(role, session)] = choice
            while len(self._sessions) > self._max_sessions:
                self._sessions.popitem(last=False)
        return choice

    def escape(self, role: str, session: str | None, cluster: int | None = None,
               reason: str = "the local answer failed a check") -> RouteChoice:
        """Send the rest of ``session`` to the teacher (and this request's retry); counts an escape.

        ``cluster`` defaults to the cluster the session was first routed on.
        """
        check_role(role)
        key = check_cluster(cluster)
        with self._lock:
            known = self._sessions.get((role, session)) if session else None
            if known is not None and cluster is None:
                key = known.cluster
            level = self.level_of(role, key)
            choice = RouteChoice("teacher", f"escape: {reason}", role, key, level, self._config().share(level),
                                 sticky=True)
            if session:
                self._sessions[(role, session)] = choice
                self._sessions.move_to_end((role, session))
            self.counts.setdefault((role, key), Counter())["escapes"] += 1
        return choice

    def session(self, role: str, session: str) -> RouteChoice | None:
        """What ``session`` was routed to, if it is remembered."""
        with self._lock:
            return self._sessions.get((role, session))

    def take_counts(self) -> dict[tuple[str, int], Counter]:
        """The request counters since the last call (the service adds them to the store)."""
        with self._lock:
            counts, self.counts = self.counts, {}
        return counts
