"""Contextual selection: per-cluster statistics over task embeddings beat role-wide ones
when the best prompt depends on the kind of task."""

from __future__ import annotations

import hashlib

import numpy as np

from edgelearn.bandits.context import kmeans
from edgelearn.embed.embedder import Embedder

DIM = 384
# two kinds of task; prompt "a" is right for one, "b" for the other (fractional rewards)
REWARD = {("alpha", "a"): 0.9, ("alpha", "b"): 0.1, ("beta", "a"): 0.1, ("beta", "b"): 0.9}


def fake_embed(texts):
    """Deterministic unit vectors near one of two directions, by the task's kind (the first word)."""
    out = []
    for text in texts:
        seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng(seed)
        v = rng.normal(0, 0.15, DIM)
        v[0 if text.startswith("alpha") else 1] += 1.0
        out.append(v / np.linalg.norm(v))
    return np.asarray(out, dtype=np.float32)


def test_kmeans_recovers_separated_groups():
    rng = np.random.default_rng(0)
    centers = np.eye(DIM)[:3]
    x = np.concatenate([c + rng.normal(0, 0.05, (50, DIM)) for c in centers])
    c, labels = kmeans(x, 3, rng)
    assert c.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-5)
    groups = [set(labels[i * 50:(i + 1) * 50].tolist()) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set().union(*groups)) == 3


def _play(rig, settings, contextual: bool) -> float:
    settings.bandit.contextual = contextual
    settings.bandit.clusters = 2
    settings.bandit.min_cluster_pulls = 10
    rig.add_prompts("coder", "a", "b")
    embedder = Embedder(rig.store, encode=fake_embed)
    rng = np.random.default_rng(11)

    def round_(i):
        kind = "alpha" if rng.random() < 0.5 else "beta"
        task = f"{kind} task number {i}"
        s = rig.selector.select("coder", task=task)
        reward = REWARD[(kind, s.decision.prompt.arm.variant)]
        rig.record(s, reward, task=task)
        return reward

    for i in range(60):  # before any clusters exist: role-wide statistics only
        round_(i)
    while embedder.run_once():
        pass
    if contextual:
        assert rig.selector.recluster("coder") == 2
    late = [round_(i) for i in range(60, 360)]
    return float(np.mean(late[100:]))


def test_contextual_policy_beats_the_plain_one(rig, settings):
    plain = _play(rig, settings, contextual=False)
    rig.close()
    rig.path = rig.path.with_name("contextual.db")
    rig.open(embed=fake_embed)
    contextual = _play(rig, settings, contextual=True)
    assert plain < 0.65, plain  # role-wide, both prompts look alike (0.5)
    assert contextual > 0.8, contextual
    event = rig.store.events.list(type="bandit.reclustered", limit=1)[0]
    assert event.payload["clusters"] == 2 and event.payload["selections"] == 60
    # the cluster rows were rebuilt from the relabelled selections and keep learning
    snap = rig.store.arms.snapshot("coder")
    assert {c for (_, c) in snap.stats} == {-1, 0, 1}
    last = rig.store.events.list(type="bandit.select", limit=1)[0].payload
    assert last["cluster"] in (0, 1) and last["prompt"]["stats"] == f"cluster {last['cluster']}"


def test_service_refits_roles_whose_embeddings_grew(home, settings):
    from edgelearn.bandits.service import SelectorService
    from edgelearn.record.recorder import Recorder
    from edgelearn.record.schemas import RecordIn
    from edgelearn.store import Store

    settings.bandit.contextual, settings.bandit.clusters = True, 2
    store = Store(home / "svc.db")
    try:
        svc = SelectorService(store, lambda: settings, config_file=home / "edgelearn.toml", embed=fake_embed).attach()
        svc.sync_prompts()
        svc.start()  # reconciles, then waits in the background
        recorder = Recorder(store, lambda: settings)
        for i in range(3):
            recorder.record(RecordIn(role="coder", output="x", task=f"alpha {i}"))
        embedder = Embedder(store, encode=fake_embed)
        while embedder.run_once():
            pass
        assert svc.refit_stale() == []  # 3 embeddings < 2 clusters × 2
        for i in range(20):
            recorder.record(RecordIn(role="coder", output="x", task=f"{'alpha' if i % 2 else 'beta'} {i}"))
        while embedder.run_once():
            pass
        assert svc.refit_stale() == ["coder"]
        assert svc.refit_stale() == []  # nothing new since
        assert svc.view("coder").centroids.shape == (2, DIM)
        assert svc.cluster_of("coder", "alpha again") != svc.cluster_of("coder", "beta again")
        svc.stop()
    finally:
        store.close()
