"""Independence: the paid teacher's traffic moves to the local champion, one safe level at a time.

    levels     levels 0-4, their local shares, the rule's knobs (IndependenceConfig)
    evidence   the always-valid non-inferiority test; cost saved
    state      how one (role, cluster) level moves: advance, fall back, reset
    scheduler  local or teacher for one request; sticky sessions; the escape hatch
    service    levels in the store, events, pins, the report (IndependenceService)
    shadows    shadow answers counted for the levels and for a running experiment's variants
    signals    shadow agreement and per-request confidence
    settings   the [independence] settings section (config.py imports it, so this file imports
               nothing of the package eagerly)

Routing reaches it as a service behind :class:`IndependenceRouter` (serve/ does not import
experiment/; it declares the same protocol on its side). docs/independence.md has the rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from edgelearn.experiment.independence.scheduler import RouteChoice


@runtime_checkable
class IndependenceRouter(Protocol):
    """What the "independence" service offers routing."""

    def decide(self, role: str, cluster: int | None, session: str | None, eligible: bool,
               confidence: float | None) -> "RouteChoice":
        """Local champion or teacher for one request of a role that has a teacher."""

    def escape(self, role: str, session: str | None, cluster: int | None = None,
               reason: str = "the local answer failed a check") -> "RouteChoice":
        """Move the session to the teacher for the rest of it (the request is retried there)."""
