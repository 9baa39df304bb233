"""The TUI's source over both clients answers the same shapes; over a bare store it reads what the store tells."""

from __future__ import annotations

import pytest
from tui_seed import NOW, seed_store

from edgelearn.client import EmbeddedClient, HttpClient
from edgelearn.errors import ConfigError, InvalidInput, NotFound
from edgelearn.tui import derive, fmt
from edgelearn.tui.source import ClientSource, RunFilter


@pytest.fixture
def pair(server, home):
    """(in-process, http) sources over the same seeded runtime, the second through real HTTP."""
    seed_store(server.runtime.store, home)
    http = ClientSource(HttpClient(server.url, server.token), owns=True)
    yield ClientSource(EmbeddedClient.over_runtime(server.runtime)), http
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
    assert a == b
    assert (a["role"], a["model"]) == ("fixer", "base") and a["reward_components"]
    assert [s["kind"] for s in a["signals"]] == ["compile", "tests"]
    assert local.similar(run_id) == http.similar(run_id) == {"embedded": False, "similar": []}
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
    assert a["runs_total"] == 60 and b["runs_total"] is None  # over HTTP a total is a pass over every run
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


def test_source_over_a_bare_store(seeded, home):
    src = ClientSource(EmbeddedClient.over_store(seeded))
    assert src.kind == "local" and src.describe() == f"local · {seeded.path}"
    status = src.learning_status()  # no runtime: the same status computed over the store alone
    coder = status["roles"]["coder"]
    assert coder["champion"]["id"] == "coder-v1"
    assert coder["experiment"]["stats"]["challenger"]["n"] == 24
    assert status["roles"]["fixer"]["stage"] == "train" and status["roles"]["coder"]["stage"] == "experiment"
    job = status["job"]
    assert (job["id"], job["state"], job["step"], job["total_steps"], job["eta_s"]) == ("job-3", "running", 12, 48, 290.0)
    with pytest.raises(ConfigError, match="no config file"):
        src.set_toggle("auto_train", False)
    with pytest.raises(Exception, match="no selector"):
        src.client.select("coder")


def test_derive_windows():
    assert derive.pick_trend_window([(3600, 60, 3), (86400, 1800, 25)]) == (86400, 1800)
    assert derive.pick_trend_window([(3600, 60, 0), (86400, 1800, 0)]) == (86400, 1800)
    assert derive.pick_trend_window([(3600, 60, 20)]) == (3600, 60)
    assert fmt.duration(3600) == "1h" and fmt.duration(125) == "2m05s" and fmt.duration(None) == "n/a"
