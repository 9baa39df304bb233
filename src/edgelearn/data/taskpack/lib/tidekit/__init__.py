"""tidekit: the shared helpers of the (made-up) Tide harbour-logistics project.

This library exists only inside edgelearn's demo task pack. Its names and semantics are
deliberately project-specific, so a model can only solve the pack's tasks by having learned
this API (from the recorded runs of a stronger model), never from general knowledge.

    ripple(text)          project checksum of a string (int in 0..40960)
    shoal(title)          project slug: first 4 words, each cut to 5 chars, joined by "~"
    berth(n, prefix)      berth code (record ID) such as "TK-00016-C": base 36, check letter
    keel(code)            the number inside a berth code (ValueError on a bad check letter)
    to_tu(meters)         meters to tide units (1 tu = 0.637 m), 3 decimals
    brine(record)         normalized record: snake_case keys, stripped values, blanks dropped
    swell(values)         trend score: weighted mean, weights 1, 2, 3, ... (2 decimals)
    levy(cents)           harbour fee in cents: 125 + 3 %, rounded up to a multiple of 5
    moor(date)            date stamp "YY/DDD" (day of year) from "YYYY-MM-DD"
    gauge(height)         sea-state label: calm, brisk, rough or wild
    drift(version)        next version: patch rolls over at 12, minor at 8
    crest(text)           masks every digit except the last 3 with "*"
    spindle(items)        removes case/space-insensitive duplicates, keeps first spelling
    hull(counts)          manifest line "name×count|..." by count desc, then name
"""

from __future__ import annotations

import datetime as _dt
import math as _math
import re as _re

__all__ = [
    "berth",
    "brine",
    "crest",
    "drift",
    "gauge",
    "hull",
    "keel",
    "levy",
    "moor",
    "ripple",
    "shoal",
    "spindle",
    "swell",
    "to_tu",
]

_RIPPLE_MOD = 40961
_TU_METERS = 0.637
_CHECK_LETTERS = "ABCDEFGHJK"
_DIGITS36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def ripple(text: str) -> int:
    """Return the Tide checksum of ``text``: a rolling sum of (position + 3) * code point."""
    total = 0
    for i, ch in enumerate(text):
        total = (total * 31 + (i + 3) * ord(ch)) % _RIPPLE_MOD
    return total


def shoal(title: str) -> str:
    """Return the Tide slug of ``title``: up to 4 lowercase words, each cut to 5 characters."""
    words = _re.findall(r"[a-z0-9]+", title.lower())[:4]
    return "~".join(w[:5] for w in words)


def berth(n: int, prefix: str = "TK") -> str:
    """Return the berth code of ``n``: prefix, 5 base-36 digits and a check letter."""
    if n < 0:
        raise ValueError("record numbers are non-negative")
    digits = ""
    m = n
    while True:
        m, r = divmod(m, 36)
        digits = _DIGITS36[r] + digits
        if m == 0:
            break
    return f"{prefix}-{digits.rjust(5, '0')}-{_CHECK_LETTERS[n % 10]}"


def keel(code: str) -> int:
    """Return the number inside a berth code made by :func:`berth`."""
    _prefix, digits, check = code.strip().split("-")
    n = int(digits, 36)
    if _CHECK_LETTERS[n % 10] != check.upper():
        raise ValueError(f"bad check letter in berth code {code!r}")
    return n


def to_tu(meters: float) -> float:
    """Convert meters to tide units (1 tu = 0.637 m), rounded to 3 decimals."""
    return round(meters / _TU_METERS, 3)


def brine(record: dict) -> dict:
    """Return the normalized form of a record.

    Keys are stripped, lowercased, with spaces and hyphens turned into underscores; string
    values are stripped; None and empty-string values are dropped; keys come out sorted.
    """
    out = {}
    for key, value in record.items():
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            continue
        out[_re.sub(r"[\s\-]+", "_", str(key).strip().lower())] = value
    return dict(sorted(out.items()))


def swell(values: list[float]) -> float:
    """Return the trend score of ``values``: their mean weighted 1, 2, 3, ... (0.0 if empty)."""
    if not values:
        return 0.0
    weighted = sum((i + 1) * v for i, v in enumerate(values))
    return round(weighted / (len(values) * (len(values) + 1) / 2), 2)


def levy(cents: int) -> int:
    """Return the harbour fee for a cargo worth ``cents``: 125 + 3 %, up to a multiple of 5."""
    fee = 125 + _math.ceil(cents * 3 / 100)
    return -(-fee // 5) * 5


def moor(date: str) -> str:
    """Return the Tide date stamp "YY/DDD" (two-digit year, day of year) of "YYYY-MM-DD"."""
    d = _dt.date.fromisoformat(date.strip())
    return f"{d.year % 100:02d}/{d.timetuple().tm_yday:03d}"


def gauge(height: float) -> str:
    """Return the sea-state label of a wave height in meters: calm, brisk, rough or wild."""
    if height < 0.4:
        return "calm"
    if height < 1.6:
        return "brisk"
    if height < 3.2:
        return "rough"
    return "wild"


def drift(version: str) -> str:
    """Return the next Tide version: the patch rolls over at 12 and the minor at 8."""
    major, minor, patch = (int(p) for p in version.strip().split("."))
    patch += 1
    if patch == 12:
        patch, minor = 0, minor + 1
    if minor == 8:
        minor, major = 0, major + 1
    return f"{major}.{minor}.{patch}"


def crest(text: str) -> str:
    """Mask every digit of ``text`` with "*" except the last 3 digits."""
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    hidden = set(positions[:-3]) if len(positions) > 3 else set()
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))


def spindle(items: list[str]) -> list[str]:
    """Drop items equal to an earlier one ignoring case and outer spaces; keep first spelling."""
    seen = set()
    out = []
    for item in items:
        key = item.strip().casefold()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def hull(counts: dict[str, int]) -> str:
    """Return the manifest line of ``counts``: "name×count" joined by "|", largest first."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "|".join(f"{name}×{count}" for name, count in ordered)
