"""Bandit arms, their statistics, the selections that announce runs, and task clusters."""

from edgelearn.store.migrations import migration


@migration(2, "bandits")
def m0002_bandits(conn):
    conn.execute(
        """
        create table arms (
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

        -- n, s, s2: (discounted, windowed) count, reward sum and sum of squares of the arm's
        -- observations, valued at the role's clock tick ``tick``; cluster -1 is the role-wide row
        create table arm_stats (
            arm_id integer not null references arms(id) on delete cascade,
            cluster integer not null,
            n real not null default 0,
            s real not null default 0,
            s2 real not null default 0,
            count integer not null default 0,  -- raw observations ever counted
            tick integer not null default 0,
            primary key (arm_id, cluster)
        ) without rowid;

        -- one clock per role: it advances by one per counted reward (the unit of discounting);
        -- discount and window are the settings the role's statistics were computed with
        create table arm_clock (
            role text primary key,
            tick integer not null default 0,
            discount real not null default 1,
            window integer not null default 0
        );

        create table selections (
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
        create index selections_role on selections(role, created_at);
        create index selections_tick on selections(role, tick) where tick is not null;

        create table arm_clusters (
            role text not null,
            cluster integer not null,
            centroid blob not null,           -- float32, unit norm
            size integer not null,
            updated_at real not null,
            primary key (role, cluster)
        );
        """
    )
