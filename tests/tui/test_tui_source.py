"""Both data sources answer the same shapes; what one cannot do is ``Unavailable``, never a crash."""

from __future__ import annotations

import pytest
from tui_seed import NOW, seed_store

from edgelearn.errors import InvalidInput, NotFound
from edgelearn.tui import derive, fmt
from edgelearn.tui.source import HttpSource, LocalSource, RunFilter, Unavailable, probe


@pytest.fixture
def pair(server, home):
    """(local, http) sources over the same seeded runtime, the second through real HTTP."""
    seed_store(server.runtime.store, home)
    http = HttpSource(server.url, server.token)
    yield LocalSource(server.runtime), http
    http.close()


@pytest.mark.parametrize("flt", [RunFilter(), RunFilter(role="fixer"), RunFilter(model="coder-v2"),
                                 RunFilter(prompt="stepwise", min_reward=0.7)])
def test_runs_agree(pair, flt):
    local, http = pair
    ids = [r["id"] for r in local.runs(flt, limit=100)]
    assert ids == [r["id"] for r in http.runs(flt, limit=100)]
    assert ids and ids == sorted(ids, reverse=True)  # newest first (ids are time-ordered here)


def test_run_detail_agrees(pair):
    local, http = pair
    run_id = local.runs(RunFilter(), limit=1)[0]["id"]
    a, b = local.run(run_id), http.run(run_id)
    for key in ("id", "role", "output", "reward", "reward_components", "model_variant"):
        assert a[key] == b[key], key
    assert [s["kind"] for s in a["signals"]] == [s["kind"] for s in b["signals"]] == ["compile", "tests"]
    with pytest.raises(NotFound):
        local.run("0" * 24)
    with pytest.raises(NotFound):
        http.run("0" * 24)


@pytest.mark.parametrize("name", ["arms", "models", "experiments", "events", "learning_status", "config"])
def test_lists_agree(pair, name):
    local, http = pair
    a, b = getattr(local, name)(), getattr(http, name)()
    if name == "learning_status":
        assert set(a["roles"]) == set(b["roles"]) and a["toggles"] == b["toggles"]
        assert a["roles"]["coder"]["champion"]["id"] == b["roles"]["coder"]["champion"]["id"] == "coder-v1"
    elif name == "config":
        assert a["toggles"] == b["toggles"] == {"auto_export": True, "auto_train": True, "auto_deploy": True}
        assert a["file"] == b["file"]
    else:
        assert len(a) == len(b) > 0
        key = {"arms": "variant", "models": "id", "experiments": "id", "events": "type"}[name]
        assert [x[key] for x in a] == [x[key] for x in b]


def test_overview(pair):
    local, http = pair
    a, b = local.overview(NOW), http.overview(NOW)
    assert (a["window_s"], a["bucket_s"]) == (b["window_s"], b["bucket_s"]) == (3600, 60)
    assert a["trend"] == b["trend"] and len(a["trend"]) > 30
    assert a["runs_total"] == 60 and b["runs_total"] is None  # no cheap count over HTTP
    assert a["runs_per_min"] == b["runs_per_min"] == pytest.approx(3 / 5)  # runs 57-59 fall in the last 5 minutes


def test_http_actions_reach_the_store(pair, server):
    local, http = pair
    assert http.set_toggle("auto_train", False)["effective"] is False
    assert server.runtime.settings.train.auto_train is False
    assert http.rollback("coder", "from the test")["restored"] == "base"
    assert server.runtime.store.models.get("coder-v1").state == "rolled_back"
    http.promote("coder-v2", "from the test")
    assert server.runtime.store.models.champion("coder").id == "coder-v2"
    http.retire("coder-v2", "from the test")
    assert server.runtime.store.models.get("coder-v2").state == "retired"
    with pytest.raises(InvalidInput):
        http.set_toggle("auto_everything", True)


def test_http_unreachable_and_missing_endpoints(pair, server):
    _, http = pair
    gone = HttpSource("http://127.0.0.1:9", "token", timeout=2)
    with pytest.raises(Unavailable, match="cannot reach"):
        gone.runs(RunFilter())
    with pytest.raises(Unavailable, match="not available over HTTP yet"):
        http._request("GET", "/v1/no-such-thing", "a thing")
    assert probe(server.url) and not probe("http://127.0.0.1:9")


def test_local_source_over_a_bare_store_reads_na(seeded, home):
    src = LocalSource.over_store(seeded)
    status = src.learning_status()  # no runtime: computed from the store alone
    coder = status["roles"]["coder"]
    assert coder["champion"] == {"id": "coder-v1", "reward": pytest.approx(0.599, abs=0.01)}
    assert coder["experiment"]["stats"]["challenger"]["n"] == 24
    assert status["roles"]["fixer"]["stage"] == "train" and status["stage"] == "train"
    job = status["job"]
    assert (job["id"], job["state"], job["step"], job["total_steps"], job["eta_s"]) == ("job-3", "running", 12, 48, 290.0)
    with pytest.raises(Unavailable):
        src.set_toggle("auto_train", False)  # no config file to write


def test_missing_repo_methods_read_as_na(seeded, monkeypatch):
    src = LocalSource.over_store(seeded)

    class Bare:
        """A repository whose methods another stage has not written yet."""

        def __init__(self, store):
            self.store = store

    monkeypatch.setattr(type(seeded), "jobs", property(lambda self: Bare(self)))
    monkeypatch.setattr(type(seeded), "datasets", property(lambda self: Bare(self)))
    monkeypatch.setattr(type(seeded), "models", property(lambda self: Bare(self)))
    status = src.learning_status()
    coder = status["roles"]["coder"]
    assert status["job"] is None
    assert coder["progress"]["train"]["have"] is None
    assert "n/a" in fmt.bar(coder["progress"]["train"]["have"], coder["progress"]["train"]["need"])
    assert coder["champion"]["id"] == "base"
    assert src.models() == []


def test_derive_arm_interval_and_independence():
    mean, low, high = derive.arm_interval(100, 70.0, 52.0)
    assert mean == pytest.approx(0.7) and low < 0.7 < high and high - low < 0.2
    assert derive.arm_interval(0, 0, 0) == (None, None, None)
    assert derive.arm_interval(1, 0.5, 0.25)[1:] == (None, None)
    rows = [("base", 30, 0.6, 3000), ("coder-v1", 10, 0.8, 1000), ("gpt-4o", 60, 0.7, 9000), (None, 0, None, 0)]
    ind = derive.independence(rows, "coder", {"coder-v1"}, price_per_1k=0.01)
    assert ind["local_share"] == pytest.approx(0.4)
    assert ind["local_reward"] == pytest.approx(0.65)
    assert ind["external_reward"] == pytest.approx(0.7)
    assert ind["cost_saved"] == pytest.approx(0.04)


def test_derive_windows_and_stages():
    assert derive.pick_trend_window([(3600, 60, 3), (86400, 1800, 25)]) == (86400, 1800)
    assert derive.pick_trend_window([(3600, 60, 0), (86400, 1800, 0)]) == (86400, 1800)
    assert derive.overall_stage(["idle", "experiment", "train"]) == "train"
    assert derive.overall_stage([]) == "idle"
    assert derive.dataset_size({"train": 80, "val": 20}) == 80
    assert derive.dataset_size({"total": 7}) == 7 and derive.dataset_size(None) is None
    assert fmt.duration(3600) == "1h" and fmt.duration(125) == "2m05s" and fmt.duration(None) == "n/a"
