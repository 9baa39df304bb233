"""``HttpSource``: a runtime that already serves, through its HTTP API (``edgelearn tui`` attaches)."""

from __future__ import annotations

from typing import Any

import httpx

from edgelearn.errors import EdgelearnError, InvalidInput, NotFound
from edgelearn.tui import derive
from edgelearn.tui.source.base import RunFilter, Unavailable, Unreachable


class HttpSource:
    """Reads and steers a runtime that already serves, through its HTTP API."""

    kind = "http"

    def __init__(self, url: str, token: str, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"},
                                   timeout=timeout, transport=transport)

    def describe(self) -> str:
        return f"attached · {self.url}"

    def close(self) -> None:
        self.client.close()

    def _request(self, method: str, path: str, what: str, *, params: dict | None = None,
                 body: dict | None = None) -> Any:
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            resp = self.client.request(method, path, params=params, json=body)
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach the runtime at {self.url}: {exc}") from exc
        try:
            data = resp.json()
        except ValueError:
            data = None
        error = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), dict) else None
        if resp.status_code in (404, 405) and error is None:
            raise Unavailable(f"{what} is not available over HTTP yet ({method} {path} answered "
                              f"{resp.status_code}); run the TUI in the runtime's process instead")
        if resp.status_code >= 400:
            message = (error or {}).get("message") or f"{method} {path} answered {resp.status_code}"
            if resp.status_code == 404:
                raise NotFound(message)
            if resp.status_code in (400, 422):
                raise InvalidInput(message, field=(error or {}).get("param"))
            raise EdgelearnError(message)
        return data

    @staticmethod
    def _items(data: Any, key: str) -> list[dict[str, Any]]:
        if isinstance(data, list):
            return data
        return list(data.get(key) or data.get("data") or []) if isinstance(data, dict) else []

    def learning_status(self) -> dict[str, Any]:
        return self._request("GET", "/v1/learning/status", "the learning status")

    def overview(self, now: float) -> dict[str, Any]:
        def stats(since: float, bucket: int) -> dict[str, Any]:
            return self._request("GET", "/v1/stats", "run statistics", params={"since": since, "bucket_s": bucket})

        seen: dict[int, dict[str, Any]] = {}

        def counts():
            for w, b in derive.TREND_WINDOWS:
                seen[w] = stats(now - w, b)
                yield w, b, seen[w]["total"]["runs"]

        window, bucket = derive.pick_trend_window(counts())
        st = seen[window]
        recent = stats(now - derive.RATE_WINDOW_S, derive.RATE_WINDOW_S)["total"]["runs"]
        return {"runs_total": None, "runs_per_min": recent * 60.0 / derive.RATE_WINDOW_S, "window_s": window,
                "bucket_s": bucket, "trend": st["over_time"], "window": st["total"]}

    def runs(self, flt: RunFilter, limit: int = 200) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/runs", "runs", params={**flt.params(), "limit": limit})["runs"]

    def run(self, run_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/runs/{run_id}", "a run")

    def similar(self, run_id: str, k: int = 5) -> dict[str, Any]:
        data = self._request("GET", f"/v1/runs/{run_id}/similar", "similar runs", params={"k": k})
        return {"embedded": True, "similar": data.get("similar", [])}

    def arms(self) -> list[dict[str, Any]]:
        return self._items(self._request("GET", "/v1/arms", "the bandit arms"), "arms")

    def models(self) -> list[dict[str, Any]]:
        return self._items(self._request("GET", "/v1/registry", "the model registry"), "models")

    def experiments(self) -> list[dict[str, Any]]:
        return self._items(self._request("GET", "/v1/experiments", "experiments"), "experiments")

    def events(self, type: str | None = None, role: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        data = self._request("GET", "/v1/events", "the event log", params={"type": type, "role": role, "limit": limit})
        return self._items(data, "events")

    def config(self) -> dict[str, Any]:
        data = self._request("GET", "/v1/config", "the effective config")
        settings = data.get("settings") or {}
        toggles = {name: bool((settings.get(key.split(".")[0]) or {}).get(key.split(".")[1]))
                   for name, key in derive.TOGGLES.items()}
        return {"file": data.get("file"), "settings": settings, "toggles": toggles}

    def set_toggle(self, name: str, value: bool) -> dict[str, Any]:
        key = derive.TOGGLES.get(name)
        if key is None:
            raise InvalidInput(f"toggle: {name!r} is not one of {', '.join(derive.TOGGLES)}", field="toggle")
        self._request("POST", "/v1/config/toggles", "writing the config", body={"name": name, "value": bool(value)})
        now = self.config()
        return {"key": key, "value": bool(value), "effective": now["toggles"][name], "file": now["file"]}

    def promote(self, model_id: str, reason: str) -> dict[str, Any]:
        return self._request("POST", "/v1/learning/promote", "promoting a model",
                             body={"model": model_id, "reason": reason})

    def retire(self, model_id: str, reason: str) -> dict[str, Any]:
        return self._request("POST", "/v1/learning/retire", "retiring a model",
                             body={"model": model_id, "reason": reason})

    def rollback(self, role: str, reason: str) -> dict[str, Any]:
        data = self._request("POST", "/v1/learning/rollback", "rolling back", body={"role": role, "reason": reason})
        return {"role": role, "restored": data.get("serving")}

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
