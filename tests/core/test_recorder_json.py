"""A recorded run's metadata and signals are serialised once, in the recorder, and stored as such."""

from __future__ import annotations

import orjson
import pytest

import edgelearn.record.recorder as recorder_mod
import edgelearn.store.runs as runs_mod
from edgelearn.errors import InvalidInput
from edgelearn.record.schemas import RecordIn


def _counting_dumps(monkeypatch, module) -> list:
    seen: list = []
    real = orjson.dumps

    def dumps(value, *args, **kwargs):
        seen.append(value)
        return real(value, *args, **kwargs)

    monkeypatch.setattr(module.orjson, "dumps", dumps)
    return seen


def test_metadata_and_signals_are_dumped_once_and_stored_as_dumped(runtime, monkeypatch):
    meta = {"proxy": {"backend": "openai", "n": 3}, "chat": {"params": {"temperature": 0.2}}}
    rec = RecordIn(role="coder", output="ok", metadata=meta, signals={"tests": {"passed": 2, "total": 4}})
    seen = _counting_dumps(monkeypatch, recorder_mod)  # the same orjson module object in both
    run_id, reward = runtime.recorder.record(rec)
    assert runs_mod.orjson is recorder_mod.orjson
    assert sum(1 for v in seen if v == meta) == 1, "metadata serialised more than once"
    assert sum(1 for v in seen if v == [["tests", 0.5, {"passed": 2, "total": 4}]]) == 1
    stored = runtime.store.runs.get(run_id)
    assert stored.metadata == meta and reward == pytest.approx(0.5)
    assert [(s["kind"], s["value"], s["raw"]) for s in runtime.store.runs.signals(run_id)] == [
        ("tests", 0.5, {"passed": 2, "total": 4})]


def test_signals_json_cannot_hold_are_refused_naming_signals_and_nothing_is_stored(runtime):
    rec = RecordIn(role="coder", output="ok", signals={"tests": {"passed": 1, "total": 1, "log": {"n": 2**70}}})
    with pytest.raises(InvalidInput) as err:
        runtime.recorder.record(rec)
    assert err.value.field == "signals"
    assert runtime.store.runs.count_runs() == 0
