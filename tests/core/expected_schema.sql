-- index chains_one_running
CREATE UNIQUE INDEX chains_one_running on chains(role) where state = 'running';
-- index dataset_runs_seq
CREATE INDEX dataset_runs_seq on dataset_runs(run_seq);
-- index datasets_created
CREATE INDEX datasets_created on datasets(created_at);
-- index events_role
CREATE INDEX events_role on events(role, id);
-- index events_type
CREATE INDEX events_type on events(type, id);
-- index experiments_one_running
CREATE UNIQUE INDEX experiments_one_running on experiments(role) where state = 'running';
-- index experiments_role
CREATE INDEX experiments_role on experiments(role, started_at);
-- index feedback_run
CREATE INDEX feedback_run on feedback(run_seq);
-- index jobs_role_created
CREATE INDEX jobs_role_created on jobs(role, created_at);
-- index jobs_state
CREATE INDEX jobs_state on jobs(state);
-- index models_one_champion
CREATE UNIQUE INDEX models_one_champion on models(role) where state = 'champion';
-- index models_role_state
CREATE INDEX models_role_state on models(role, state);
-- index ollama_sync_due
CREATE INDEX ollama_sync_due on ollama_sync(status, next_at);
-- index runs_created
CREATE INDEX runs_created on runs(created_at);
-- index runs_curate
CREATE INDEX runs_curate on runs(role, reward, seq) where status = 'ok';
-- index runs_role_created
CREATE INDEX runs_role_created on runs(role, created_at);
-- index runs_role_model_reward
CREATE INDEX runs_role_model_reward on runs(role, model_variant, reward, tokens_in, tokens_out);
-- index runs_session
CREATE INDEX runs_session on runs(session, seq, reward) where session is not null;
-- index selections_role
CREATE INDEX selections_role on selections(role, created_at);
-- index selections_tick
CREATE INDEX selections_tick on selections(role, tick) where tick is not null;
-- index session_edits_open
CREATE INDEX session_edits_open on session_edits(path) where scored_commit is null;
-- index session_feedback_session
CREATE INDEX session_feedback_session on session_feedback(session_seq);
-- index session_outcomes_session
CREATE INDEX session_outcomes_session on session_outcomes(session_seq, id);
-- index sessions_project
CREATE INDEX sessions_project on sessions(project, seq);
-- index signals_run
CREATE INDEX signals_run on signals(run_seq, kind);
-- table _migrations
CREATE TABLE _migrations (number integer primary key, name text not null, applied_at real not null);
-- table arm_clock
CREATE TABLE arm_clock (
            role text primary key,
            tick integer not null default 0,
            discount real not null default 1,
            window integer not null default 0
        );
-- table arm_clusters
CREATE TABLE arm_clusters (
            role text not null,
            cluster integer not null,
            centroid blob not null,           -- float32, unit norm
            size integer not null,
            updated_at real not null,
            primary key (role, cluster)
        );
-- table arm_stats
CREATE TABLE arm_stats (
            arm_id integer not null references arms(id) on delete cascade,
            cluster integer not null,
            n real not null default 0,
            s real not null default 0,
            s2 real not null default 0,
            count integer not null default 0,  -- raw observations ever counted
            tick integer not null default 0,
            primary key (arm_id, cluster)
        ) without rowid;
-- table arms
CREATE TABLE arms (
            id integer primary key,
            role text not null,
            kind text not null check (kind in ('prompt', 'model')),
            variant text not null,            -- prompt variant id or model id: what runs record
            text text,                        -- the prompt (prompt arms)
            notes text,
            backend text,                     -- model arms: embedded | ollama | ...
            model_name text,                  -- the backend's name for the model
            cost_per_1k real not null default 0,
            enabled integer not null default 1,
            source text not null,             -- file | api | registry | default
            path text,                        -- file arms: the file it was read from
            created_at real not null,
            updated_at real not null,
            unique (role, kind, variant)
        );
-- table chains
CREATE TABLE chains (
            id integer primary key,
            role text not null,
            trigger text not null,              -- sample_count | schedule | quality_drop | error_rate | input_drift | manual
            state text not null,                -- running | done | failed | cancelled
            stage text not null,                -- curate | train | register | experiment | done
            started_at real not null,
            updated_at real not null,
            dataset_version text,
            job_id text,
            model_id text,
            experiment_id text,
            reason text
        );
-- table dataset_runs
CREATE TABLE dataset_runs (
            version text not null references datasets(version) on delete cascade,
            run_seq integer not null,          -- runs.seq; no foreign key, so retention purges stay cheap
            split text not null check (split in ('train', 'val')),
            source text not null check (source in ('fresh', 'rehearsal')),
            primary key (version, run_seq)
        ) without rowid;
-- table datasets
CREATE TABLE datasets (
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
-- table drift_watches
CREATE TABLE drift_watches (
            role text primary key,
            model_id text not null,             -- the champion watched
            previous_champion text,             -- what a rollback returns to
            baseline_mean real not null,
            baseline_std real not null,
            detector text not null,             -- JSON state of the streaming detector
            active integer not null default 1,
            started_at real not null
        );
-- table embed_progress
CREATE TABLE embed_progress (id integer primary key check (id = 1), after_seq integer not null);
-- table events
CREATE TABLE events (
            id integer primary key,
            ts real not null,
            type text not null,
            role text,
            subject text,                     -- id of the run, model, job or experiment concerned
            payload text not null             -- JSON object
        );
-- table experiment_stats
CREATE TABLE experiment_stats (
            experiment_id text not null references experiments(id),
            variant text not null,              -- champion | challenger
            n integer not null default 0,       -- scored runs
            reward_sum real not null default 0,
            reward_sq real not null default 0,
            latency_sum real not null default 0,
            latency_n integer not null default 0,
            cost_sum real not null default 0,
            primary key (experiment_id, variant)
        );
-- table experiments
CREATE TABLE experiments (
            id text primary key,
            role text not null,
            champion text not null,             -- model id serving the rest of the traffic
            challenger text not null,
            traffic real not null,              -- challenger's share of sessions
            state text not null,                -- running | promoted | retired | stopped
            started_at real not null,
            ended_at real,
            decision text,                      -- JSON of the latest decision
            reason text
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
-- table independence_clusters
CREATE TABLE independence_clusters (
            role text not null,
            cluster integer not null,           -- bandit context cluster; -1: tasks not clustered (yet)
            level integer not null default 0 check (level between 0 and 4),
            champion text,                      -- the local model the evidence is about
            epoch integer not null default 0,   -- bumped by every level change: statistics restart
            since real not null,                -- when this epoch began
            local_n integer not null default 0, -- scored live local runs in this epoch
            local_sum real not null default 0,
            local_sq real not null default 0,
            teacher_n integer not null default 0,
            teacher_sum real not null default 0,
            teacher_sq real not null default 0,
            shadow_n integer not null default 0, -- scored background (shadow) answers in this epoch
            shadow_sum real not null default 0,
            shadow_sq real not null default 0,
            detector text,                      -- JSON state of the drift detector (levels >= 1)
            requests integer not null default 0,        -- lifetime counters from here on
            local_requests integer not null default 0,
            ineligible integer not null default 0,
            escapes integer not null default 0,
            local_tokens_in integer not null default 0,
            local_tokens_out integer not null default 0,
            updated_at real not null,
            primary key (role, cluster)
        ) without rowid;
-- table independence_pins
CREATE TABLE independence_pins (
            role text primary key,
            level integer not null check (level between 0 and 4),
            reason text,
            pinned_at real not null
        );
-- table jobs
CREATE TABLE jobs (
            id text primary key,
            role text not null,
            state text not null,              -- queued | running | succeeded | failed | cancelled
            stage text,                       -- queued | loading | training | evaluating | exporting | parity | publishing
            created_at real not null,
            started_at real,
            finished_at real,
            updated_at real not null,
            pid integer,                      -- the training child process
            proc_start text,                  -- its start marker, so a reused pid is not taken for it
            base_model text not null,
            dataset_version text,
            dataset_dir text not null,
            job_dir text not null,            -- <home>/jobs/<id>: spec.json, child.log, out/ while running
            backend text,
            config text not null,             -- JSON: the training settings the job ran with
            progress text,                    -- JSON: step, total_steps, epoch, loss, tokens_per_s, eta_s
            metrics text,                     -- JSON: validation loss, parity, evaluation (summary of report.json)
            artifact_dir text,                -- <home>/artifacts/<id> once published
            reason text,                      -- why it failed or was cancelled
            cancel_requested integer not null default 0
        );
-- table models
CREATE TABLE models (
            id text primary key,              -- <role>-v<number>, e.g. coder-v1
            role text not null,
            number integer not null,
            state text not null check (state in ('candidate', 'challenger', 'champion', 'retired', 'rolled_back')),
            created_at real not null,
            updated_at real not null,
            artifacts_dir text not null,
            base_path text not null,          -- the base GGUF the adapter was trained on
            base_sha256 text not null,
            adapter_path text,                -- llama.cpp LoRA GGUF (embedded serving)
            adapter_sha256 text,
            merged_path text,                 -- base + adapter merged GGUF (Ollama >= 0.34.1)
            merged_sha256 text,
            dataset_version text,
            job_id text,
            metrics text not null default '{}',  -- JSON: evaluation, parity, ...
            ollama_name text,                 -- set once registered with Ollama, cleared on delete
            promoted_at real,                 -- last time it became champion
            demoted_at real,                  -- last time it stopped being champion
            unique (role, number)
        );
-- table ollama_sync
CREATE TABLE ollama_sync (
            model_id text primary key references models(id) on delete cascade,
            action text not null check (action in ('register', 'delete')),
            status text not null default 'pending' check (status in ('pending', 'failed')),
            attempts integer not null default 0,
            next_at real not null,
            last_error text,
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
        , record_signals text);
-- table selections
CREATE TABLE selections (
            run_id text primary key,
            role text not null,
            prompt_arm integer references arms(id),
            model_arm integer references arms(id),
            cluster integer,                  -- task cluster at selection time; null without context
            policy text not null,
            created_at real not null,
            reward real,                      -- the reward counted in arm_stats (null: not yet)
            tick integer                      -- the role's clock when it was counted
        );
-- table session_edits
CREATE TABLE session_edits (
            id integer primary key,
            session_seq integer not null references sessions(seq) on delete cascade,
            path text not null,               -- absolute path of the file the assistant wrote
            lines text not null,              -- JSON list of the lines it wrote
            created_at real not null,
            scored_commit text                -- the commit whose survival signal counted it
        );
-- table session_feedback
CREATE TABLE session_feedback (
            id integer primary key,
            session_seq integer not null references sessions(seq) on delete cascade,
            kind text not null,               -- accept | reject | score | thumbs
            value real not null,
            raw text,
            comment text,
            created_at real not null
        );
-- table session_outcomes
CREATE TABLE session_outcomes (
            id integer primary key,
            session_seq integer not null references sessions(seq) on delete cascade,
            kind text not null,               -- compile | tests | errors | human | survival
            value real not null,              -- normalized to [0,1]
            raw text,                         -- JSON of what was reported
            source text,
            created_at real not null,
            from_seq integer not null,        -- the runs it covers: from_seq <= runs.seq <= upto_seq
            upto_seq integer not null
        );
-- table sessions
CREATE TABLE sessions (
            seq integer primary key,
            id text not null unique,
            project text,                     -- repository path (or the project the runs named)
            agent text,                       -- claude-code | codex | cline | continue | aider | ...
            started_at real not null,
            ended_at real,                    -- null while open
            end_reason text,
            profile text                      -- JSON {languages, frameworks} of the repository
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
-- trigger runs_session_row
CREATE TRIGGER runs_session_row after insert on runs when new.session is not null
        begin
            insert into sessions(id, project, started_at) values (new.session, new.project, new.created_at)
            on conflict(id) do update set project = coalesce(sessions.project, excluded.project),
                ended_at = null, end_reason = null
            where (sessions.project is null and excluded.project is not null) or sessions.ended_at is not null;
        end;
-- view run_signals
CREATE VIEW run_signals(run_seq, kind, value, raw, source, created_at, late, pos) as
            select r.seq, j.value ->> 0, j.value ->> 1, j.value -> 2, 'record', r.created_at, 0, j.key
              from runs r, json_each(r.record_signals) j
            union all
            select run_seq, kind, value, raw, source, created_at, 1, id from signals;
