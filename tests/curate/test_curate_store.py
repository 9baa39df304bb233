"""The datasets table, the repo API, the manifest, and all-or-nothing publishing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import orjson
import pytest

from edgelearn.curate import export_dataset, pending_by_role, pending_good_runs
from edgelearn.errors import CurationError, InvalidInput, NotFound


def _good(n: int, start: int = 0, role: str = "coder") -> list[dict]:
    return [{"role": role, "input": f"Write helper {i}.", "output": f"def helper_{i}():\n    return {i}\n",
             "reward": 0.9} for i in range(start, start + n)]


def test_migration_creates_the_tables(store):
    def columns(table):
        return [(r[1], r[2], r[3]) for r in store.query(f"pragma table_info({table})")]

    assert columns("datasets") == [
        ("version", "TEXT", 0), ("role", "TEXT", 1), ("number", "INTEGER", 1), ("created_at", "REAL", 1),
        ("path", "TEXT", 1), ("format", "TEXT", 1), ("counts", "TEXT", 1), ("manifest", "TEXT", 1),
        ("state", "TEXT", 1), ("watermark_seq", "INTEGER", 1)]
    assert columns("dataset_runs") == [("version", "TEXT", 1), ("run_seq", "INTEGER", 1), ("split", "TEXT", 1),
                                       ("source", "TEXT", 1)]
    assert (3, "datasets") in store.query("select number, name from _migrations")
    plan = " ".join(r[3] for r in store.query(
        "explain query plan select seq from runs where role = 'x' and status = 'ok' and reward >= 0.7 "
        "order by reward desc, seq desc limit 10"))
    assert "runs_curate" in plan and "TEMP B-TREE" not in plan


def test_manifest_files_and_row(store, settings, home, add_runs):
    add_runs(_good(25))
    add_runs([{"input": "x", "output": "y", "reward": 0.1}])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert ds.version == "coder-ds1" and ds.path == home / "datasets" / "coder-ds1"
    assert sorted(os.listdir(ds.path)) == ["manifest.json", "train.jsonl", "val.jsonl"]
    manifest = orjson.loads((ds.path / "manifest.json").read_bytes())
    assert manifest == ds.manifest == store.datasets.get("coder-ds1").manifest
    assert set(manifest) == {"version", "role", "format", "created_at", "watermark_seq", "counts", "rejections",
                             "files", "runs", "redactions", "clusters", "embedding", "settings", "seconds",
                             "tools", "dropped_turns", "tool_result_chars"}
    for name, info in manifest["files"].items():
        data = (ds.path / name).read_bytes()
        assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["bytes"] == len(data)
        assert info["examples"] == data.count(b"\n")
    counts = manifest["counts"]
    assert counts["examples"] == counts["train"] + counts["val"] == 25
    assert counts["candidates"] == 26 == counts["examples"] + sum(manifest["rejections"].values())
    assert len(manifest["runs"]["train"]) == counts["train"] and len(manifest["runs"]["val"]) == counts["val"]
    assert manifest["settings"]["export"]["max_examples"] == settings.export.max_examples
    members = {m[0] for m in store.datasets.members(ds.version)}
    assert members == set(manifest["runs"]["train"] + manifest["runs"]["val"])
    event = store.events.list(type="dataset.created")[0]
    assert event.subject == "coder-ds1" and event.role == "coder" and event.payload["examples"] == 25


def test_repo_api_and_trigger_counts(store, settings, home, add_runs):
    add_runs(_good(5) + _good(3, role="fixer"))
    assert pending_good_runs(store, settings, "coder") == 5
    assert pending_by_role(store, settings) == {"coder": 5, "fixer": 3}
    assert store.datasets.latest("coder") is None
    first = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert pending_good_runs(store, settings, "coder") == 0
    add_runs(_good(4, start=10) + [{"input": "bad", "output": "run", "reward": 0.2}])
    assert store.datasets.runs_since_last("coder", 0.7) == 4
    assert store.datasets.runs_since_last("coder") == 5
    second = export_dataset(store, settings, home, "coder", format="completion", cluster_cap=1.0)
    export_dataset(store, settings, home, "fixer", cluster_cap=1.0)
    assert second.version == "coder-ds2" and store.datasets.latest("coder").version == "coder-ds2"
    assert [d.version for d in store.datasets.list(role="coder")] == ["coder-ds2", "coder-ds1"]
    assert {d.version for d in store.datasets.list()} == {"coder-ds1", "coder-ds2", "fixer-ds1"}
    assert store.datasets.get("coder-ds1").counts == first.counts
    with pytest.raises(NotFound):
        store.datasets.get("coder-ds9")


def test_nothing_to_export_says_why(store, settings, home, add_runs):
    add_runs([{"input": "x", "output": "y", "reward": 0.2}, {"input": "x", "output": "z", "reward": 1.0,
                                                               "status": "timeout"}])
    with pytest.raises(CurationError, match=r"status_not_ok 1, below_min_reward 1\).*min_reward"):
        export_dataset(store, settings, home, "coder")
    with pytest.raises(InvalidInput):
        export_dataset(store, settings, home, "no such role!")
    assert store.datasets.list() == [] and _leftovers(home) == []


def _leftovers(home) -> list[str]:
    root = home / "datasets"
    return sorted(os.listdir(root)) if root.exists() else []


def test_failure_while_writing_leaves_nothing(store, settings, home, add_runs, monkeypatch):
    import edgelearn.curate.export as export

    add_runs(_good(10))
    calls = {"n": 0}
    real = export.example

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "example", failing)
    with pytest.raises(OSError):
        export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert _leftovers(home) == [] and store.datasets.list() == []
    assert store.events.list(type="dataset.created") == []


def test_failure_while_publishing_leaves_nothing(store, settings, home, add_runs, monkeypatch):
    import edgelearn.curate.publish as publish

    add_runs(_good(10))

    def failing(*args, **kwargs):
        raise RuntimeError("event log broken")

    monkeypatch.setattr(publish.EventsRepo, "append_in", staticmethod(failing))
    with pytest.raises(RuntimeError):
        export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert _leftovers(home) == []
    assert store.query("select count(*) from datasets")[0][0] == 0
    assert store.query("select count(*) from dataset_runs")[0][0] == 0
    monkeypatch.undo()
    assert export_dataset(store, settings, home, "coder", cluster_cap=1.0).version == "coder-ds1"


def test_leftovers_of_a_killed_export_are_cleaned(store, settings, home, add_runs):
    add_runs(_good(10))
    root = home / "datasets"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (root / f".tmp-coder-ds1-{dead}-abc123").mkdir(parents=True)
    (root / f".tmp-coder-ds1-{dead}-abc123" / "train.jsonl").write_text("{}\n")
    (root / "coder-ds1").mkdir()  # renamed into place, then killed before the commit
    (root / "coder-ds1" / "train.jsonl").write_text("stale\n")
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert ds.version == "coder-ds1"
    assert _leftovers(home) == ["coder-ds1"]
    assert b"stale" not in (ds.path / "train.jsonl").read_bytes()
