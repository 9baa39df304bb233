"""``runs_session`` on ``(session, seq, reward)``: a session's totals read the index alone.

The index of m0011 was on ``session`` alone (SQLite appends the rowid, so it already served a
session's runs in ``seq`` order and ``seq`` ranges). Counting and averaging the rewards of a
session's runs (every row of the review queue and of ``/v1/sessions``) read each run's row for
its reward, which lies after the input and output: with agents' long prompts, a walk through
overflow pages per run. With ``reward`` in the index those totals never touch the table (600
sessions of 5 runs with 20 kB inputs: 26 ms → 1.8 ms). ``seq`` is named before ``reward`` so that
ordering and ranges by ``seq`` within a session still come from the index.
"""

from edgelearn.store.migrations import migration


@migration(13, "runs_session_totals")
def m0013_runs_session_totals(conn):
    conn.execute("drop index if exists runs_session")
    conn.execute("create index runs_session on runs(session, seq, reward) where session is not null")
