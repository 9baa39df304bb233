"""Adding, syncing, enabling and disabling arms (each change an event in the same write).

These functions need only a store, so the CLI uses them without a runtime; the selector
wraps them to refresh its cache. Every role that has a prompt arm also gets the embedded
base model (``base``) as a model arm unless it already has model arms, so a fresh install
can select for the shipped roles before any model is registered.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import apsw

from edgelearn.bandits.prompts import VARIANT_PATTERN, load_prompts
from edgelearn.errors import ConfigError, InvalidInput
from edgelearn.roles import check_role
from edgelearn.store.arms import Arm, ArmsRepo
from edgelearn.store.events import EventsRepo

MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,199}$"
BASE_MODEL = "base"


@dataclass(frozen=True)
class ModelSpec:
    """A model the serving side offers for a role."""

    id: str
    backend: str
    cost_per_1k: float = 0.0
    name: str | None = None


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)


def _check(value: str, pattern: str, name: str) -> str:
    if not isinstance(value, str) or not re.match(pattern, value):
        raise InvalidInput(f"{name}: {value!r} must match {pattern}", field=name)
    return value


def _check_cost(cost: Any) -> float:
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
        raise InvalidInput(f"cost_per_1k: expected a number >= 0, got {cost!r}", field="cost_per_1k")
    return float(cost)


def _event(conn: apsw.Connection, arm: Arm, what: str, **extra: Any) -> None:
    EventsRepo.append_in(conn, f"bandit.arm_{what}", {"arm": arm.id, "key": arm.key, "source": arm.source, **extra},
                         role=arm.role, subject=arm.key)


def _seed_base_in(conn: apsw.Connection, role: str) -> Arm | None:
    if ArmsRepo.list_in(conn, role, "model"):
        return None
    arm, _ = ArmsRepo.upsert_in(conn, role, "model", BASE_MODEL, source="default", backend="embedded",
                                notes="the bundled base model served by llama.cpp")
    _event(conn, arm, "added")
    return arm


def sync_prompts(store, dirs: list[Path]) -> SyncReport:
    """Make the prompt arms match the files under ``dirs``; vanished files disable their arms."""
    prompts, errors = load_prompts(dirs)
    report = SyncReport(errors=errors)

    def fn(conn):
        for (role, variant), p in prompts.items():
            before = ArmsRepo.prompt_file_in(conn, role, variant)
            if before == (p.text, p.notes, str(p.path)):
                continue
            arm, created = ArmsRepo.upsert_in(conn, role, "prompt", variant, source="file", text=p.text,
                                              notes=p.notes, path=str(p.path),
                                              enabled=p.enabled if before is None else None)
            (report.added if created else report.updated).append(arm.key)
            _event(conn, arm, "added" if created else "updated", path=str(p.path))
            _seed_base_in(conn, role)
        for arm in ArmsRepo.list_in(conn, kind="prompt"):
            if arm.source == "file" and arm.enabled and (arm.role, arm.variant) not in prompts:
                arm = ArmsRepo.set_enabled_in(conn, arm.id, False)
                report.disabled.append(arm.key)
                _event(conn, arm, "disabled", reason=f"{arm.path} is gone")

    store.write(fn)
    return report


def add_prompt_arm(store, role: str, variant: str, text: str, notes: str | None = None) -> Arm:
    """Add (or replace the text of) a prompt variant for ``role``; enabled."""
    check_role(role)
    _check(variant, VARIANT_PATTERN, "id")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("text: the prompt text is empty", field="text")

    def fn(conn):
        arm, created = ArmsRepo.upsert_in(conn, role, "prompt", variant, source="api", text=text.strip(),
                                          notes=notes, enabled=True)
        _event(conn, arm, "added" if created else "updated")
        _seed_base_in(conn, role)
        return arm

    return store.write(fn)


def _model_in(conn, role: str, spec: ModelSpec, source: str, enabled: bool | None) -> tuple[Arm, bool]:
    before = ArmsRepo.list_in(conn, role, "model")
    prior = next((a for a in before if a.variant == spec.id), None)
    arm, created = ArmsRepo.upsert_in(conn, role, "model", spec.id, source=source, backend=spec.backend,
                                      model_name=spec.name, cost_per_1k=spec.cost_per_1k,
                                      notes=prior.notes if prior else None, enabled=enabled)
    described = lambda a: (a.backend, a.model_name, a.cost_per_1k, a.enabled)  # noqa: E731
    if created or described(prior) != described(arm):
        _event(conn, arm, "added" if created else "updated", backend=arm.backend, cost_per_1k=arm.cost_per_1k)
    return arm, created


def _spec(item: ModelSpec | tuple | dict) -> ModelSpec:
    spec = item if isinstance(item, ModelSpec) else (
        ModelSpec(**item) if isinstance(item, dict) else ModelSpec(*item))
    _check(spec.id, MODEL_ID_PATTERN, "model_id")
    if not isinstance(spec.backend, str) or not spec.backend.strip():
        raise InvalidInput(f"backend: expected a backend name, got {spec.backend!r}", field="backend")
    return ModelSpec(spec.id, spec.backend, _check_cost(spec.cost_per_1k), spec.name)


def add_model_arm(store, role: str, model_id: str, backend: str, cost_per_1k: float = 0.0,
                  name: str | None = None, *, source: str = "registry", enabled: bool = True) -> Arm:
    """Add or update a model arm of ``role`` (backend and price per 1k tokens)."""
    check_role(role)
    spec = _spec(ModelSpec(model_id, backend, cost_per_1k, name))
    return store.write(lambda conn: _model_in(conn, role, spec, source, enabled)[0])


def sync_model_arms(store, role: str, models: Iterable[ModelSpec | tuple | dict], *,
                    disable_missing: bool = True) -> list[Arm]:
    """Make ``role``'s model arms the given models: add or update them (enabled) and, with
    ``disable_missing``, disable the role's other model arms. Items are ``ModelSpec``s,
    ``(id, backend, cost_per_1k[, name])`` tuples or dicts of those fields."""
    check_role(role)
    specs = [_spec(m) for m in models]

    def fn(conn):
        arms = [_model_in(conn, role, spec, "registry", True)[0] for spec in specs]
        wanted = {s.id for s in specs}
        if disable_missing:
            for arm in ArmsRepo.list_in(conn, role, "model"):
                if arm.enabled and arm.variant not in wanted:
                    _event(conn, ArmsRepo.set_enabled_in(conn, arm.id, False), "disabled", reason="not registered")
        return arms

    return store.write(fn)


def set_enabled(store, ref: str, enabled: bool) -> Arm:
    """Enable or disable the arm ``ref`` names (number, role/kind/variant or role/variant)."""
    arm = store.arms.resolve(ref)

    def fn(conn):
        updated = ArmsRepo.set_enabled_in(conn, arm.id, enabled)
        if updated.enabled != arm.enabled:
            _event(conn, updated, "enabled" if enabled else "disabled", reason="user")
        return updated

    return store.write(fn)
