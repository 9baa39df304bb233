"""WHERE clauses from optional filters: the one builder behind the store's list and count queries."""

from __future__ import annotations

from typing import Any


def where(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """``" where a and b"`` (or ``""``) and its parameters, from ``(clause, value)`` pairs.

    A pair whose value is None is left out. A clause with ``?`` takes the value, or the items of a
    tuple value (``state in (?, ?)``); one without takes nothing (the value only says that the
    clause applies, e.g. ``("ended_at is null", True)``).
    """
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in conditions:
        if value is None:
            continue
        clauses.append(clause)
        if "?" not in clause:
            continue
        if isinstance(value, tuple):
            params.extend(value)
        else:
            params.append(value)
    return (" where " + " and ".join(clauses) if clauses else ""), params
