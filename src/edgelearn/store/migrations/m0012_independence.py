"""Independence: the teacher -> local levels per role and task cluster, with their evidence.

Numbered 12: 10 and 11 are taken by migrations being written beside this one (providers and
sessions); the runner applies whatever numbers exist, in order.
"""

from edgelearn.store.migrations import migration


@migration(12, "independence")
def m0012_independence(conn):
    conn.execute(
        """
        create table independence_clusters (
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

        create table independence_pins (
            role text primary key,
            level integer not null check (level between 0 and 4),
            reason text,
            pinned_at real not null
        );
        """
    )
