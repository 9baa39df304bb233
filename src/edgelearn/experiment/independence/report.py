"""What ``GET /v1/learning/independence`` and ``edgelearn independence`` show, per role and cluster.

Per cluster: the service's report (level, local share, eligible share, each side's reward, shadow
agreement as the shadow side's mean, escape rate, cost saved at the teacher's price). Per role:
its teacher and price, the totals, the local share over the last hour, day and week (from the
runs, so it includes requests the counters have not flushed yet), and the level changes.
"""

from __future__ import annotations

import time
from typing import Any

from edgelearn.errors import NotFound

WINDOWS = (("1h", 3600.0), ("24h", 86400.0), ("7d", 7 * 86400.0))
HISTORY = 50  # level changes listed per role


def teacher_prices(settings) -> dict[str, tuple[float, float]]:
    """Role -> its teacher's (input, output) price per million tokens, where the provider has one."""
    out = {}
    for role, rs in settings.roles.items():
        if not rs.teacher:
            continue
        provider, _, model = rs.teacher.partition("/")
        ps = settings.providers.get(provider)
        price = ps.prices.get(model) if ps is not None else None
        if price is not None:
            out[role] = (price.input, price.output)
    return out


def _share_over_time(store, role: str, providers, now: float) -> dict[str, float | None]:
    """Share of the role's runs a local model answered, per window (provider models are not local)."""
    out: dict[str, float | None] = {}
    for name, span in WINDOWS:
        rows = store.experiments.served_by(role, now - span)
        total = sum(n for _, n, _, _ in rows)
        local = sum(n for model, n, _, _ in rows if model and model.partition("/")[0] not in providers)
        out[name] = local / total if total else None
    return out


def independence_report(service, settings, role: str | None = None, now: float | None = None) -> dict[str, Any]:
    """The independence figures of every role with a teacher in ``settings`` (or of ``role``);
    ``service`` is an ``IndependenceService`` (its store has the runs and events)."""
    store = service.store
    teachers = {r: rs.teacher for r, rs in settings.roles.items() if rs.teacher}
    if role is not None and role not in teachers:
        raise NotFound(f"role {role!r} has no teacher ([roles.{role}] teacher = \"<provider>/<model>\")")
    prices = teacher_prices(settings)
    clusters = service.report(role, prices)
    pins = store.independence.pins()
    now = time.time() if now is None else now
    roles = []
    for name in sorted(teachers if role is None else [role]):
        rows = [c for c in clusters if c["role"] == name]
        requests = sum(c["requests"] for c in rows)
        local = sum(c["local_requests"] for c in rows)
        saved = [c["cost_saved"] for c in rows if c["cost_saved"] is not None]
        history = store.events.list(role=name, limit=HISTORY)
        roles.append({
            "role": name, "teacher": teachers[name], "enabled": settings.independence.enabled,
            "price_per_m": dict(zip(("input", "output"), prices[name])) if name in prices else None,
            "pin": pins[name].level if name in pins else None,
            "requests": requests, "local_requests": local, "local_share": local / requests if requests else None,
            "eligible_share": (1.0 - sum(c["requests"] * (1.0 - (c["eligible_share"] or 0.0)) for c in rows)
                               / requests) if requests else None,
            "escapes": sum(c["escapes"] for c in rows),
            "cost_saved": round(sum(saved), 6) if saved else (0.0 if name in prices else None),
            "local_share_over_time": _share_over_time(store, name, settings.providers, now),
            "changes": [{"at": e.ts, "type": e.type, **(e.payload or {})} for e in history
                        if e.type.startswith("independence.")],
            "clusters": rows,
        })
    return {"roles": roles}
