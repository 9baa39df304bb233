"""``GET /v1/learning/status``, ``GET /v1/events`` and the learning actions over a real loopback
server (its loop thread running), plus the status of a chain caught mid-training."""

from __future__ import annotations

import os

import pytest
from elsupport import start_server, wait_for

from edgelearn.loop.status import is_local, learning_status, overall_stage
from edgelearn.train.proc import process_start


@pytest.fixture
def live(make_runtime):
    rt = make_runtime(export={"min_runs": 50}, train={"min_examples": 40}, experiments={"challenger_traffic": 0.5})
    server, stop = start_server(rt)
    yield server
    stop()


def status(live) -> dict:
    response = live.client.get("/v1/learning/status")
    assert response.status_code == 200
    return response.json()


def test_status_shows_progress_toward_each_threshold_the_champion_and_independence(live, record):
    rt = live.runtime
    record(rt, [1.0] * 10, model="external/teacher", tokens_out=100)
    record(rt, [0.5] * 30, model="base", tokens_out=100)
    body = status(live)
    assert body["stage"] == "idle" and body["job"] is None
    assert body["toggles"] == {"auto_export": True, "auto_train": True, "auto_deploy": True}
    assert body["loop"]["interval_s"] == 30.0 and body["loop"]["error"] is None
    coder = body["roles"]["coder"]
    assert coder["stage"] == "idle" and coder["chain"] is None and coder["experiment"] is None
    assert coder["progress"] == {"export": {"have": 10, "need": 50}, "train": {"have": 0, "need": 40}}
    assert coder["champion"] == {"id": "base", "reward": pytest.approx(0.5)}
    assert coder["independence"] == {"local_share": 0.75, "local_runs": 30, "external_runs": 10,
                                     "local_reward": pytest.approx(0.5), "external_reward": pytest.approx(1.0),
                                     "cost_saved": pytest.approx(0.03)}  # 3,000 local tokens at 0.01 per 1k
    assert coder["drift"] is None


def test_status_shows_a_running_experiment_and_the_trained_champion(live, record, register_model):
    rt = live.runtime
    champion = register_model(rt, state="champion")
    record(rt, [0.8] * 4, model=champion)
    challenger = register_model(rt)
    exp_id = rt.services["experiments"].start_experiment("coder", challenger)
    record(rt, [0.6] * 3, model=challenger)
    record(rt, [0.3] * 2, role="fixer", model="base")
    body = status(live)
    coder, fixer = body["roles"]["coder"], body["roles"]["fixer"]
    assert body["stage"] == coder["stage"] == "experiment" and fixer["stage"] == "idle"
    assert coder["champion"] == {"id": champion, "reward": pytest.approx(0.8)}
    assert fixer["champion"] == {"id": "base", "reward": pytest.approx(0.3)} and fixer["experiment"] is None
    exp = coder["experiment"]
    assert (exp["id"], exp["champion"], exp["challenger"], exp["traffic"], exp["state"]) == (
        exp_id, champion, challenger, 0.5, "running")
    assert exp["stats"]["challenger"]["n"] == 3 and exp["stats"]["challenger"]["mean"] == pytest.approx(0.6)
    assert exp["stats"]["champion"] == {"n": 0, "mean": None, "mean_latency_ms": None}


def test_events_are_listed_newest_first_filtered_by_type_prefix_and_role(live, register_model):
    rt = live.runtime
    start = rt.store.events.append("test.mark", {})
    model_id = register_model(rt)
    rt.services["experiments"].start_experiment("coder", model_id)
    rt.store.events.append("experiment.note", {"n": 1}, role="fixer")
    newest = live.client.get("/v1/events", params={"type": "experiment"}).json()["events"]
    assert [(e["type"], e["role"]) for e in newest] == [("experiment.note", "fixer"), ("experiment.started", "coder")]
    assert newest[1]["subject"] == "exp-coder-1" and newest[1]["payload"]["challenger"] == model_id
    coder = live.client.get("/v1/events", params={"role": "coder", "after_id": start}).json()["events"]
    types = [e["type"] for e in coder if not e["type"].startswith("bandit.")]  # the arms follow the registry
    assert types == ["model.candidate", "model.challenger", "experiment.started"]  # oldest first
    assert len(live.client.get("/v1/events", params={"limit": 2}).json()["events"]) == 2
    assert live.client.get("/v1/events", params={"limit": 0}).status_code == 422
    for field in ("after_id", "before_id"):  # past SQLite's 64-bit integers: was an OverflowError (a 500)
        r = live.client.get("/v1/events", params={field: str(2**64)})
        assert r.status_code == 422 and r.json()["error"]["param"] == field, r.text


def test_a_manual_trigger_over_http_is_skipped_while_an_experiment_runs(live, register_model):
    rt = live.runtime
    rt.services["experiments"].start_experiment("coder", register_model(rt))
    response = live.client.post("/v1/learning/trigger", json={"role": "coder", "reason": "from the test"})
    assert response.status_code == 200 and response.json() == {"role": "coder", "triggered": True}
    events = wait_for(lambda: live.client.get("/v1/events", params={"type": "loop.skipped"}).json()["events"])
    assert events[0]["payload"] == {"reason": "an experiment is running", "trigger": "from the test"}
    assert rt.store.experiments.chains() == []
    bad = live.client.post("/v1/learning/trigger", json={"role": "not a role"})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "role"


def test_rollback_over_http_serves_the_previous_champion_on_the_next_request(live, register_model):
    rt = live.runtime
    first = register_model(rt, state="champion")
    second = register_model(rt)
    assert live.client.post("/v1/learning/promote", json={"model": second}).json() == {
        "model": second, "state": "champion"}

    def served() -> str:
        response = live.client.post("/v1/chat/completions", json={
            "model": "edgelearn/coder", "user": "session-1", "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 200
        return response.headers["x-edgelearn-model"]

    assert served() == second
    response = live.client.post("/v1/learning/rollback", json={"role": "coder", "reason": "from the test"})
    assert response.json() == {"role": "coder", "serving": first}
    assert served() == first
    assert status(live)["roles"]["coder"]["champion"]["id"] == first
    again = live.client.post("/v1/learning/rollback", json={"role": "fixer"})
    assert again.status_code == 422 and "no trained champion" in again.json()["error"]["message"]


def test_status_of_a_chain_in_training_shows_the_stage_and_the_job(make_runtime, tmp_path):
    rt = make_runtime()
    store = rt.store
    store.jobs.create("job-live", role="coder", base_model="stand-in", dataset_dir=str(tmp_path),
                      job_dir=str(tmp_path / "job-live"), dataset_version="coder-ds1", config={})
    store.jobs.start("job-live", pid=os.getpid(), proc_start=process_start(os.getpid()), backend="peft")
    store.jobs.report("job-live", stage="training", progress={"step": 3, "total_steps": 12, "loss": 1.25})

    def fn(conn):
        chain_id = store.experiments.start_chain_in(conn, "coder", "manual")
        store.experiments.update_chain_in(conn, chain_id, stage="train", dataset_version="coder-ds1",
                                          job_id="job-live")
        return chain_id

    chain_id = store.write(fn)
    body = learning_status(rt)
    assert body["stage"] == "train"
    coder = body["roles"]["coder"]
    assert coder["stage"] == "train"
    chain = coder["chain"]
    assert (chain["id"], chain["state"], chain["job_id"]) == (chain_id, "running", "job-live")
    job = body["job"]
    assert (job["id"], job["state"], job["stage"], job["role"]) == ("job-live", "running", "training", "coder")
    assert (job["step"], job["total_steps"], job["loss"]) == (3, 12, 1.25)


def test_independence_counts_provider_models_as_external_and_versions_as_local(make_runtime, record,
                                                                                register_model):
    rt = make_runtime()
    version = register_model(rt)
    record(rt, [1.0] * 2, model="openai/gpt-4.1", tokens_out=100)  # a provider model: a paid API
    record(rt, [1.0], model="external/teacher", tokens_out=100)
    record(rt, [0.5] * 3, model=version, tokens_out=100)
    record(rt, [0.5], model="base", tokens_out=100)
    record(rt, [0.5], model="ollama/qwen2.5-coder", tokens_out=100)
    ind = learning_status(rt)["roles"]["coder"]["independence"]
    assert (ind["local_runs"], ind["external_runs"], ind["local_share"]) == (5, 3, 5 / 8)
    assert ind["local_reward"] == pytest.approx(0.5) and ind["external_reward"] == pytest.approx(1.0)
    assert ind["cost_saved"] == pytest.approx(0.005)  # 500 local tokens at 0.01 per 1k


def test_is_local_means_base_a_registered_version_or_ollama():
    versions = {"coder-v1"}
    assert [is_local(m, versions) for m in ("base", "coder-v1", "ollama/llama3")] == [True] * 3
    assert [is_local(m, versions) for m in ("openai/gpt-4.1", "anthropic/claude-sonnet-4", "external/teacher",
                                            "coder-v2", "qwen2.5-coder", None, "")] == [False] * 7


def test_the_overall_stage_is_the_busiest_role(make_runtime, record, register_model):
    rt = make_runtime()
    store = rt.store
    record(rt, [0.5], role="agent")  # alphabetically first, and only waiting in an A/B test
    rt.services["experiments"].start_experiment("agent", register_model(rt, role="agent"))

    def chain(role: str, stage: str) -> int:
        def fn(conn):
            chain_id = store.experiments.start_chain_in(conn, role, "manual")
            store.experiments.update_chain_in(conn, chain_id, stage=stage)
            return chain_id

        return store.write(fn)

    fixer = chain("fixer", "curate")
    assert learning_status(rt)["stage"] == "curate"
    coder = chain("coder", "train")
    body = learning_status(rt)
    assert body["stage"] == "train"
    assert [body["roles"][r]["stage"] for r in ("agent", "coder", "fixer")] == ["experiment", "train", "curate"]
    store.write(lambda conn: store.experiments.update_chain_in(conn, coder, state="done", stage="done"))
    store.write(lambda conn: store.experiments.update_chain_in(conn, fixer, state="done", stage="done"))
    assert learning_status(rt)["stage"] == "experiment"


def test_overall_stage_precedence():
    assert overall_stage(["experiment", "idle", "curate", "train"]) == "train"
    assert overall_stage(["experiment", "register"]) == "register"
    assert overall_stage(["idle", "experiment"]) == "experiment"
    assert overall_stage(["idle", "idle"]) == overall_stage([]) == "idle"
