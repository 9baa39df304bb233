"""The shapes every data source shares: the protocol, the run filter, and ``Unavailable``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from edgelearn.errors import EdgelearnError


class Unavailable(EdgelearnError):
    """Something this source cannot answer: an endpoint not served yet, a store without a runtime."""


class Unreachable(Unavailable):
    """The runtime the TUI attached to does not answer any more."""


@dataclass(frozen=True)
class RunFilter:
    """The Runs screen's filters; None (or "") means no filter."""

    role: str | None = None
    model: str | None = None
    prompt: str | None = None
    min_reward: float | None = None

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, "")}


class DataSource(Protocol):
    """What every screen reads and every action writes; both implementations return the same shapes."""

    kind: str

    def describe(self) -> str: ...
    def learning_status(self) -> dict[str, Any]: ...
    def overview(self, now: float) -> dict[str, Any]: ...
    def runs(self, flt: RunFilter, limit: int = 200) -> list[dict[str, Any]]: ...
    def run(self, run_id: str) -> dict[str, Any]: ...
    def similar(self, run_id: str, k: int = 5) -> dict[str, Any]: ...
    def arms(self) -> list[dict[str, Any]]: ...
    def models(self) -> list[dict[str, Any]]: ...
    def experiments(self) -> list[dict[str, Any]]: ...
    def events(self, type: str | None = None, role: str | None = None, limit: int = 200) -> list[dict[str, Any]]: ...
    def config(self) -> dict[str, Any]: ...
    def set_toggle(self, name: str, value: bool) -> dict[str, Any]: ...
    def promote(self, model_id: str, reason: str) -> dict[str, Any]: ...
    def retire(self, model_id: str, reason: str) -> dict[str, Any]: ...
    def rollback(self, role: str, reason: str) -> dict[str, Any]: ...
    def close(self) -> None: ...


def plain(obj: Any) -> Any:
    """A dataclass (or object with ``to_dict``) as a dict; dicts, lists and scalars as they are."""
    if obj is None or isinstance(obj, (dict, list, str, int, float, bool)):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    return {"value": str(obj)}
