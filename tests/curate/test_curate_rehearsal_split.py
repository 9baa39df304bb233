"""Rehearsal share and the stability of the train / validation split across exports."""

from __future__ import annotations

import time

from edgelearn.curate import export_dataset
from edgelearn.train.split import split_of


def _runs(start: int, count: int, reward: float = 0.9) -> list[dict]:
    # distinct answers, so that tasks alike in wording are never near duplicates
    # fixed ids (in new_run_id's form): where each run falls in the split is the same on every run of the tests
    return [{"id": f"{0x18f000000000 + i:012x}{i * 2654435761 % 2**48:012x}",
             "input": f"Implement helper number {i} for the billing module.", "reward": reward,
             "output": f"def helper_{i}(amount):\n    return round(amount * {i + 1} / {i + 7}, {i % 5})\n"}
            for i in range(start, start + count)]


def test_rehearsal_mixes_in_its_share_of_earlier_examples(store, settings, home, add_runs, examples):
    old = add_runs(_runs(0, 12))
    first = export_dataset(store, settings, home, "coder", max_examples=12, cluster_cap=1.0)
    assert first.counts["rehearsal"] == 0  # nothing earlier to rehearse
    assert {e["run_id"] for e in examples(first)} == set(old)
    time.sleep(0.01)
    new = add_runs(_runs(100, 30))
    second = export_dataset(store, settings, home, "coder", max_examples=20, rehearsal=0.25, cluster_cap=1.0)
    kept = {e["run_id"] for e in examples(second)}
    rehearsed = set(second.manifest["runs"]["rehearsal"])
    assert second.counts == {"candidates": 42, "examples": 20, "train": second.counts["train"],
                             "val": second.counts["val"], "fresh": 15, "rehearsal": 5}
    assert len(rehearsed) == 5 and rehearsed <= set(old) and rehearsed <= kept
    assert kept - rehearsed <= set(new)  # the fresh part: the newest runs (equal rewards)
    assert {m[0] for m in store.datasets.members(second.version) if m[2] == "rehearsal"} == rehearsed
    assert second.counts["candidates"] == second.counts["examples"] + sum(second.rejections.values())
    # the same choice again: rehearsal picks by a hash of the run id, not at random
    third = export_dataset(store, settings, home, "coder", max_examples=20, rehearsal=0.25, cluster_cap=1.0)
    assert set(third.manifest["runs"]["rehearsal"]) == rehearsed


def test_rehearsal_slots_return_to_fresh_runs_when_nothing_earlier_qualifies(store, settings, home, add_runs,
                                                                             examples):
    add_runs(_runs(0, 5, reward=0.75))
    export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    add_runs(_runs(100, 30))
    # the earlier runs now fall below the bar: their slots go back to fresh runs
    ds = export_dataset(store, settings, home, "coder", max_examples=20, rehearsal=0.25, cluster_cap=1.0,
                        min_reward=0.8)
    assert ds.counts["examples"] == 20 and ds.counts["rehearsal"] == 0


def test_split_is_stable_when_runs_arrive(store, settings, home, add_runs, examples):
    add_runs(_runs(0, 40))
    first = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    add_runs(_runs(200, 60))
    second = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    val1 = {e["run_id"] for e in examples(first, "val")}
    train1 = {e["run_id"] for e in examples(first, "train")}
    val2 = {e["run_id"] for e in examples(second, "val")}
    train2 = {e["run_id"] for e in examples(second, "train")}
    assert val1 and train1
    assert val1 <= val2 and train1 <= train2 and not (val2 & train2)
    assert set(first.manifest["runs"]["val"]) == val1
    assert 0.05 < len(val2) / (len(val2) + len(train2)) < 0.4  # about val_fraction = 0.2


def test_split_depends_on_the_run_id_only():
    ids = [f"{i:024x}" for i in range(2000)]
    sides = [split_of(i, 0.2) for i in ids]
    assert sides == [split_of(i, 0.2) for i in ids]
    assert 0.17 < sides.count("val") / len(ids) < 0.23
    # a larger val_fraction only moves runs into validation, never out of it
    assert all(split_of(i, 0.3) == "val" for i, s in zip(ids, sides) if s == "val")
