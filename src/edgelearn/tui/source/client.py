"""``ClientSource``: the screens' data through a public client (``edgelearn.open`` or ``connect``).

Only the dashboard's figures are put together here (from counts and statistics the client
gives); everything else is the client's answer as a dict.
"""

from __future__ import annotations

from typing import Any

from edgelearn.client.base import TOGGLES, Client
from edgelearn.tui import derive
from edgelearn.tui.source.base import RunFilter


class ClientSource:
    """Reads and steers edgelearn through ``client``; closes it on ``close()`` when it ``owns`` it."""

    def __init__(self, client: Client, *, owns: bool = False) -> None:
        self.client = client
        self.owns = owns
        self.kind = "local" if client.local else "http"

    def describe(self) -> str:
        return f"local · {self.client.location}" if self.client.local else f"attached · {self.client.location}"

    def close(self) -> None:
        if self.owns:
            self.client.close()

    # --- the dashboard ----------------------------------------------------------------------
    def learning_status(self) -> dict[str, Any]:
        return self.client.status()

    def overview(self, now: float) -> dict[str, Any]:
        client = self.client
        counts = ((w, b, client.count_runs(since=now - w)) for w, b in derive.TREND_WINDOWS)
        window, bucket = derive.pick_trend_window(counts)
        stats = client.stats(since=now - window, bucket_s=bucket)
        recent = client.count_runs(since=now - derive.RATE_WINDOW_S)
        # over HTTP the total is a pass over every run on each refresh: shown in process only
        total = client.count_runs() if client.local else None
        return {"runs_total": total, "runs_per_min": recent * 60.0 / derive.RATE_WINDOW_S, "window_s": window,
                "bucket_s": bucket, "trend": stats["over_time"], "window": stats["total"]}

    def independence(self, now: float, window_s: float) -> list[dict[str, Any]]:
        """Every role with a teacher, its chart over ``window_s`` in ``derive.SPARK_BUCKETS`` buckets."""
        bucket = max(60, int(window_s // derive.SPARK_BUCKETS))
        return [r.to_dict() for r in self.client.independence(since=now - window_s, until=now, bucket_s=bucket)]

    # --- lists and details ------------------------------------------------------------------
    def runs(self, flt: RunFilter, limit: int = 200) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.client.runs(**flt.params(), limit=limit)]

    def run(self, run_id: str) -> dict[str, Any]:
        return self.client.run(run_id).to_dict()

    def similar(self, run_id: str, k: int = 5) -> dict[str, Any]:
        """Runs with the nearest task, once the background embedder has embedded this one
        (asking earlier would load the embedding model wherever the client runs)."""
        if not self.client.run(run_id).embedded:
            return {"embedded": False, "similar": []}
        return {"embedded": True, "similar": [s.to_dict() for s in self.client.similar(run_id, k)]}

    def arms(self) -> list[dict[str, Any]]:
        return self.client.arms()

    def models(self) -> list[dict[str, Any]]:
        return self.client.models()

    def experiments(self) -> list[dict[str, Any]]:
        return self.client.experiments()

    def events(self, type: str | None = None, role: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.client.events(type=type, role=role, limit=limit)]

    def config(self) -> dict[str, Any]:
        config = self.client.config()
        settings = config["settings"]
        toggles = {name: bool((settings.get(key.split(".")[0]) or {}).get(key.split(".")[1]))
                   for name, key in TOGGLES.items()}
        return {"file": config["file"], "settings": settings, "toggles": toggles}

    # --- sessions ---------------------------------------------------------------------------
    def sessions_overview(self, limit: int = 200) -> dict[str, Any]:
        """The Sessions screen's three tables in one read: the sessions, the review queue and
        the failure patterns."""
        return {"sessions": [s.to_dict() for s in self.client.sessions(limit=limit)],
                "review": self.client.review_queue(), "patterns": self.client.failure_patterns()}

    def session(self, session_id: str) -> dict[str, Any]:
        """One session with its runs in order (its trajectory)."""
        return self.client.session(session_id).to_dict()

    def session_verdict(self, session_id: str, kind: str) -> dict[str, Any]:
        """Accept or reject a whole session; ``rescored`` counts the runs whose reward changed."""
        out = self.client.session_feedback(session_id, kind)
        return {"session": out.session, "rescored": len(out.rescored)}

    # --- actions ----------------------------------------------------------------------------
    def set_toggle(self, name: str, value: bool) -> dict[str, Any]:
        """Write the toggle into the config file; ``effective`` is what is in force afterwards."""
        effective = self.client.set_toggle(name, bool(value))
        return {"key": TOGGLES[name], "value": bool(value), "effective": effective,
                "file": self.client.config()["file"]}

    def promote(self, model_id: str, reason: str) -> dict[str, Any]:
        self.client.promote(model_id, reason)
        return {"model": model_id, "state": "champion"}

    def retire(self, model_id: str, reason: str) -> dict[str, Any]:
        self.client.retire(model_id, reason)
        return {"model": model_id, "state": "retired"}

    def pin_level(self, role: str, level: int, reason: str) -> dict[str, Any]:
        self.client.pin_level(role, level, reason)
        return {"role": role, "pin": level}

    def unpin_level(self, role: str, reason: str) -> dict[str, Any]:
        """``unpinned`` is False when the role was not pinned (nothing changed)."""
        return {"role": role, "unpinned": self.client.unpin_level(role, reason)}

    def rollback(self, role: str, reason: str) -> dict[str, Any]:
        """Roll back the role's champion; ``restored`` is what serves the role afterwards."""
        return {"role": role, "restored": self.client.rollback(role, reason)}
