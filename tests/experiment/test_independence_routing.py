"""The independence scheduler on a real store: sticky sessions, the escape hatch, pins, bad input."""

from __future__ import annotations

import pytest

from edgelearn.config import load_settings
from edgelearn.errors import ConfigError, InvalidInput
from edgelearn.experiment.independence import IndependenceRouter
from edgelearn.experiment.independence.levels import IndependenceConfig
from edgelearn.experiment.independence.service import IndependenceService

ROLE = "coder"
SESSIONS = [f"session-{i}" for i in range(2000)]


@pytest.fixture
def svc(store):
    return IndependenceService(store, IndependenceConfig())


def test_the_service_is_what_routing_expects(svc):
    assert isinstance(svc, IndependenceRouter)


def test_sessions_stay_sticky_while_the_level_moves(svc):
    svc.pin(ROLE, 2)
    first = {s: svc.decide(ROLE, 0, s, True, None) for s in SESSIONS}
    local = [s for s, c in first.items() if c.local]
    assert 850 < len(local) < 1150  # level 2: 50 %
    svc.pin(ROLE, 4)  # a level change mid-task splits no session
    again = {s: svc.decide(ROLE, 0, s, True, None) for s in SESSIONS}
    assert all(again[s].target == first[s].target and again[s].sticky for s in SESSIONS)
    fresh = [svc.decide(ROLE, 0, f"new-{i}", True, None) for i in range(2000)]
    assert sum(c.local for c in fresh) > 1800  # new sessions get level 4's 95 %
    svc.pin(ROLE, 0)
    assert all(svc.decide(ROLE, 0, s, True, None).local for s in local[:200])


def test_escape_moves_a_session_to_the_teacher_and_is_counted(svc):
    svc.pin(ROLE, 4)
    session = next(s for s in SESSIONS if svc.decide(ROLE, 5, s, True, None).local)
    choice = svc.escape(ROLE, session, reason="tool call names a tool that was not offered")
    assert choice.target == "teacher" and choice.cluster == 5 and "not offered" in choice.reason
    assert all(svc.decide(ROLE, 5, session, True, None).target == "teacher" for _ in range(5))
    svc.flush()
    row = next(r for r in svc.report(ROLE) if r["cluster"] == 5)
    assert row["escapes"] == 1 and row["local_requests"] == 1 and row["escape_rate"] == 1.0


def test_ineligible_requests_go_to_the_teacher_and_end_a_local_session(svc):
    svc.pin(ROLE, 4)
    choice = svc.decide(ROLE, 1, "too-long", False, None)
    assert choice.target == "teacher" and not choice.eligible and "ineligible" in choice.reason
    session = next(s for s in SESSIONS if svc.decide(ROLE, 1, s, True, None).local)
    moved = svc.decide(ROLE, 1, session, False, None)
    assert moved.target == "teacher" and "no longer fits" in moved.reason
    assert svc.decide(ROLE, 1, session, True, None).target == "teacher"
    svc.flush()
    row = next(r for r in svc.report(ROLE) if r["cluster"] == 1)
    assert row["requests"] >= 4 and row["eligible_share"] < 1.0


def test_low_confidence_goes_to_the_teacher(svc):
    svc.pin(ROLE, 4)
    low = [svc.decide(ROLE, 2, f"low-{i}", True, 0.2) for i in range(300)]
    assert {c.target for c in low} == {"teacher"} and "confidence 0.20" in low[0].reason
    high = [svc.decide(ROLE, 2, f"high-{i}", True, 0.9) for i in range(300)]
    assert sum(c.local for c in high) > 250


def test_pinning_overrides_the_cluster_level_and_freezes_it(svc, store):
    assert svc.decide(ROLE, 7, "a", True, None).target == "teacher"
    svc.pin(ROLE, 3, reason="trust it")
    assert svc.level(ROLE, 7) == 3 and svc.level(ROLE, None) == 3
    assert svc.level("reviewer", 7) == 0  # per role
    # while pinned no level moves, however strong the evidence
    store.write(lambda conn: [svc.observe_in(conn, ROLE, 7, side, None, 0.9) for _ in range(300)
                              for side in ("teacher", "shadow")])
    assert store.events.list(type="independence.advanced") == []
    assert svc.unpin(ROLE) and not svc.unpin(ROLE)
    assert svc.level(ROLE, 7) == 0
    kinds = [e.type for e in reversed(store.events.list(type="independence.", role=ROLE))]
    assert kinds == ["independence.pinned", "independence.unpinned"]
    # another process (the CLI) pinning is seen within the cache's second
    other = IndependenceService(store, IndependenceConfig())
    other.pin(ROLE, 1)
    svc.invalidate()
    assert svc.level(ROLE, 7) == 1


def test_switched_off_everything_goes_to_the_teacher(store):
    svc = IndependenceService(store, IndependenceConfig(enabled=False))
    svc.pin(ROLE, 4)
    choices = [svc.decide(ROLE, 0, s, True, 1.0) for s in SESSIONS[:300]]
    assert {c.target for c in choices} == {"teacher"} and "switched off" in choices[0].reason


@pytest.mark.parametrize("call, field", [
    (lambda s: s.pin(ROLE, 7), "level"),
    (lambda s: s.pin(ROLE, True), "level"),
    (lambda s: s.pin("bad role!", 1), "role"),
    (lambda s: s.decide("", 0, "x", True, None), "role"),
    (lambda s: s.decide(ROLE, "zero", "x", True, None), "cluster"),
    (lambda s: s.decide(ROLE, 0, "x", "yes", None), "eligible"),
    (lambda s: s.decide(ROLE, 0, "x", True, 1.5), "confidence"),
    (lambda s: s.decide(ROLE, 0, 42, True, None), "session"),
    (lambda s: s.observe(ROLE, 0, "oracle", 0.5), "side"),
    (lambda s: s.observe(ROLE, 0, "local", 1.2), "new"),
    (lambda s: s.observe(ROLE, 0, "local", 0.5, tokens_in=-3), "tokens_in"),
])
def test_bad_input_names_the_field(svc, store, call, field):
    with pytest.raises(InvalidInput) as err:
        call(svc)
    assert err.value.field == field
    assert store.independence.list() == [] and store.independence.pins() == {}  # nothing half-written


@pytest.mark.parametrize("kwargs, field", [
    ({"shares": (0.2, 0.5, 1.5, 0.95)}, "shares"),
    ({"shares": (0.5, 0.2, 0.8, 0.95)}, "shares"),
    ({"shares": (0.2, 0.5, 0.8)}, "shares"),
    ({"max_gap": -0.1}, "max_gap"),
    ({"confidence": 1.0}, "confidence"),
    ({"min_samples": 1}, "min_samples"),
    ({"shadow_share": 2}, "shadow_share"),
    ({"min_confidence": -1}, "min_confidence"),
])
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(InvalidInput) as err:
        IndependenceConfig(**kwargs)
    assert err.value.field == field


def test_settings_section_reaches_the_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[independence]\nshares = [0.1, 0.3, 0.6, 0.9]\nmax_gap = 0.05\n[drift]\nwindow = 30\n")
    config = IndependenceConfig.from_settings(load_settings(cfg, environ={}))
    assert config.shares == (0.1, 0.3, 0.6, 0.9) and config.max_gap == 0.05 and config.drift_window == 30
    assert config.share(0) == 0.0 and config.share(3) == 0.6
    cfg.write_text("[independence]\nshares = [0.1, 0.3, 0.6, 1.9]\n")
    with pytest.raises(ConfigError, match="independence.shares"):
        load_settings(cfg, environ={})
