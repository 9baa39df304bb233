"""Runs, signals, feedback, the event log and task embeddings."""

from edgelearn.store.migrations import migration

EMBED_DIM = 384


@migration(1, "core")
def m0001_core(conn):
    conn.execute(
        """
        create table runs (
            seq integer primary key,          -- rowid; also the key of run_vec
            id text not null unique,          -- public, time-sortable id
            created_at real not null,
            session text,
            project text,
            role text not null,
            task text,
            prompt_variant text,
            model_variant text,
            input text,                       -- text, or JSON list of messages
            output text not null,
            tokens_in integer,
            tokens_out integer,
            latency_ms real,
            cost real,
            status text not null default 'ok',
            reward real,
            reward_components text,           -- JSON {signal: value in [0,1]}
            metadata text,                    -- JSON object
            content_hash text not null,       -- sha256 of normalized input + output
            embedded integer not null default 0
        );
        create index runs_created on runs(created_at);
        create index runs_role_created on runs(role, created_at);
        create index runs_model on runs(model_variant, created_at);
        create index runs_prompt on runs(prompt_variant, created_at);
        create index runs_hash on runs(content_hash);
        create index runs_unembedded on runs(seq) where embedded = 0;

        create table signals (
            id integer primary key,
            run_seq integer not null references runs(seq) on delete cascade,
            kind text not null,               -- compile | tests | errors | human
            value real not null,              -- normalized to [0,1]
            raw text,                         -- JSON of what was reported
            source text,
            created_at real not null
        );
        create index signals_run on signals(run_seq, kind);

        create table feedback (
            id integer primary key,
            run_seq integer not null references runs(seq) on delete cascade,
            kind text not null,               -- accept | reject | score | thumbs
            value real not null,              -- normalized to [0,1]
            raw text,
            comment text,
            created_at real not null
        );
        create index feedback_run on feedback(run_seq);

        create table events (
            id integer primary key,
            ts real not null,
            type text not null,
            role text,
            subject text,                     -- id of the run, model, job or experiment concerned
            payload text not null             -- JSON object
        );
        create index events_type on events(type, id);
        create index events_role on events(role, id);
        """
    )
    conn.execute(
        f"""create virtual table run_vec using vec0(
            run_seq integer primary key,
            role text partition key,
            emb float[{EMBED_DIM}] distance_metric=cosine,
            project text
        )"""
    )
