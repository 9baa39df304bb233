"""How numbers, times and missing values read on screen (one place, so every screen agrees)."""

from __future__ import annotations

import time
from typing import Any

NA = "n/a"


def num(value: Any, digits: int = 2) -> str:
    """A float with ``digits`` decimals; n/a for None."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def pct(value: float | None, digits: int = 0) -> str:
    return NA if value is None else f"{100 * value:.{digits}f}%"


def count(value: int | None) -> str:
    return NA if value is None else f"{value:,}"


def clock_time(ts: float | None, now: float) -> str:
    """HH:MM:SS for today, MM-DD HH:MM for older times (local time zone)."""
    if ts is None:
        return NA
    t, n = time.localtime(ts), time.localtime(now)
    if (t.tm_year, t.tm_yday) == (n.tm_year, n.tm_yday):
        return time.strftime("%H:%M:%S", t)
    return time.strftime("%m-%d %H:%M", t)


def duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h10m``, ``3d4h``."""
    if seconds is None:
        return NA
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m" + (f"{s % 60:02d}s" if s % 60 else "")
    if s < 86400:
        return f"{s // 3600}h" + (f"{s % 3600 // 60:02d}m" if s % 3600 // 60 else "")
    return f"{s // 86400}d" + (f"{s % 86400 // 3600}h" if s % 86400 // 3600 else "")


def ago(ts: float | None, now: float) -> str:
    return NA if ts is None else f"{duration(now - ts)} ago"


def bar(have: int | None, need: int | None, width: int = 10) -> str:
    """``████░░░░░░ 40/100`` progress toward a threshold; full once reached."""
    if have is None or not need:
        return f"{'·' * width} {NA}"
    filled = min(width, int(width * have / need))
    return f"{'█' * filled}{'░' * (width - filled)} {have:,}/{need:,}"


def short(text: Any, width: int) -> str:
    """One line of at most ``width`` characters."""
    if text is None:
        return ""
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def text_of(value: Any) -> str:
    """A run's input (text or chat messages) as readable text."""
    if isinstance(value, list):
        parts = []
        for m in value:
            if isinstance(m, dict):
                parts.append(f"[{m.get('role', '?')}] {m.get('content', '')}")
            else:
                parts.append(str(m))
        return "\n".join(parts)
    return "" if value is None else str(value)


SPARK = "▁▂▃▄▅▆▇█"


def spark(values: list[float | None], top: float = 1.0) -> str:
    """One glyph per value on a fixed 0..``top`` scale (so 90% always looks high, unlike a chart
    scaled to its own minimum and maximum); a space where there is no value."""
    glyphs = []
    for v in values:
        if v is None:
            glyphs.append(" ")
            continue
        frac = min(max(v / top, 0.0), 1.0) if top > 0 else 0.0
        glyphs.append(SPARK[round(frac * (len(SPARK) - 1))])
    return "".join(glyphs)


def money(value: float | None) -> str:
    """``$1.23`` (``$0.0042`` below a cent); n/a for None."""
    if value is None:
        return NA
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"
