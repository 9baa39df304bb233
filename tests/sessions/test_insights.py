"""The review queue and the failure patterns on seeded sessions with a known answer."""

import numpy as np
import pytest
from elsupport import start_server

from edgelearn.runtime import Runtime
from edgelearn.store.runs import pack_vector


def unit(i: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    v = np.zeros(384, dtype=np.float32)
    v[i] = 1.0
    if noise:
        v += np.random.default_rng(seed).normal(0, noise, 384).astype(np.float32)
    return v / np.linalg.norm(v)


# session → (task, embedding axis or None, outcome signals)
SEED = {
    "csv-1": ("parse CSV", 0, {"tests": {"passed": 0, "total": 1}}),
    "csv-2": ("parse CSV", 0, {"tests": {"passed": 0, "total": 3}}),
    "csv-3": ("parse CSV rows", 0, {"tests": {"passed": 0, "total": 2}, "compile": False}),
    "plot-1": ("draw a chart", 1, {"compile": False}),
    "noemb": ("something", None, {"compile": False}),
    "ok-1": ("parse CSV quickly", 0, {"tests": {"passed": 1, "total": 1}}),
    "edge-1": ("rename a function", 2, {"tests": {"passed": 1, "total": 1}, "compile": False}),
    "near-1": ("sort a list", 3, {"tests": {"passed": 7, "total": 10}}),
    "unk": ("write docs", None, {}),
}


@pytest.fixture
def seeded(home):
    (home / "edgelearn.toml").write_text("[sessions]\nreview_budget = 5\n")
    rt = Runtime(home=home, embed=False)
    live, stop = start_server(rt)
    c, store = live.client, rt.store
    for n, (sid, (task, axis, signals)) in enumerate(SEED.items()):
        rid = c.post("/v1/runs", json={"role": "coder", "output": "x", "task": task, "session": sid}).json()["id"]
        if axis is not None:
            seq = store.runs.get(rid).seq
            vec = pack_vector(unit(axis, 0.01, seed=n))
            store.write(lambda conn, seq=seq, vec=vec: store.runs.store_embeddings_in(conn, [(seq, "coder", None, vec)]))
        if signals:
            assert c.post(f"/v1/sessions/{sid}/signals", json={"signals": signals}).status_code == 200
    assert c.post("/v1/sessions/ok-1/feedback", json={"kind": "accept"}).status_code == 200  # one verdict today
    yield live
    stop()


def test_failure_patterns(seeded):
    body = seeded.client.get("/v1/sessions/patterns").json()
    assert body["failed"] == 5 and body["unembedded"] == 1  # noemb failed but has no task embedding
    assert [(p["size"], p["failing_signal"], sorted(p["sessions"])) for p in body["patterns"]] == [
        (3, "tests", ["csv-1", "csv-2", "csv-3"]), (1, "compile", ["plot-1"])]
    assert body["patterns"][0]["example"] == "parse CSV rows"  # the newest session of the cluster


def test_review_queue(seeded):
    body = seeded.client.get("/v1/sessions/review").json()
    assert body["budget"] == 5 and body["left_today"] == 4
    # edge-1: signals disagree (tests 1, compile 0); unk: no reward at all; near-1: reward at the export
    # threshold; then the failures in clusters without a verdict before those of the judged CSV cluster
    assert [x["id"] for x in body["sessions"]] == ["edge-1", "unk", "near-1", "noemb"]
    scores = {x["id"]: x["score"] for x in body["sessions"]}
    assert scores == {"edge-1": 0.875, "unk": 0.875, "near-1": pytest.approx(0.825), "noemb": 0.5}
    everything = seeded.runtime.store.sessions.review_candidates()
    assert "ok-1" not in [s.id for s in everything]
    from edgelearn.sessions.credit import credit_for
    from edgelearn.sessions.insights import review_queue

    settings = seeded.runtime.settings.model_copy(update={"sessions": seeded.runtime.settings.sessions.model_copy(
        update={"review_budget": 100})})
    full = review_queue(seeded.runtime.store, settings, credit_for(seeded.runtime))["sessions"]
    tail = {x["id"]: x for x in full[-3:]}
    assert set(tail) == {"csv-1", "csv-2", "csv-3"}
    assert tail["csv-1"]["diversity"] == 0.5 and tail["csv-1"]["score"] == 0.375  # its cluster has a verdict
