-- index events_role
CREATE INDEX events_role on events(role, id);
-- index events_type
CREATE INDEX events_type on events(type, id);
-- index feedback_run
CREATE INDEX feedback_run on feedback(run_seq);
-- index runs_created
CREATE INDEX runs_created on runs(created_at);
-- index runs_hash
CREATE INDEX runs_hash on runs(content_hash);
-- index runs_model
CREATE INDEX runs_model on runs(model_variant, created_at);
-- index runs_prompt
CREATE INDEX runs_prompt on runs(prompt_variant, created_at);
-- index runs_role_created
CREATE INDEX runs_role_created on runs(role, created_at);
-- index runs_unembedded
CREATE INDEX runs_unembedded on runs(seq) where embedded = 0;
-- index signals_run
CREATE INDEX signals_run on signals(run_seq, kind);
-- table _migrations
CREATE TABLE _migrations (number integer primary key, name text not null, applied_at real not null);
-- table events
CREATE TABLE events (
            id integer primary key,
            ts real not null,
            type text not null,
            role text,
            subject text,                     -- id of the run, model, job or experiment concerned
            payload text not null             -- JSON object
        );
-- table feedback
CREATE TABLE feedback (
            id integer primary key,
            run_seq integer not null references runs(seq) on delete cascade,
            kind text not null,               -- accept | reject | score | thumbs
            value real not null,              -- normalized to [0,1]
            raw text,
            comment text,
            created_at real not null
        );
-- table run_vec
CREATE VIRTUAL TABLE run_vec using vec0(
            run_seq integer primary key,
            role text partition key,
            emb float[384] distance_metric=cosine,
            project text
        );
-- table runs
CREATE TABLE runs (
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
-- table signals
CREATE TABLE signals (
            id integer primary key,
            run_seq integer not null references runs(seq) on delete cascade,
            kind text not null,               -- compile | tests | errors | human
            value real not null,              -- normalized to [0,1]
            raw text,                         -- JSON of what was reported
            source text,
            created_at real not null
        );
