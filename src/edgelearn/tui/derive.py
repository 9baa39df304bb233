"""Pure arithmetic behind the dashboard: no I/O and no imports from the rest of edgelearn.

``source/client.py`` fetches counts; which trend window to draw from them is decided here so it
can be tested on plain numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

# (window seconds, bucket seconds) tried in order: the first window holding enough runs is drawn,
# so a busy agent sees the last hour by the minute and a quiet one the last week by the day.
TREND_WINDOWS: tuple[tuple[int, int], ...] = ((3600, 60), (86400, 1800), (7 * 86400, 21600))
TREND_MIN_RUNS = 20
RATE_WINDOW_S = 300  # runs per minute averaged over five minutes: steady enough to read


def pick_trend_window(counts: Iterable[tuple[int, int, int]]) -> tuple[int, int]:
    """The first (window_s, bucket_s) whose run count reaches ``TREND_MIN_RUNS``, else the widest.

    ``counts`` yields (window_s, bucket_s, runs in that window), narrowest first; it is consumed
    lazily, so wider windows are not counted once one is enough.
    """
    last = TREND_WINDOWS[-1]
    for window, bucket, runs in counts:
        last = (window, bucket)
        if runs >= TREND_MIN_RUNS:
            return window, bucket
    return last

SPARK_BUCKETS = 24  # glyphs of the independence charts: 24 fit beside each other at 80 columns


def cumulative(values: Iterable[float | None]) -> list[float]:
    """Running totals (None adds nothing): cost saved so far, bucket by bucket."""
    out, total = [], 0.0
    for v in values:
        total += v or 0.0
        out.append(total)
    return out
