"""What the Python API, ``GET/POST /v1/learning/independence*``, the CLI and the TUI call.

* :func:`independence_view`: the report (``report`` module) with, per role, a chart series: per
  time bucket the role's runs, how many a local model served, and what those local tokens would
  have cost at the teacher's price. The series counts every run of the role (as the report's
  ``local_share_over_time`` does); the report's ``cost_saved`` counts only the runs independence
  routed, so the series' sum can be higher.
* :func:`pin_level` / :func:`unpin_level`: a pin by hand, refused for a role without a teacher
  (each is an ``independence.pinned`` / ``.unpinned`` event with its reason).
"""

from __future__ import annotations

import time
from typing import Any

from edgelearn.checks import check_range, check_time
from edgelearn.errors import InvalidInput
from edgelearn.experiment.independence.evidence import cost_saved
from edgelearn.experiment.independence.levels import check_level
from edgelearn.experiment.independence.report import independence_report, teacher_prices
from edgelearn.roles import check_role

DEFAULT_SPAN_S = 86400.0  # the chart's window when the caller gives no ``since``
DEFAULT_BUCKET_S = 3600
MAX_BUCKETS = 200


def share_series(store, role: str, providers, price: tuple[float, float] | None, since: float, bucket_s: int,
                 until: float) -> list[dict[str, Any]]:
    """Every bucket from ``since`` to ``until`` (at most ``MAX_BUCKETS``, the newest), oldest first:
    ``{"start", "requests", "local", "local_share", "cost_saved"}`` (``local_share`` None without runs,
    ``cost_saved`` None without a teacher price). Provider models (``<provider>/<model>``) are not local."""
    first = int(max(since, until - bucket_s * MAX_BUCKETS) // bucket_s) * bucket_s
    points: dict[int, dict[str, Any]] = {
        b: {"start": b, "requests": 0, "local": 0, "tokens_in": 0, "tokens_out": 0}
        for b in range(first, int(until // bucket_s) * bucket_s + 1, bucket_s)}
    for start, model, n, tokens_in, tokens_out in store.experiments.served_by_bucket(role, first, bucket_s):
        point = points.get(int(start))
        if point is None:  # after ``until``
            continue
        point["requests"] += n
        if model and model.partition("/")[0] not in providers:
            point["local"] += n
            point["tokens_in"] += tokens_in or 0
            point["tokens_out"] += tokens_out or 0
    out = []
    for p in points.values():
        saved = cost_saved(p.pop("tokens_in"), p.pop("tokens_out"), *price) if price else None
        out.append(p | {"local_share": p["local"] / p["requests"] if p["requests"] else None,
                        "cost_saved": None if saved is None else round(saved, 6)})
    return out


def independence_view(service, settings, role: str | None = None, *, since: float | None = None,
                      until: float | None = None, bucket_s: int = DEFAULT_BUCKET_S,
                      now: float | None = None) -> dict[str, Any]:
    """``independence_report`` with ``bucket_s``, ``since``, ``until``, ``shares`` (the local share at
    levels 1-4) and, per role, ``series`` (see ``share_series``) from ``since`` (default: a day
    before ``until``) to ``until`` (default: now)."""
    if role is not None:
        check_role(role, field="role")
    bucket_s = check_range("bucket_s", bucket_s, 60, 10**9)
    since, until = check_time(since, "since"), check_time(until, "until")
    now = time.time() if now is None else now
    end = now if until is None else until
    start = end - DEFAULT_SPAN_S if since is None else since
    if start > end:
        raise InvalidInput(f"since: {start} is after until ({end})", field="since")
    report = independence_report(service, settings, role, now=now)
    prices = teacher_prices(settings)
    for r in report["roles"]:
        r["series"] = share_series(service.store, r["role"], settings.providers, prices.get(r["role"]), start,
                                   bucket_s, end)
    return report | {"bucket_s": bucket_s, "since": start, "until": end, "shares": list(service.config().shares)}


def _teacher(settings, role: str) -> str:
    check_role(role, field="role")
    rs = settings.roles.get(role)
    if rs is None or not rs.teacher:
        raise InvalidInput(f"role: {role!r} has no teacher, so it has no level to pin "
                           f"([roles.{role}] teacher = \"<provider>/<model>\")", field="role")
    return rs.teacher


def pin_level(service, settings, role: str, level: int, reason: str) -> None:
    """Route every cluster of ``role`` at ``level`` until unpinned (``InvalidInput`` for a level
    outside 0-4 or a role without a teacher; nothing is written then)."""
    check_level(level)
    _teacher(settings, role)
    service.pin(role, level, reason)


def unpin_level(service, settings, role: str, reason: str) -> bool:
    """Give ``role``'s clusters back to the rule; False when it was not pinned."""
    _teacher(settings, role)
    return service.unpin(role, reason)
