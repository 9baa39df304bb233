"""The model registry and the Ollama sync queue."""

from edgelearn.store.migrations import migration


@migration(4, "models")
def m0004_models(conn):
    conn.execute(
        """
        create table models (
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
        -- one champion per role, enforced by the database itself
        create unique index models_one_champion on models(role) where state = 'champion';
        create index models_role_state on models(role, state);

        -- what Ollama should hold: one pending action per model, retried with backoff until done
        create table ollama_sync (
            model_id text primary key references models(id) on delete cascade,
            action text not null check (action in ('register', 'delete')),
            status text not null default 'pending' check (status in ('pending', 'failed')),
            attempts integer not null default 0,
            next_at real not null,
            last_error text,
            created_at real not null
        );
        create index ollama_sync_due on ollama_sync(status, next_at);
        """
    )
