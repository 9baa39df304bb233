"""The signals sent with a run live on its row; ``run_signals`` reads them with the later ones.

Writing them as rows of ``signals`` cost every recorded run a second and third b-tree (the table
and its index on run_seq): two of the commit's eleven WAL frames and 50-70 µs of the event loop's
time per run (bench/hook.py). Signals that arrive later (``POST /v1/runs/{id}/signals``,
feedback) are still rows of ``signals``. Runs recorded before this migration keep theirs there.
"""

from edgelearn.store.migrations import migration


@migration(8, "record_signals")
def m0008_record_signals(conn):
    conn.execute("alter table runs add column record_signals text")  # JSON [[kind, value, raw], ...]
    # every signal of a run in the order it came: those sent with the run, then the later rows
    conn.execute(
        """
        create view run_signals(run_seq, kind, value, raw, source, created_at, late, pos) as
            select r.seq, j.value ->> 0, j.value ->> 1, j.value -> 2, 'record', r.created_at, 0, j.key
              from runs r, json_each(r.record_signals) j
            union all
            select run_seq, kind, value, raw, source, created_at, 1, id from signals
        """
    )
