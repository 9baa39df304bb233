"""The interface both clients give, and the argument checks they share.

``EmbeddedClient`` runs the store and the services in this process; ``HttpClient`` talks to a
runtime that serves. Each method below is one of the HTTP API's calls; both clients raise the
same ``edgelearn.errors`` classes with the same messages for the same bad input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgelearn.client.values import Event, Independence, Run, Selection, Session, SessionOutcome, SimilarRun
from edgelearn.errors import InvalidInput

# the toggles the TUI's Config screen and ``set_toggle`` switch: name → dotted config key
TOGGLES = {"auto_export": "export.auto_export", "auto_train": "train.auto_train", "auto_deploy": "deploy.auto_deploy"}
DEFAULT_REASON = "requested from Python"


class RunQuery(BaseModel):
    """The filters of ``runs()``, checked before the query (the same on both clients)."""

    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    project: str | None = None
    model: str | None = None
    prompt: str | None = None
    status: str | None = None
    session: str | None = None
    min_reward: float | None = Field(None, allow_inf_nan=False)
    max_reward: float | None = Field(None, allow_inf_nan=False)
    since: float | None = Field(None, allow_inf_nan=False)
    until: float | None = Field(None, allow_inf_nan=False)
    limit: int = Field(50, ge=1, le=1000)


class SessionQuery(BaseModel):
    """The filters of ``sessions()`` (``language`` / ``framework``: of the repository's profile)."""

    model_config = ConfigDict(extra="forbid")
    project: str | None = None
    agent: str | None = None
    open: bool | None = None
    since: float | None = Field(None, allow_inf_nan=False)
    until: float | None = Field(None, allow_inf_nan=False)
    language: str | None = None
    framework: str | None = None
    limit: int = Field(50, ge=1, le=1000)


def check_filters(filters: dict[str, Any], query_model: type[BaseModel] = RunQuery, what: str = "run") -> dict[str, Any]:
    """The filters of ``runs()`` (or of ``sessions()``: ``SessionQuery``) without the unset ones;
    ``InvalidInput`` names a bad one."""
    unknown = sorted(set(filters) - set(query_model.model_fields))
    if unknown:
        raise InvalidInput(f"{unknown[0]}: not a {what} filter (one of {', '.join(query_model.model_fields)})",
                           field=unknown[0])
    try:
        query = query_model.model_validate(filters)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{name}: {first['msg']}", field=name) from exc
    return query.model_dump(exclude_none=True)


def check_session_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters of ``sessions()`` without the unset ones; ``InvalidInput`` names a bad one."""
    return check_filters(filters, SessionQuery, "session")


def check_session_id(session_id: Any) -> str:
    """``session_id`` when it is a non-empty string (an empty one would name the list over HTTP)."""
    if not isinstance(session_id, str) or not session_id.strip():
        raise InvalidInput(f"session_id: must be a non-empty string, not {session_id!r}", field="session_id")
    return session_id


def json_body(fields: dict[str, Any]) -> bytes:
    """``fields`` as the JSON body of a request; ``InvalidInput`` for a value JSON cannot hold."""
    try:
        return orjson.dumps(fields)
    except TypeError as exc:
        raise InvalidInput(f"not JSON-serializable: {exc}") from exc


def check_toggle(name: str) -> str:
    """The config key of toggle ``name``; ``InvalidInput`` for a name that is not one."""
    key = TOGGLES.get(name)
    if key is None:
        raise InvalidInput(f"name: {name!r} is not a toggle (one of {', '.join(TOGGLES)})", field="name")
    return key


class Client(ABC):
    """One edgelearn, in this process or over HTTP. Use as a context manager, or call ``close()``.

    ``local`` says whether calls run in this process (cheap) or over HTTP; ``location`` is the
    store file or the URL.
    """

    local: bool
    location: str

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- recording ---------------------------------------------------------------------------
    @abstractmethod
    def record(self, **run: Any) -> Run:
        """Record a run (``role`` and ``output`` required; the fields of ``POST /v1/runs``); returns it scored."""

    @abstractmethod
    def add_signals(self, run_id: str, signals: dict[str, Any], source: str = "api") -> Run:
        """Attach late signals (compile, tests, errors, lint, human); the reward is recomputed."""

    @abstractmethod
    def feedback(self, run_id: str, kind: str, value: float | None = None, comment: str | None = None) -> Run:
        """Human feedback: ``accept``/``reject``, ``score`` (value 1-5) or ``thumbs`` (value 1 or -1)."""

    # --- reading runs ------------------------------------------------------------------------
    @abstractmethod
    def run(self, run_id: str) -> Run:
        """One run with its signals and feedback; ``NotFound`` for an unknown id."""

    @abstractmethod
    def runs(self, **filters: Any) -> list[Run]:
        """Runs newest first; filters: role, project, model, prompt, status, session, min_reward,
        max_reward, since, until (unix times), limit (1-1000, default 50)."""

    @abstractmethod
    def similar(self, run_id: str, k: int = 10) -> list[SimilarRun]:
        """The ``k`` runs of the same role whose task is nearest this run's (embeds it now if needed)."""

    @abstractmethod
    def count_runs(self, since: float | None = None) -> int:
        """How many runs exist (created at or after ``since``)."""

    @abstractmethod
    def stats(self, since: float | None = None, bucket_s: int = 3600) -> dict[str, Any]:
        """Counts and mean reward in total, by model, prompt and role, and per time bucket."""

    # --- choosing ----------------------------------------------------------------------------
    @abstractmethod
    def select(self, role: str, task: str | None = None, max_cost_per_1k: float | None = None) -> Selection:
        """Choose a prompt variant and a model for a task of ``role`` (the bandits)."""

    @abstractmethod
    def arms(self, role: str | None = None) -> list[dict[str, Any]]:
        """The bandit arms with pulls, mean reward, 95% interval and share of recent traffic."""

    # --- the loop ----------------------------------------------------------------------------
    @abstractmethod
    def status(self) -> dict[str, Any]:
        """The learning status: per role its stage, progress, champion, experiment, independence."""

    @abstractmethod
    def models(self, role: str | None = None) -> list[dict[str, Any]]:
        """Registered model versions, newest first per role, with their Ollama sync state."""

    @abstractmethod
    def experiments(self, role: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """A/B experiments with their per-variant statistics, newest first."""

    @abstractmethod
    def events(self, type: str | None = None, role: str | None = None, limit: int = 100) -> list[Event]:
        """The event log newest first; ``type`` matches a prefix (``model.`` for every model event)."""

    @abstractmethod
    def promote(self, version: str, reason: str = DEFAULT_REASON) -> None:
        """Make a model version its role's champion now (a running experiment of the role stops)."""

    @abstractmethod
    def retire(self, version: str, reason: str = DEFAULT_REASON) -> None:
        """Retire a model version."""

    @abstractmethod
    def rollback(self, role: str, reason: str = DEFAULT_REASON) -> str:
        """Roll the role's champion back; returns the model that serves the role now (``base`` if none)."""

    @abstractmethod
    def trigger(self, role: str, reason: str = DEFAULT_REASON) -> None:
        """Start a learning cycle for ``role`` now, whatever the thresholds say."""

    # --- independence (docs/independence.md) -------------------------------------------------
    @abstractmethod
    def independence(self, role: str | None = None, since: float | None = None, until: float | None = None,
                     bucket_s: int = 3600) -> list[Independence]:
        """Every role with a teacher (or ``role``: ``NotFound`` when it has none): levels per task
        cluster, local share, rewards, escapes, cost saved, and per ``bucket_s`` from ``since`` to
        ``until`` (default: the last 24 hours) the local share and cost saved."""

    @abstractmethod
    def pin_level(self, role: str, level: int, reason: str = DEFAULT_REASON) -> None:
        """Route every task cluster of ``role`` at ``level`` (0-4) until unpinned; ``InvalidInput``
        for a role without a teacher. An ``independence.pinned`` event keeps the reason."""

    @abstractmethod
    def unpin_level(self, role: str, reason: str = DEFAULT_REASON) -> bool:
        """Give ``role``'s clusters back to the rule; False when it was not pinned."""

    # --- sessions (docs/sessions.md) ---------------------------------------------------------
    @abstractmethod
    def sessions(self, **filters: Any) -> list[Session]:
        """Sessions newest first; filters: project, agent, open (True: only open ones, False: only
        ended ones), since, until (unix times of their start), language, framework (of the
        repository's profile), limit (1-1000, default 50)."""

    @abstractmethod
    def session(self, session_id: str) -> Session:
        """One session with its runs in order, its outcome signals and feedback; ``NotFound`` for an unknown id."""

    @abstractmethod
    def session_signals(self, session_id: str, signals: dict[str, Any], source: str = "api") -> SessionOutcome:
        """Outcome signals for a whole session (the kinds of ``add_signals``); its runs are rescored
        by the credit rule (a run's own signal of a kind outranks its session's)."""

    @abstractmethod
    def session_feedback(self, session_id: str, kind: str, value: float | None = None,
                         comment: str | None = None) -> SessionOutcome:
        """A human verdict on a whole session (the kinds of ``feedback``), stored as its ``human`` outcome."""

    @abstractmethod
    def review_queue(self, limit: int = 50) -> dict[str, Any]:
        """The sessions whose verdict would teach the loop the most, best first, within today's
        budget: ``{"budget", "left_today", "sessions": [...]}``."""

    @abstractmethod
    def failure_patterns(self) -> dict[str, Any]:
        """Failed sessions clustered by task: ``{"failed", "unembedded", "patterns": [...]}``."""

    # --- configuration -----------------------------------------------------------------------
    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The effective config: ``{"file": path, "settings": {...}}``."""

    @abstractmethod
    def set_toggle(self, name: str, value: bool) -> bool:
        """Switch ``auto_export``, ``auto_train`` or ``auto_deploy`` in the config file; returns the
        value in force afterwards (an ``EDGELEARN_*`` environment variable can override the file)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the client holds (the runtime it opened, or the HTTP connections)."""
