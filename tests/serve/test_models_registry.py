"""The model registry in the store: ids, states, events, one champion, rollback, the sync queue."""

from __future__ import annotations

import apsw
import pytest

from edgelearn.errors import InvalidInput, NotFound
from edgelearn.serve import registry
from edgelearn.serve.base import sha256_file


def test_migration_creates_the_registry_tables(store):
    columns = [r[1] for r in store.query("pragma table_info(models)")]
    assert columns == ["id", "role", "number", "state", "created_at", "updated_at", "artifacts_dir", "base_path",
                       "base_sha256", "adapter_path", "adapter_sha256", "merged_path", "merged_sha256",
                       "dataset_version", "job_id", "metrics", "ollama_name", "promoted_at", "demoted_at"]
    queue = [r[1] for r in store.query("pragma table_info(ollama_sync)")]
    assert queue == ["model_id", "action", "status", "attempts", "next_at", "last_error", "created_at"]
    assert (4, "models") in store.query("select number, name from _migrations")


def test_register_numbers_versions_per_role_and_records_files(store, make_artifacts, gguf_files):
    first = registry.register(store, "coder", make_artifacts("job-1"), metrics={"parity": {"adapter": True}})
    second = registry.register(store, "coder", make_artifacts("job-2"), job_id="job-2b", dataset_version="coder-ds2")
    other = registry.register(store, "fixer", make_artifacts("job-3", adapter=False))
    assert (first, second, other) == ("coder-v1", "coder-v2", "fixer-v1")
    v1 = store.models.get("coder-v1")
    assert v1.state == "candidate" and v1.role == "coder"
    assert v1.adapter_sha256 == sha256_file(gguf_files["adapter"])
    assert v1.merged_sha256 == sha256_file(gguf_files["light_merged"])
    base = gguf_files["light_base"]  # named by report.json
    assert v1.base_path == str(base.resolve()) and v1.base_sha256 == sha256_file(base)
    assert (v1.job_id, v1.dataset_version, v1.metrics) == ("job-1", "coder-ds1", {"parity": {"adapter": True}})
    v2 = store.models.get("coder-v2")
    assert (v2.job_id, v2.dataset_version) == ("job-2b", "coder-ds2")  # arguments win over report.json
    assert store.models.get("fixer-v1").adapter_path is None
    event = store.events.list(type="model.candidate", subject="coder-v1")[0]
    assert event.payload["from"] is None and event.payload["to"] == "candidate" and event.role == "coder"


def test_register_copies_artifacts_from_outside_the_home(store, home, tmp_path, gguf_files):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "merged.gguf").write_bytes(gguf_files["adapter"].read_bytes())
    model_id = registry.register(store, "coder", outside)
    version = store.models.get(model_id)
    assert version.artifacts_dir.startswith(str((home / "artifacts").resolve()))
    assert (version.merged_path and version.merged_path != str(outside / "merged.gguf"))
    assert not list((home / "artifacts").glob(".tmp-*"))


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "neither adapter.gguf nor merged.gguf"),
    (lambda d: (d / "merged.gguf").write_bytes(b"not a gguf"), "not a GGUF file"),
    (lambda d: [(d / "adapter.gguf").write_bytes(b"GGUF" + b"\0" * 8), (d / "report.json").write_text("{")],
     "not JSON"),
])
def test_register_refuses_bad_artifacts_and_leaves_nothing(store, home, setup, message):
    folder = home / "artifacts" / "bad"
    folder.mkdir(parents=True)
    setup(folder)
    with pytest.raises(InvalidInput, match=message):
        registry.register(store, "coder", folder)
    assert store.models.list() == []
    with pytest.raises(InvalidInput, match="role"):
        registry.register(store, "bad role!", folder)


def test_promotion_keeps_one_champion_and_logs_every_transition(store, make_artifacts):
    a = registry.register(store, "coder", make_artifacts("a"))
    b = registry.register(store, "coder", make_artifacts("b"))
    store.models.set_state(a, "champion", "first deploy")
    store.models.set_state(b, "challenger", "experiment started")
    store.models.set_state(b, "champion", "won the experiment")
    assert store.models.champion("coder").id == b
    assert store.models.get(a).state == "retired"
    assert store.models.previous_champion("coder").id == a
    retired = store.models.get(a)
    assert retired.demoted_at is not None and retired.promoted_at is not None
    kinds = [(e.type, e.subject, e.payload["from"], e.payload["to"]) for e in reversed(store.events.list(type="model"))]
    assert kinds == [("model.candidate", a, None, "candidate"), ("model.candidate", b, None, "candidate"),
                     ("model.champion", a, "candidate", "champion"), ("model.challenger", b, "candidate", "challenger"),
                     ("model.retired", a, "champion", "retired"), ("model.champion", b, "challenger", "champion")]
    assert store.events.list(type="model.retired")[0].payload["reason"] == f"replaced by {b}"


def test_the_database_itself_refuses_a_second_champion(store, make_artifacts):
    a = registry.register(store, "coder", make_artifacts("a"))
    b = registry.register(store, "coder", make_artifacts("b"))
    store.models.set_state(a, "champion")
    with pytest.raises(apsw.ConstraintError):
        store.write(lambda c: c.execute("update models set state = 'champion' where id = ?", (b,)))


def test_invalid_transitions_name_the_allowed_ones(store, make_artifacts):
    a = registry.register(store, "coder", make_artifacts("a"))
    with pytest.raises(InvalidInput, match="candidate; it can become challenger or champion or retired, not rolled_back"):
        store.models.set_state(a, "rolled_back", "")
    with pytest.raises(InvalidInput, match="not one of"):
        store.models.set_state(a, "promoted", "")
    with pytest.raises(NotFound, match="coder-v9"):
        store.models.set_state("coder-v9", "champion", "")
    with pytest.raises(InvalidInput, match="base model has no state"):
        store.models.set_state("base", "retired", "")
    assert store.models.get(a).state == "candidate"


def test_rollback_restores_the_previous_champion_in_one_transaction(store, make_artifacts):
    a = registry.register(store, "coder", make_artifacts("a"))
    b = registry.register(store, "coder", make_artifacts("b"))
    store.models.set_state(a, "champion", "")
    store.models.set_state(b, "champion", "")
    restored = store.models.rollback("coder", "reward dropped 8% over 20 runs")
    assert restored.id == a and restored.state == "champion"
    assert store.models.get(b).state == "rolled_back"
    assert store.events.list(type="model.rolled_back")[0].payload["reason"] == "reward dropped 8% over 20 runs"
    assert store.models.rollback("coder", "again") is None  # nothing before a: the role falls back to base
    assert store.models.champion("coder") is None
    with pytest.raises(InvalidInput, match="no champion"):
        store.models.rollback("coder", "once more")


def test_base_is_always_there(home, base_gguf):
    from edgelearn.store import Store

    store = Store(home / "located.db", locate_base=lambda: base_gguf)
    try:
        base = store.models.get("base")
        assert base.id == "base" and base.base_path == str(base_gguf) and base.adapter_path is None
        assert store.models.list() == []
    finally:
        store.close()


def test_the_store_names_the_base_only_when_told_where_it_is(store):
    # the base's file is the serving layer's to find (serve.base); a bare store says what it lacks
    with pytest.raises(NotFound, match="without the base model's path"):
        store.models.get("base")


def test_a_failed_registration_removes_the_copy_it_made(store, home, tmp_path, make_artifacts, monkeypatch):
    outside = tmp_path / "elsewhere"
    make_artifacts("x").rename(outside)
    artifacts_root = home / "artifacts"
    before = sorted(p.name for p in artifacts_root.iterdir())

    def refuse(*args, **kwargs):
        raise InvalidInput("refused by the test")

    monkeypatch.setattr(store.models, "add", refuse)
    with pytest.raises(InvalidInput, match="refused by the test"):
        registry.register(store, "coder", outside, home=home)
    assert sorted(p.name for p in artifacts_root.iterdir()) == before  # no import-* copy left behind
    assert (outside / "adapter.gguf").is_file()  # the caller's own files stay


def test_served_states_queue_ollama_work(store, make_artifacts):
    a = registry.register(store, "coder", make_artifacts("a"))
    assert store.models.sync_tasks() == []
    store.models.set_state(a, "challenger", "")
    task = store.models.sync_task(a)
    assert (task.action, task.status, task.attempts) == ("register", "pending", 0)
    store.models.set_state(a, "retired", "lost")
    assert store.models.sync_task(a) is None  # never reached Ollama: nothing to delete
    store.models.set_state(a, "champion", "")
    store.models.sync_done(a, "register", "edgelearn-coder-v1", {"route": "merged"})
    assert store.models.get(a).ollama_name == "edgelearn-coder-v1" and store.models.sync_task(a) is None
    store.models.set_state(a, "rolled_back", "drift")
    assert store.models.sync_task(a).action == "delete"
    store.models.sync_retry(a, "delete", "connection refused", 30)
    task = store.models.sync_task(a)
    assert task.attempts == 1 and task.last_error == "connection refused"
    assert store.models.sync_tasks(due_before=task.next_at - 1) == []
