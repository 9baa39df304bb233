"""``EmbeddedClient``: the store and the services in this process, no HTTP.

Each method calls the library functions the HTTP handlers call (the recorder, the selector,
the experiments service, the loop's status, the sessions' credit rule and insights), with the request bodies checked by the same
pydantic models, so both clients answer alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from edgelearn.checks import check_range, check_time
from edgelearn.client.base import (
    DEFAULT_REASON,
    Client,
    check_filters,
    check_session_filters,
    check_session_id,
    check_toggle,
    json_body,
)
from edgelearn.client.values import Event, Independence, Run, Selection, Session, SessionOutcome, SimilarRun
from edgelearn.errors import ConfigError, InvalidInput, NotFound, SelectionError
from edgelearn.roles import check_role


@dataclass
class _Detached:
    """What the client needs of a runtime, over a bare store (``edgelearn tui --store``): nothing runs."""

    store: Any
    settings: Any
    config_file: Path | None = None
    watcher: Any = None
    services: dict[str, Any] = field(default_factory=dict)
    recorder: Any = None

    def __post_init__(self) -> None:
        from edgelearn.record.recorder import Recorder

        self.recorder = Recorder(self.store, lambda: self.settings)

    def add_service(self, name: str, service: Any) -> None:
        self.services[name] = service  # nothing runs here: kept, never started


def _body(schema: type, fields: dict[str, Any]) -> Any:
    """``fields`` checked as the HTTP handler checks its body (same messages, same errors)."""
    from edgelearn.record.schemas import parse_json

    return parse_json(schema, json_body(fields))


def _outcome(out: Any) -> SessionOutcome:
    """A ``store.sessions.Outcome`` as the value both clients return."""
    return SessionOutcome(session=out.session_id, signals=list(out.kinds), covered=len(out.covered),
                          rescored=[run_id for run_id, _, _ in out.rescored])


class EmbeddedClient(Client):
    """edgelearn in this process: ``EmbeddedClient(home)`` opens (and owns) a runtime;
    ``over_runtime`` and ``over_store`` use one the caller owns."""

    local = True

    def __init__(self, home: Path | str | None = None, *, embed: bool | None = None, start: bool = True,
                 runtime: Any = None) -> None:
        self._owned = runtime is None
        if runtime is None:
            from edgelearn.config import home_dir
            from edgelearn.runtime import Runtime

            home = Path(home).expanduser() if home is not None else home_dir()
            home.mkdir(parents=True, exist_ok=True)
            env = os.environ.get("EDGELEARN_CONFIG")
            config_file = Path(env).expanduser() if env else home / "edgelearn.toml"
            runtime = Runtime(home=home, config_file=config_file, embed=embed)
            if start:
                try:
                    runtime.start()
                except BaseException:
                    runtime.stop()
                    raise
        self.runtime = runtime
        self.location = str(runtime.store.path)
        self._closed = False

    @classmethod
    def over_runtime(cls, runtime: Any) -> EmbeddedClient:
        """A client over a runtime the caller built (and stops): the TUI in the runtime's process."""
        return cls(runtime=runtime)

    @classmethod
    def over_store(cls, store: Any, settings: Any = None, config_file: Path | None = None) -> EmbeddedClient:
        """A client over a bare store with no services running (a copy of edgelearn.db, or tests);
        the caller closes the store. Selection and triggers need a runtime and are refused."""
        from edgelearn.config import Settings
        from edgelearn.experiment.independence.service import IndependenceService
        from edgelearn.experiment.service import ExperimentService

        detached = _Detached(store, settings or Settings(), config_file)
        detached.services["experiments"] = ExperimentService(detached)
        # reads levels and writes pins; routes nothing (no gateway here)
        detached.services["independence"] = IndependenceService.from_settings(store, lambda: detached.settings)
        return cls(runtime=detached)

    @property
    def store(self) -> Any:
        return self.runtime.store

    def _service(self, name: str) -> Any:
        service = self.runtime.services.get(name)
        if service is None:
            raise NotFound(f"the {name} service is not running in this process")
        return service

    # --- recording ---------------------------------------------------------------------------
    def record(self, **run: Any) -> Run:
        from edgelearn.record.schemas import RecordIn

        run_id, _ = self.runtime.recorder.record(_body(RecordIn, run))
        return self.run(run_id)

    def add_signals(self, run_id: str, signals: dict[str, Any], source: str = "api") -> Run:
        from edgelearn.record.schemas import SignalsIn

        body = _body(SignalsIn, {"signals": signals, "source": source})
        self.runtime.recorder.add_signals(run_id, body.signals, body.source)
        return self.run(run_id)

    def feedback(self, run_id: str, kind: str, value: float | None = None, comment: str | None = None) -> Run:
        from edgelearn.record.schemas import FeedbackIn

        body = _body(FeedbackIn, {"kind": kind, "value": value, "comment": comment})
        if body.kind in ("score", "thumbs") and body.value is None:
            raise InvalidInput(f"value: required for kind {body.kind}", field="value")
        self.runtime.recorder.add_feedback(body, run_id)
        return self.run(run_id)

    # --- reading runs ------------------------------------------------------------------------
    def run(self, run_id: str) -> Run:
        runs = self.store.runs
        stored = runs.get(run_id)
        return Run.from_dict({**stored.to_dict(), "signals": runs.signals(run_id), "feedback": runs.feedback(run_id)})

    def runs(self, **filters: Any) -> list[Run]:
        return [Run.from_dict(r.to_dict()) for r in self.store.runs.list(**check_filters(filters))]

    def similar(self, run_id: str, k: int = 10) -> list[SimilarRun]:
        from edgelearn.embed.search import similar_runs

        return [SimilarRun.from_dict(d) for d in similar_runs(self.store, run_id, check_range("k", k, 1, 100), None)]

    def count_runs(self, since: float | None = None) -> int:
        return self.store.runs.count_runs(since=since)

    def stats(self, since: float | None = None, bucket_s: int = 3600) -> dict[str, Any]:
        return self.store.runs.stats(since=since, bucket_s=check_range("bucket_s", bucket_s, 60, 10**9))

    # --- choosing ----------------------------------------------------------------------------
    def select(self, role: str, task: str | None = None, max_cost_per_1k: float | None = None) -> Selection:
        from edgelearn.record.schemas import SelectIn

        body = _body(SelectIn, {"role": role, "task": task, "max_cost_per_1k": max_cost_per_1k})
        selector = self.runtime.services.get("selector")
        if selector is None:
            raise SelectionError("no selector here: the store was opened without a runtime")
        return Selection.from_dict(selector.select(body.role, body.task, body.max_cost_per_1k).to_dict())

    def arms(self, role: str | None = None) -> list[dict[str, Any]]:
        from edgelearn.bandits.report import arm_reports
        from edgelearn.roles import check_role

        if role is not None:
            check_role(role)
        return [r.to_dict() for r in arm_reports(self.store, role)]

    # --- the loop ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        from edgelearn.loop.status import learning_status

        return learning_status(self.runtime)

    def models(self, role: str | None = None) -> list[dict[str, Any]]:
        from edgelearn.serve.registry import version_view

        return [version_view(self.store, v) for v in self.store.models.list(role=role)]

    def experiments(self, role: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        from edgelearn.experiment.service import experiment_summary

        service = self._service("experiments")
        return [experiment_summary(service, e)
                for e in self.store.experiments.list(role, check_range("limit", limit, 1, 500))]

    def events(self, type: str | None = None, role: str | None = None, limit: int = 100) -> list[Event]:
        found = self.store.events.list(type=type or None, role=role or None, limit=check_range("limit", limit, 1, 1000))
        return [Event.from_dict(e.__dict__) for e in found]

    def promote(self, version: str, reason: str = DEFAULT_REASON) -> None:
        from edgelearn.record.schemas import ModelIn

        body = _body(ModelIn, {"model": version, "reason": reason})
        self._service("experiments").promote(body.model, body.reason)

    def retire(self, version: str, reason: str = DEFAULT_REASON) -> None:
        from edgelearn.record.schemas import ModelIn

        body = _body(ModelIn, {"model": version, "reason": reason})
        self._service("experiments").retire(body.model, body.reason)

    def rollback(self, role: str, reason: str = DEFAULT_REASON) -> str:
        from edgelearn.record.schemas import RoleIn

        body = _body(RoleIn, {"role": role, "reason": reason})
        return self._service("experiments").rollback(body.role, body.reason)

    def trigger(self, role: str, reason: str = DEFAULT_REASON) -> None:
        from edgelearn.record.schemas import RoleIn

        body = _body(RoleIn, {"role": role, "reason": reason})
        self._service("loop").trigger(body.role, body.reason)

    # --- independence ------------------------------------------------------------------------
    def _independence(self) -> Any:
        return self._service("independence")

    def independence(self, role: str | None = None, since: float | None = None, until: float | None = None,
                     bucket_s: int = 3600) -> list[Independence]:
        from edgelearn.experiment.independence.surface import independence_view

        if role is not None:
            check_role(role)
        view = independence_view(self._independence(), self.runtime.settings, role, since=check_time(since, "since"),
                                 until=check_time(until, "until"), bucket_s=check_range("bucket_s", bucket_s, 60, 10**9))
        # the same JSON round trip as over HTTP, so both clients return equal values
        view = orjson.loads(orjson.dumps(view))
        return [Independence.from_dict(r, view["bucket_s"], view["shares"]) for r in view["roles"]]

    def pin_level(self, role: str, level: int, reason: str = DEFAULT_REASON) -> None:
        from edgelearn.experiment.independence.surface import pin_level
        from edgelearn.record.schemas import RoleIn

        body = _body(RoleIn, {"role": role, "reason": reason})
        pin_level(self._independence(), self.runtime.settings, body.role, level, body.reason)

    def unpin_level(self, role: str, reason: str = DEFAULT_REASON) -> bool:
        from edgelearn.experiment.independence.surface import unpin_level
        from edgelearn.record.schemas import RoleIn

        body = _body(RoleIn, {"role": role, "reason": reason})
        return unpin_level(self._independence(), self.runtime.settings, body.role, body.reason)

    # --- sessions ----------------------------------------------------------------------------
    def _credit(self) -> Any:
        from edgelearn.sessions.credit import credit_for

        return credit_for(self.runtime)

    def sessions(self, **filters: Any) -> list[Session]:
        credit = self._credit()
        return [Session.from_dict(credit.summary(s)) for s in self.store.sessions.list(**check_session_filters(filters))]

    def session(self, session_id: str) -> Session:
        return Session.from_dict(self._credit().detail(check_session_id(session_id)))

    def session_signals(self, session_id: str, signals: dict[str, Any], source: str = "api") -> SessionOutcome:
        from edgelearn.record.schemas import SignalsIn

        check_session_id(session_id)
        body = _body(SignalsIn, {"signals": signals, "source": source})
        return _outcome(self._credit().add_signals(session_id, body.signals, body.source))

    def session_feedback(self, session_id: str, kind: str, value: float | None = None,
                         comment: str | None = None) -> SessionOutcome:
        from edgelearn.record.schemas import FeedbackIn

        check_session_id(session_id)
        body = _body(FeedbackIn, {"kind": kind, "value": value, "comment": comment})
        if body.kind in ("score", "thumbs") and body.value is None:
            raise InvalidInput(f"value: required for kind {body.kind}", field="value")
        return _outcome(self._credit().add_feedback(session_id, body))

    def review_queue(self, limit: int = 50) -> dict[str, Any]:
        from edgelearn.sessions.insights import review_queue

        return review_queue(self.store, self.runtime.settings, self._credit(), limit=check_range("limit", limit, 1, 500))

    def failure_patterns(self) -> dict[str, Any]:
        from edgelearn.sessions.insights import failure_patterns

        return failure_patterns(self.store, self.runtime.settings, self._credit())

    # --- configuration -----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        file = self.runtime.config_file
        return {"file": str(file) if file else None, "settings": self.runtime.settings.model_dump(mode="json")}

    def set_toggle(self, name: str, value: bool) -> bool:
        from edgelearn.config_toml import set_config_value

        key = check_toggle(name)
        if not isinstance(value, bool):
            raise InvalidInput(f"value: must be true or false, not {value!r}", field="value")
        file = self.runtime.config_file
        if file is None:
            raise ConfigError("no config file to write: the store was opened without a runtime")
        set_config_value(Path(file), key, value)
        if self.runtime.watcher is not None:
            self.runtime.watcher.reload()  # now, not when the watcher next looks
        section, _, option = key.partition(".")
        return bool(getattr(getattr(self.runtime.settings, section), option))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owned:
            self.runtime.stop()
