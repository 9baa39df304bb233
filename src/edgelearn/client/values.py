"""What the clients return: small values, the same whichever client made them.

They are built from the JSON shapes the HTTP API answers, so the embedded client (which reads
the store) and the HTTP client (which reads those bodies) cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Run:
    """One recorded run. ``signals`` and ``feedback`` are loaded by ``run()`` and the writes
    (``record``, ``add_signals``, ``feedback``); ``runs()`` leaves them None."""

    id: str
    role: str
    output: str
    reward: float | None
    reward_components: dict[str, float]
    created_at: float
    task: str | None = None
    input: Any = None
    model: str | None = None
    prompt: str | None = None
    session: str | None = None
    project: str | None = None
    status: str = "ok"
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    cost: float | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    embedded: bool = False
    signals: list[dict[str, Any]] | None = None
    feedback: list[dict[str, Any]] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        """A run from the shape ``GET /v1/runs/{id}`` answers (``model_variant``, ``prompt_variant``)."""
        return cls(
            id=d["id"], role=d["role"], output=d["output"], reward=d.get("reward"),
            reward_components=d.get("reward_components") or {}, created_at=d["created_at"], task=d.get("task"),
            input=d.get("input"), model=d.get("model_variant"), prompt=d.get("prompt_variant"),
            session=d.get("session"), project=d.get("project"), status=d.get("status") or "ok",
            tokens_in=d.get("tokens_in"), tokens_out=d.get("tokens_out"), latency_ms=d.get("latency_ms"),
            cost=d.get("cost"), metadata=d.get("metadata") or {}, embedded=bool(d.get("embedded")),
            signals=d.get("signals"), feedback=d.get("feedback"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Selection:
    """A prompt variant and a model chosen for a role; record the run with ``run_id=`` to close the loop."""

    run_id: str
    model: str
    prompt: str | None
    prompt_text: str | None
    backend: str | None
    model_name: str
    policy: str
    explanation: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Selection:
        """A selection from the shape ``POST /v1/select`` answers."""
        prompt, model = d.get("prompt") or {}, d["model"]
        return cls(run_id=d["run_id"], model=model["id"], prompt=prompt.get("id"), prompt_text=prompt.get("text"),
                   backend=model.get("backend"), model_name=model.get("name") or model["id"], policy=d["policy"],
                   explanation=d["explanation"])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SimilarRun:
    """A run whose task is near another's (cosine distance of their task embeddings)."""

    id: str
    distance: float
    task: str | None
    reward: float | None
    model: str | None
    project: str | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimilarRun:
        return cls(id=d["id"], distance=d["distance"], task=d.get("task"), reward=d.get("reward"),
                   model=d.get("model"), project=d.get("project"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Event:
    """One entry of the event log (every decision the loop takes is one)."""

    id: int
    ts: float
    type: str
    role: str | None
    subject: str | None
    payload: dict[str, Any]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(id=d["id"], ts=d["ts"], type=d["type"], role=d.get("role"), subject=d.get("subject"),
                   payload=d.get("payload") or {})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Session:
    """One agent session. ``outcomes`` holds the latest value of each outcome kind; ``reward`` is
    what those outcomes alone make. ``runs``, ``signals`` and ``feedback`` are loaded by
    ``session()``; ``sessions()`` leaves them None (``run_count`` is always there)."""

    id: str
    project: str | None
    agent: str | None
    started_at: float
    ended_at: float | None
    end_reason: str | None
    open: bool
    run_count: int
    scored: int
    mean_reward: float | None
    reward: float | None
    outcomes: dict[str, float]
    profile: dict[str, Any] | None = None
    runs: list[dict[str, Any]] | None = None
    signals: list[dict[str, Any]] | None = None
    feedback: list[dict[str, Any]] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Session:
        """A session from the shape ``GET /v1/sessions`` (``runs`` a count) or
        ``GET /v1/sessions/{id}`` (``runs`` a list, ``run_count`` the count) answers."""
        listed = isinstance(d.get("runs"), list)
        return cls(
            id=d["id"], project=d.get("project"), agent=d.get("agent"), started_at=d["started_at"],
            ended_at=d.get("ended_at"), end_reason=d.get("end_reason"), open=bool(d.get("open")),
            run_count=int(d["run_count"] if listed else d.get("runs") or 0), scored=int(d.get("scored") or 0),
            mean_reward=d.get("mean_reward"), reward=d.get("reward"), outcomes=d.get("outcomes") or {},
            profile=d.get("profile"), runs=d["runs"] if listed else None, signals=d.get("signals"),
            feedback=d.get("feedback"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SessionOutcome:
    """What an outcome (signals or a verdict) did to a session: the kinds it carried, how many of
    the session's runs it covers, and the ids of the runs whose reward it changed."""

    session: str
    signals: list[str]
    covered: int
    rescored: list[str]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SessionOutcome:
        """From the shape ``POST /v1/sessions/{id}/signals`` and ``/feedback`` answer."""
        return cls(session=d["session"], signals=list(d["signals"]), covered=int(d["covered"]),
                   rescored=list(d["rescored_ids"]))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ClusterLevel:
    """One task cluster of a role with a teacher (``cluster`` -1: tasks not clustered yet).

    ``level`` is the one routing uses (a pin wins), ``cluster_level`` the cluster's own;
    ``share`` the local share of eligible requests at ``level``. Rewards are means of the
    current level's runs; ``cost_saved`` is None when the teacher has no price."""

    cluster: int
    level: int
    cluster_level: int
    pinned: bool
    share: float
    requests: int
    local_requests: int
    local_share: float | None
    eligible_share: float | None
    local_reward: float | None
    teacher_reward: float | None
    shadow_agreement: float | None
    escapes: int
    escape_rate: float | None
    cost_saved: float | None
    champion: str | None
    since: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClusterLevel:
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SharePoint:
    """One time bucket of a role's runs: how many, how many a local model served, and what those
    local tokens would have cost at the teacher's price (None without a price)."""

    start: float
    requests: int
    local: int
    local_share: float | None
    cost_saved: float | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SharePoint:
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Independence:
    """How far one role with a teacher has moved to the local model (docs/independence.md).

    ``pin`` is the level pinned by hand (None: the rule moves each cluster); ``levels`` maps each
    cluster to the level routing uses. ``local_share``, ``escapes`` and ``cost_saved`` count the
    requests independence routed; ``series`` (oldest first, ``bucket_s`` apart) counts every run
    of the role; ``changes`` are the level changes and pins, newest first, as event dicts;
    ``shares`` the local share of eligible requests at levels 1-4."""

    role: str
    teacher: str
    enabled: bool
    pin: int | None
    price_per_m: dict[str, float] | None
    requests: int
    local_requests: int
    local_share: float | None
    eligible_share: float | None
    escapes: int
    cost_saved: float | None
    local_share_over_time: dict[str, float | None]
    clusters: tuple[ClusterLevel, ...]
    series: tuple[SharePoint, ...]
    bucket_s: int
    changes: tuple[dict[str, Any], ...]
    shares: tuple[float, ...] = ()

    @property
    def levels(self) -> dict[int, int]:
        return {c.cluster: c.level for c in self.clusters}

    @classmethod
    def from_dict(cls, d: dict[str, Any], bucket_s: int, shares: list[float] | tuple[float, ...] = ()) -> Independence:
        """One role of the shape ``GET /v1/learning/independence`` answers (``bucket_s`` and
        ``shares``, the local share at levels 1-4, are the body's)."""
        return cls(
            role=d["role"], teacher=d["teacher"], enabled=bool(d["enabled"]), pin=d.get("pin"),
            price_per_m=d.get("price_per_m"), requests=int(d.get("requests") or 0),
            local_requests=int(d.get("local_requests") or 0), local_share=d.get("local_share"),
            eligible_share=d.get("eligible_share"), escapes=int(d.get("escapes") or 0), cost_saved=d.get("cost_saved"),
            local_share_over_time=dict(d.get("local_share_over_time") or {}),
            clusters=tuple(ClusterLevel.from_dict(c) for c in d.get("clusters") or []),
            series=tuple(SharePoint.from_dict(p) for p in d.get("series") or []), bucket_s=bucket_s,
            changes=tuple(d.get("changes") or []), shares=tuple(shares))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
