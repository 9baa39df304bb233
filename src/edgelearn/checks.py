"""Checks of plain values at the API's edges, each raising ``InvalidInput`` that names the field:
the clients, the server routes and the services below them share these."""

from __future__ import annotations

import math
from typing import Any

from edgelearn.errors import InvalidInput


def check_range(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in [low, high]; ``InvalidInput`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name}: must be a whole number from {low} to {high}, not {value!r}", field=name)
    return value


def check_time(value: Any, field: str) -> float | None:
    """``value`` as a unix time, or None; ``InvalidInput`` naming ``field`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{field}: must be a unix time, not {value!r}", field=field)
    return float(value)
