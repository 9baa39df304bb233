"""The embedder finds its work from a watermark instead of a partial index.

``runs_unembedded`` held every run until the embedder reached it: one more WAL frame in every
recorded run's commit. The embedder takes runs in ``seq`` order, so it only needs to know how far
it got: ``embed_progress.after_seq``, advanced in the transaction that stores each batch. Every run
up to it has an embedding; past it, the embedder walks ``runs`` by rowid (``embedded = 0``). Runs
that curation embedded out of order are past it and are skipped by that test.
"""

from edgelearn.store.migrations import migration


@migration(9, "embed_watermark")
def m0009_embed_watermark(conn):
    conn.execute("create table embed_progress (id integer primary key check (id = 1), after_seq integer not null)")
    # where an existing store's embedder is: just before its oldest run without an embedding
    conn.execute("insert into embed_progress(id, after_seq) values (1, coalesce("
                 "(select min(seq) from runs where embedded = 0), (select coalesce(max(seq), 0) + 1 from runs)) - 1)")
    conn.execute("drop index if exists runs_unembedded")
