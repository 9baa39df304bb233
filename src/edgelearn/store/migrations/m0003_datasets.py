"""Curated dataset versions, the runs each one holds, and the index curation streams runs by."""

from edgelearn.store.migrations import migration


@migration(3, "datasets")
def m0003_datasets(conn):
    conn.execute(
        """
        create table datasets (
            version text primary key,          -- <role>-ds<number>, e.g. coder-ds3
            role text not null,
            number integer not null,           -- 1, 2, ... per role
            created_at real not null,
            path text not null,                -- directory with train.jsonl, val.jsonl, manifest.json
            format text not null,              -- messages | alpaca | completion
            counts text not null,              -- JSON {examples, train, val, fresh, rehearsal, candidates}
            manifest text not null,            -- JSON copy of manifest.json
            state text not null default 'ready',
            watermark_seq integer not null,    -- highest runs.seq the export could see
            unique (role, number)
        );
        create index datasets_created on datasets(created_at);

        create table dataset_runs (
            version text not null references datasets(version) on delete cascade,
            run_seq integer not null,          -- runs.seq; no foreign key, so retention purges stay cheap
            split text not null check (split in ('train', 'val')),
            source text not null check (source in ('fresh', 'rehearsal')),
            primary key (version, run_seq)
        ) without rowid;
        create index dataset_runs_seq on dataset_runs(run_seq);

        -- curation reads a role's good runs best first (reward desc, newest first) by keyset paging
        create index runs_curate on runs(role, reward, seq) where status = 'ok';
        """
    )
