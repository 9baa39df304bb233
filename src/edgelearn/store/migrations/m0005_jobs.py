"""Training jobs: one row per job, its state, live progress and final metrics."""

from edgelearn.store.migrations import migration


@migration(5, "jobs")
def m0005_jobs(conn):
    conn.execute(
        """
        create table jobs (
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
        create index jobs_role_created on jobs(role, created_at);
        create index jobs_state on jobs(state);
        """
    )
