"""Champion/challenger experiments, their per-variant statistics, loop chains and drift watches."""

from edgelearn.store.migrations import migration


@migration(6, "experiments")
def m0006_experiments(conn):
    conn.execute(
        """
        create table experiments (
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
        create unique index experiments_one_running on experiments(role) where state = 'running';
        create index experiments_role on experiments(role, started_at);

        create table experiment_stats (
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

        create table chains (
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
        create unique index chains_one_running on chains(role) where state = 'running';

        -- learning status and independence: served_by and the champion's recent rewards, by index alone
        create index runs_role_model_reward on runs(role, model_variant, reward, tokens_in, tokens_out);

        create table drift_watches (
            role text primary key,
            model_id text not null,             -- the champion watched
            previous_champion text,             -- what a rollback returns to
            baseline_mean real not null,
            baseline_std real not null,
            detector text not null,             -- JSON state of the streaming detector
            active integer not null default 1,
            started_at real not null
        );
        """
    )
