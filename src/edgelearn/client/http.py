"""``HttpClient``: a runtime that already serves, through its HTTP API (httpx).

Error bodies (``{"error": {"message", "type", "param"}}``) come back as the ``edgelearn.errors``
class the server mapped to that type, with the server's message, so a caller catches the same
exceptions whichever client it holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

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
from edgelearn.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    CurationError,
    EdgelearnError,
    ExportError,
    InvalidInput,
    MalformedJSON,
    NotFound,
    SelectionError,
    StoreError,
    TrainingError,
    Unreachable,
)
from edgelearn.roles import check_role

DEFAULT_URL = "http://127.0.0.1:8765"

# the server's error "type" → the class it was raised as (server/app.py maps the other way)
_ERRORS: dict[str, type[EdgelearnError]] = {
    "not_found": NotFound, "selection_error": SelectionError, "curation_error": CurationError,
    "training_error": TrainingError, "export_error": ExportError, "backend_unavailable": BackendUnavailable,
    "backend_error": BackendError, "config_error": ConfigError, "store_error": StoreError,
    # a wrong token or a refused Host header is the caller's setup; a body over the limit is bad input
    "unauthorized": ConfigError, "forbidden": ConfigError, "payload_too_large": InvalidInput,
}


def read_token(home: Path | None = None) -> str:
    """The API token from ``<home>/token`` (the home: ``$EDGELEARN_HOME`` or the platform's)."""
    from edgelearn.config import home_dir
    from edgelearn.security import token_path

    path = token_path(home if home is not None else home_dir())
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the API token {path}: {exc.strerror}; is this the runtime's home "
                          "(EDGELEARN_HOME)? Or pass token=", path=path) from exc
    if not token:
        raise ConfigError(f"the API token file {path} is empty; start the runtime once (edgelearn serve)", path=path)
    return token


def probe(url: str, timeout: float = 0.5) -> bool:
    """Whether an edgelearn runtime answers ``/healthz`` at ``url``."""
    try:
        resp = httpx.get(f"{url.rstrip('/')}/healthz", timeout=timeout)
    except httpx.HTTPError:
        return False
    try:
        return resp.status_code == 200 and resp.json().get("ok") is True
    except ValueError:
        return False


def error_from(status: int, data: Any, what: str) -> EdgelearnError:
    """The exception an HTTP error answer stands for."""
    error = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), dict) else None
    if error is None:
        return EdgelearnError(f"{what} answered {status} without an edgelearn error: is this an edgelearn "
                              "runtime of the same version?")
    message, type_ = str(error.get("message") or f"{what} answered {status}"), error.get("type")
    if type_ == "invalid_request_error" or status in (400, 422):
        cls = MalformedJSON if status == 400 else InvalidInput
        return cls(message, field=error.get("param"))
    cls = _ERRORS.get(type_, EdgelearnError)
    return cls(message, field=error.get("param")) if cls is InvalidInput else cls(message)


def _path(value: str) -> str:
    return quote(str(value), safe="")


class HttpClient(Client):
    """edgelearn over HTTP: ``HttpClient(url, token)``; the token from the home when None."""

    local = False

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, *, home: Path | None = None,
                 timeout: float = 30.0) -> None:
        self.url = self.location = url.rstrip("/")
        self.token = token if token is not None else read_token(home)
        self.http = httpx.Client(base_url=self.url, timeout=timeout,
                                 headers={"Authorization": f"Bearer {self.token}",
                                          "Content-Type": "application/json"})

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        content = json_body(body) if body is not None else None
        try:
            resp = self.http.request(method, path, params=params, content=content)
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach the runtime at {self.url}: {exc}") from exc
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code >= 400:
            raise error_from(resp.status_code, data, f"{method} {path}")
        return data

    # --- recording ---------------------------------------------------------------------------
    def record(self, **run: Any) -> Run:
        return self.run(self._call("POST", "/v1/runs", body=run)["id"])

    def add_signals(self, run_id: str, signals: dict[str, Any], source: str = "api") -> Run:
        self._call("POST", f"/v1/runs/{_path(run_id)}/signals", body={"signals": signals, "source": source})
        return self.run(run_id)

    def feedback(self, run_id: str, kind: str, value: float | None = None, comment: str | None = None) -> Run:
        self._call("POST", f"/v1/runs/{_path(run_id)}/feedback", body={"kind": kind, "value": value, "comment": comment})
        return self.run(run_id)

    # --- reading runs ------------------------------------------------------------------------
    def run(self, run_id: str) -> Run:
        return Run.from_dict(self._call("GET", f"/v1/runs/{_path(run_id)}"))

    def runs(self, **filters: Any) -> list[Run]:
        data = self._call("GET", "/v1/runs", params=check_filters(filters))
        return [Run.from_dict(r) for r in data["runs"]]

    def similar(self, run_id: str, k: int = 10) -> list[SimilarRun]:
        data = self._call("GET", f"/v1/runs/{_path(run_id)}/similar", params={"k": check_range("k", k, 1, 100)})
        return [SimilarRun.from_dict(d) for d in data["similar"]]

    def count_runs(self, since: float | None = None) -> int:
        # the stats' total in one bucket: the API has no bare count
        return int(self.stats(since=since, bucket_s=10**9)["total"]["runs"])

    def stats(self, since: float | None = None, bucket_s: int = 3600) -> dict[str, Any]:
        return self._call("GET", "/v1/stats",
                          params={"since": since, "bucket_s": check_range("bucket_s", bucket_s, 60, 10**9)})

    # --- choosing ----------------------------------------------------------------------------
    def select(self, role: str, task: str | None = None, max_cost_per_1k: float | None = None) -> Selection:
        data = self._call("POST", "/v1/select", body={"role": role, "task": task, "max_cost_per_1k": max_cost_per_1k})
        return Selection.from_dict(data)

    def arms(self, role: str | None = None) -> list[dict[str, Any]]:
        if role is not None:
            check_role(role)
        return self._call("GET", "/v1/arms", params={"role": role})["arms"]

    # --- the loop ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return self._call("GET", "/v1/learning/status")

    def models(self, role: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/registry", params={"role": role})["models"]

    def experiments(self, role: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params = {"role": role, "limit": check_range("limit", limit, 1, 500)}
        return self._call("GET", "/v1/experiments", params=params)["experiments"]

    def events(self, type: str | None = None, role: str | None = None, limit: int = 100) -> list[Event]:
        params = {"type": type or None, "role": role or None, "limit": check_range("limit", limit, 1, 1000)}
        return [Event.from_dict(e) for e in self._call("GET", "/v1/events", params=params)["events"]]

    def promote(self, version: str, reason: str = DEFAULT_REASON) -> None:
        self._call("POST", "/v1/learning/promote", body={"model": version, "reason": reason})

    def retire(self, version: str, reason: str = DEFAULT_REASON) -> None:
        self._call("POST", "/v1/learning/retire", body={"model": version, "reason": reason})

    def rollback(self, role: str, reason: str = DEFAULT_REASON) -> str:
        return self._call("POST", "/v1/learning/rollback", body={"role": role, "reason": reason})["serving"]

    def trigger(self, role: str, reason: str = DEFAULT_REASON) -> None:
        self._call("POST", "/v1/learning/trigger", body={"role": role, "reason": reason})

    # --- independence ------------------------------------------------------------------------
    def independence(self, role: str | None = None, since: float | None = None, until: float | None = None,
                     bucket_s: int = 3600) -> list[Independence]:
        if role is not None:
            check_role(role)
        params = {"role": role, "since": check_time(since, "since"), "until": check_time(until, "until"),
                  "bucket_s": check_range("bucket_s", bucket_s, 60, 10**9)}
        data = self._call("GET", "/v1/learning/independence", params=params)
        # a runtime of an earlier version answers without the chart: its roles come with an empty series
        return [Independence.from_dict(r, data.get("bucket_s", bucket_s), data.get("shares") or ())
                for r in data["roles"]]

    def pin_level(self, role: str, level: int, reason: str = DEFAULT_REASON) -> None:
        self._call("POST", "/v1/learning/independence/pin", body={"role": role, "level": level, "reason": reason})

    def unpin_level(self, role: str, reason: str = DEFAULT_REASON) -> bool:
        return self._call("POST", "/v1/learning/independence/unpin", body={"role": role, "reason": reason})["unpinned"]

    # --- sessions ----------------------------------------------------------------------------
    def sessions(self, **filters: Any) -> list[Session]:
        data = self._call("GET", "/v1/sessions", params=check_session_filters(filters))
        return [Session.from_dict(s) for s in data["sessions"]]

    def session(self, session_id: str) -> Session:
        return Session.from_dict(self._call("GET", f"/v1/sessions/{_path(check_session_id(session_id))}"))

    def session_signals(self, session_id: str, signals: dict[str, Any], source: str = "api") -> SessionOutcome:
        data = self._call("POST", f"/v1/sessions/{_path(check_session_id(session_id))}/signals",
                          body={"signals": signals, "source": source})
        return SessionOutcome.from_dict(data)

    def session_feedback(self, session_id: str, kind: str, value: float | None = None,
                         comment: str | None = None) -> SessionOutcome:
        data = self._call("POST", f"/v1/sessions/{_path(check_session_id(session_id))}/feedback",
                          body={"kind": kind, "value": value, "comment": comment})
        return SessionOutcome.from_dict(data)

    def review_queue(self, limit: int = 50) -> dict[str, Any]:
        return self._call("GET", "/v1/sessions/review", params={"limit": check_range("limit", limit, 1, 500)})

    def failure_patterns(self) -> dict[str, Any]:
        return self._call("GET", "/v1/sessions/patterns")

    # --- configuration -----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        data = self._call("GET", "/v1/config")
        return {"file": data.get("file"), "settings": data.get("settings") or {}}

    def set_toggle(self, name: str, value: bool) -> bool:
        key = check_toggle(name)
        if not isinstance(value, bool):
            raise InvalidInput(f"value: must be true or false, not {value!r}", field="value")
        self._call("POST", "/v1/config/toggles", body={"name": name, "value": value})
        section, _, option = key.partition(".")
        return bool((self.config()["settings"].get(section) or {}).get(option))

    def close(self) -> None:
        self.http.close()
