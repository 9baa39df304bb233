"""Three indexes of runs that every recorded run paid for and almost nothing read.

Each index on runs costs every commit of a run one more 4 KiB WAL frame (two writes) and a b-tree
insert; on the record path that was about 45 µs of the event loop's 300-400 µs per run
(bench/hook.py). ``runs_hash`` was never read (curation deduplicates content hashes in memory),
and ``runs_model`` / ``runs_prompt`` only served listing runs filtered by model or prompt without
a role: that filter now walks runs newest first, which stops at the page's limit for any model
or prompt that served recent runs. With a role, ``runs_role_model_reward`` still serves it.
"""

from edgelearn.store.migrations import migration


@migration(7, "lean_runs_indexes")
def m0007_lean_runs_indexes(conn):
    for name in ("runs_hash", "runs_model", "runs_prompt"):
        conn.execute(f"drop index if exists {name}")
