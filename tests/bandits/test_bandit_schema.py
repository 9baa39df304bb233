"""Migration 2 on a blank database gives exactly the bandit tables."""

from __future__ import annotations


def _columns(store, table):
    return [r[1] for r in store.query(f"pragma table_info({table})")]


def test_bandit_tables(store):
    assert _columns(store, "arms") == ["id", "role", "kind", "variant", "text", "notes", "backend", "model_name",
                                       "cost_per_1k", "enabled", "source", "path", "created_at", "updated_at"]
    assert _columns(store, "arm_stats") == ["arm_id", "cluster", "n", "s", "s2", "count", "tick"]
    assert _columns(store, "arm_clock") == ["role", "tick", "discount", "window"]
    assert _columns(store, "selections") == ["run_id", "role", "prompt_arm", "model_arm", "cluster", "policy",
                                             "created_at", "reward", "tick"]
    assert _columns(store, "arm_clusters") == ["role", "cluster", "centroid", "size", "updated_at"]
    indexes = {r[0] for r in store.query("select name from sqlite_master where type = 'index' and tbl_name = 'selections'"
                                          " and sql is not null")}
    assert indexes == {"selections_role", "selections_tick"}
    assert store.query("select name from _migrations where number = 2") == [("bandits",)]
