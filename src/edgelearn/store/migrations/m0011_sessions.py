"""Sessions (an agent's episode over many runs), their outcome signals and feedback.

A session row appears with the first run that names it (a trigger on runs, so every writer of
runs gets it for one primary-key probe per run; a new session costs one row). Existing runs'
``session`` values are backfilled here. ``runs_session`` serves a session's runs in order and
is partial: runs without a session do not pay for it. A run in a closed session reopens it (a
Claude Code ``Stop`` ends a turn, and the user may go on).

``session_edits`` keeps the lines an assistant wrote (Claude Code's Edit / Write hooks) until a
commit scores how many of them survive (the ``survival`` signal).

An outcome covers the session's runs with ``from_seq <= seq <= upto_seq``: the credit rule
(``edgelearn.sessions.credit``, docs/sessions.md) fixes both when the outcome arrives.
"""

from edgelearn.store.migrations import migration


@migration(11, "sessions")
def m0011_sessions(conn):
    conn.execute(
        """
        create table sessions (
            seq integer primary key,
            id text not null unique,
            project text,                     -- repository path (or the project the runs named)
            agent text,                       -- claude-code | codex | cline | continue | aider | ...
            started_at real not null,
            ended_at real,                    -- null while open
            end_reason text,
            profile text                      -- JSON {languages, frameworks} of the repository
        );
        create index sessions_project on sessions(project, seq);

        create table session_outcomes (
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
        create index session_outcomes_session on session_outcomes(session_seq, id);

        create table session_feedback (
            id integer primary key,
            session_seq integer not null references sessions(seq) on delete cascade,
            kind text not null,               -- accept | reject | score | thumbs
            value real not null,
            raw text,
            comment text,
            created_at real not null
        );
        create index session_feedback_session on session_feedback(session_seq);

        create table session_edits (
            id integer primary key,
            session_seq integer not null references sessions(seq) on delete cascade,
            path text not null,               -- absolute path of the file the assistant wrote
            lines text not null,              -- JSON list of the lines it wrote
            created_at real not null,
            scored_commit text                -- the commit whose survival signal counted it
        );
        create index session_edits_open on session_edits(path) where scored_commit is null;

        create index runs_session on runs(session) where session is not null;

        create trigger runs_session_row after insert on runs when new.session is not null
        begin
            insert into sessions(id, project, started_at) values (new.session, new.project, new.created_at)
            on conflict(id) do update set project = coalesce(sessions.project, excluded.project),
                ended_at = null, end_reason = null
            where (sessions.project is null and excluded.project is not null) or sessions.ended_at is not null;
        end;

        insert into sessions(id, project, started_at)
            select session, max(project), min(created_at) from runs where session is not null
            group by session order by min(seq);
        """
    )
