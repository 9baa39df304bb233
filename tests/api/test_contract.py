"""One contract, two clients: ``edgelearn.open`` (embedded) and ``edgelearn.connect`` (HTTP to a
real server on loopback) pass the same cases, sync and async, and read each other's runs."""

from __future__ import annotations

import os

import pytest
from api_support import embed_all, register_model
from elsupport import start_server

import edgelearn
from edgelearn.client import Event, Run, Selection, Session, SessionOutcome, SimilarRun
from edgelearn.errors import ConfigError, EdgelearnError, InvalidInput, MalformedJSON, NotFound, Unreachable

SIGNALS = {"compile": True, "tests": {"passed": 3, "total": 4}, "errors": 2}


class Rig:
    """A client and the runtime behind it (the test reads the store directly to check writes)."""

    def __init__(self, client, runtime, home):
        self.client, self.runtime, self.home = client, runtime, home

    @property
    def store(self):
        return self.runtime.store


def _embedded(home):
    client = edgelearn.open(home, embed=False)
    return Rig(client, client.runtime, home), client.close


def _http(home):
    from edgelearn.runtime import Runtime

    rt = Runtime(home=home, embed=False)
    live, stop = start_server(rt)
    client = edgelearn.connect(live.url, live.token)

    def close():
        client.close()
        stop()

    return Rig(client, rt, home), close


OPENERS = {"embedded": _embedded, "http": _http}


@pytest.fixture(params=list(OPENERS))
def rig(request, home):
    made, close = OPENERS[request.param](home)
    yield made
    close()


# --- recording ---------------------------------------------------------------------------------
def test_record_returns_the_scored_run(rig):
    run = rig.client.record(role="coder", task="add a CSV parser", output="def parse(p): ...", model="qwen",
                            prompt="v2", session="s1", project="demo", latency_ms=120.5, signals=SIGNALS)
    assert isinstance(run, Run) and len(run.id) == 24
    assert run.reward == pytest.approx((1.0 + 0.75 + 1 / (1 + 2 / 5)) / 3)
    assert (run.role, run.model, run.prompt, run.session, run.project) == ("coder", "qwen", "v2", "s1", "demo")
    assert [s["kind"] for s in run.signals] == ["compile", "tests", "errors"] and run.feedback == []
    assert rig.store.runs.get(run.id).reward == run.reward  # committed, not only answered
    assert rig.client.run(run.id) == run


def test_late_signals_and_feedback_recompute_the_reward(rig):
    run = rig.client.record(role="coder", output="x", signals={"compile": True})
    assert run.reward == 1.0
    later = rig.client.add_signals(run.id, {"tests": {"passed": 1, "total": 4}})
    assert later.reward == pytest.approx((1.0 + 0.25) / 2)
    assert [s["kind"] for s in later.signals] == ["compile", "tests"]
    rejected = rig.client.feedback(run.id, "reject")
    assert rejected.reward == pytest.approx((1.0 + 0.25 + 0.0) / 3)
    scored = rig.client.feedback(run.id, "score", 5, comment="great after all")
    assert scored.reward == pytest.approx((1.0 + 0.25 + 1.0) / 3)
    thumbs = rig.client.feedback(run.id, "thumbs", -1)
    assert thumbs.reward == pytest.approx((1.0 + 0.25 + 0.0) / 3)
    assert [(f["kind"], f["comment"]) for f in thumbs.feedback] == [
        ("reject", None), ("score", "great after all"), ("thumbs", None)]
    assert rig.store.runs.get(run.id).reward == thumbs.reward


def test_runs_filters_newest_first(rig):
    ids = [rig.client.record(role=role, output=f"out {i}", model=model, signals={"compile": ok}).id
           for i, (role, model, ok) in enumerate([("coder", "a", True), ("fixer", "a", True), ("coder", "b", False),
                                                  ("coder", "a", False)])]
    assert [r.id for r in rig.client.runs()] == ids[::-1]
    assert [r.id for r in rig.client.runs(role="coder")] == [ids[3], ids[2], ids[0]]
    assert [r.id for r in rig.client.runs(role="coder", model="a", min_reward=0.5)] == [ids[0]]
    assert [r.id for r in rig.client.runs(limit=2)] == [ids[3], ids[2]]
    assert all(r.signals is None for r in rig.client.runs())  # loaded by run() only
    assert rig.client.count_runs() == 4 and rig.client.count_runs(since=rig.client.run(ids[2]).created_at) == 2
    assert rig.client.stats()["total"]["runs"] == 4


def test_similar_runs_by_task(rig, fake_encoder):
    tasks = ["parse a CSV file", "parse CSV rows quickly", "draw a red circle", "parse JSON lines"]
    ids = [rig.client.record(role="coder", task=t, output="x").id for t in tasks]
    other_role = rig.client.record(role="fixer", task="parse a CSV file", output="x").id
    embed_all(rig.store)
    near = rig.client.similar(ids[0], k=3)
    assert all(isinstance(s, SimilarRun) for s in near)
    assert {s.id for s in near[:2]} == {ids[1], ids[3]}  # the "parse" tasks first
    assert near[-1].id == ids[2] and other_role not in [s.id for s in near]
    assert near == sorted(near, key=lambda s: s.distance)
    late = rig.client.record(role="coder", task="parse YAML", output="x")  # not embedded yet: embedded on demand
    assert not late.embedded
    assert rig.client.similar(late.id, k=1)[0].id in {ids[0], ids[1], ids[3]}


# --- choosing ----------------------------------------------------------------------------------
def test_select_then_record_closes_the_loop(rig):
    pick = rig.client.select("coder", task="write a parser")
    assert isinstance(pick, Selection)
    assert pick.prompt and pick.prompt_text and pick.model == "base" and pick.explanation.startswith(pick.policy)
    run = rig.client.record(role="coder", output="x", run_id=pick.run_id, signals={"compile": True})
    assert run.id == pick.run_id
    arms = {(a["kind"], a["variant"]): a for a in rig.client.arms("coder")}
    assert arms[("prompt", pick.prompt)]["pulls"] == 1


# --- the loop ----------------------------------------------------------------------------------
def test_status_promote_rollback(rig):
    rig.client.record(role="coder", output="x", signals={"compile": True})
    status = rig.client.status()
    assert status["roles"]["coder"]["champion"]["id"] == "base" and status["toggles"]["auto_train"] is True
    v1, v2 = register_model(rig.store, rig.home, "coder", 1), register_model(rig.store, rig.home, "coder", 2)
    rig.client.promote(v1, reason="first")
    assert rig.client.status()["roles"]["coder"]["champion"]["id"] == v1
    rig.client.promote(v2)
    assert rig.store.models.champion("coder").id == v2
    assert [m["state"] for m in rig.client.models("coder") if m["id"] == v1] == ["retired"]
    assert rig.client.rollback("coder", reason="worse") == v1  # the previous champion serves again
    assert rig.store.models.get(v2).state == "rolled_back"
    events = rig.client.events(type="model.", limit=20)
    assert all(isinstance(e, Event) for e in events) and events[0].type.startswith("model.")
    assert any(e.subject == v2 and e.payload.get("reason") == "worse" for e in events)
    assert rig.client.rollback("coder") == "base"
    with pytest.raises(NotFound):
        rig.client.promote("coder-v9")
    with pytest.raises(InvalidInput, match="no trained champion"):
        rig.client.rollback("coder")


def test_config_and_toggles(rig):
    cfg = rig.client.config()
    assert cfg["file"] == str(rig.home / "edgelearn.toml") and cfg["settings"]["train"]["auto_train"] is True
    assert rig.client.set_toggle("auto_train", False) is False
    assert rig.runtime.settings.train.auto_train is False
    assert "auto_train = false" in (rig.home / "edgelearn.toml").read_text()
    assert rig.client.experiments() == []


# --- independence ----------------------------------------------------------------------------------
TEACHER_CONFIG = ('[providers.up]\ntype = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "EL_NO_KEY"\n'
                  '[providers.up.prices.big]\ninput = 2.0\noutput = 8.0\n\n[roles.coder]\nteacher = "up/big"\n')


@pytest.fixture(params=list(OPENERS))
def teacher_rig(request, home, monkeypatch):
    monkeypatch.setenv("EL_NO_KEY", "sk-never-used")
    (home / "edgelearn.toml").write_text(TEACHER_CONFIG)
    made, close = OPENERS[request.param](home)
    yield made
    close()


def test_independence_levels_series_and_pins(teacher_rig):
    rig = teacher_rig
    for model, tokens in (("up/big", (300, 100)), ("up/big", (200, 50)), ("base", (1000, 500))):
        rig.client.record(role="coder", output="x", model=model, tokens_in=tokens[0], tokens_out=tokens[1])
    service = rig.runtime.services["independence"]
    service.observe("coder", 0, "teacher", 0.8)
    service.observe("coder", 0, "local", 0.9, tokens_in=1000, tokens_out=500, champion="base")
    [coder] = rig.client.independence(bucket_s=600)
    assert (coder.role, coder.teacher, coder.pin, coder.bucket_s) == ("coder", "up/big", None, 600)
    assert coder.levels == {0: 0} and coder.clusters[0].local_reward == pytest.approx(0.9)
    # 1,000 input and 500 output tokens served locally at the teacher's 2 $ and 8 $ per million
    assert coder.cost_saved == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert len(coder.series) == 24 * 6 + 1 and [p.requests for p in coder.series[:-1]] == [0] * 144
    last = coder.series[-1]
    assert (last.requests, last.local, last.local_share) == (3, 1, pytest.approx(1 / 3))
    assert last.cost_saved == pytest.approx(0.006)
    assert rig.client.independence("coder") == rig.client.independence()

    rig.client.pin_level("coder", 3, reason="trust it")
    assert rig.store.independence.pins()["coder"].level == 3  # committed
    [pinned] = rig.client.independence("coder")
    assert pinned.pin == 3 and pinned.levels == {0: 3} and pinned.clusters[0].pinned
    assert pinned.changes[0]["type"] == "independence.pinned" and pinned.changes[0]["reason"] == "trust it"
    assert [(e.type, e.payload["level"]) for e in rig.client.events(type="independence.")] == [
        ("independence.pinned", 3)]
    assert rig.client.unpin_level("coder", reason="let the rule decide") is True
    assert rig.client.unpin_level("coder") is False
    assert "coder" not in rig.store.independence.pins()
    assert rig.client.events(type="independence.unpinned")[0].payload["reason"] == "let the rule decide"
    with pytest.raises(NotFound, match="'writer' has no teacher"):
        rig.client.independence("writer")
    with pytest.raises(InvalidInput, match="role: 'writer' has no teacher") as exc:
        rig.client.pin_level("writer", 1)
    assert exc.value.field == "role"
    with pytest.raises(InvalidInput, match="level: 5 is not a level"):
        rig.client.pin_level("coder", 5)
    assert "coder" not in rig.store.independence.pins()


@pytest.mark.anyio
async def test_async_independence(teacher_rig):
    el = edgelearn.client.AsyncClient(teacher_rig.client)
    await el.pin_level("coder", 2)
    assert [r.pin for r in await el.independence()] == [2]
    assert await el.unpin_level("coder") is True


# --- sessions ------------------------------------------------------------------------------------
def test_session_outcomes_rescore_its_runs(rig):
    first = rig.client.record(role="coder", task="parse CSV", output="a", session="s1", project="/repo")
    own = rig.client.record(role="coder", task="parse CSV rows", output="b", session="s1",
                            signals={"tests": {"passed": 1, "total": 2}})
    rig.client.record(role="coder", task="draw", output="c", session="s2", project="/other")
    listed = rig.client.sessions()
    assert all(isinstance(s, Session) for s in listed) and [s.id for s in listed] == ["s2", "s1"]
    assert listed[1].run_count == 2 and listed[1].runs is None and listed[1].open and listed[1].outcomes == {}
    assert [s.id for s in rig.client.sessions(project="/repo")] == ["s1"]
    assert rig.client.sessions(open=False) == [] and len(rig.client.sessions(limit=1)) == 1

    out = rig.client.session_signals("s1", {"tests": {"passed": 4, "total": 4}})
    assert isinstance(out, SessionOutcome)
    # both runs are covered; the one with its own tests signal keeps it (rule 3)
    assert (out.session, out.signals, out.covered, out.rescored) == ("s1", ["tests"], 2, [first.id])
    assert rig.client.run(first.id).reward == 1.0 and rig.client.run(own.id).reward == 0.5
    assert rig.store.runs.get(first.id).reward == 1.0  # committed

    verdict = rig.client.session_feedback("s1", "score", 1, comment="wrong approach")
    assert verdict.signals == ["human"] and set(verdict.rescored) == {first.id, own.id}
    detail = rig.client.session("s1")
    assert [r["id"] for r in detail.runs] == [first.id, own.id] and detail.run_count == 2
    assert detail.outcomes == {"tests": 1.0, "human": 0.0} and detail.reward == pytest.approx(0.5)
    assert [(f["kind"], f["value"], f["comment"]) for f in detail.feedback] == [("score", 0.0, "wrong approach")]
    assert [s["kind"] for s in detail.signals] == ["tests", "human"]

    queue = rig.client.review_queue()
    assert [s["id"] for s in queue["sessions"]] == ["s2"]  # s1 has its verdict
    assert queue["left_today"] == queue["budget"] - 1
    rig.client.session_signals("s2", {"compile": False})
    patterns = rig.client.failure_patterns()
    # s1's reward 0.5 is not below sessions.failure_below (0.5); no run is embedded, so no cluster
    assert patterns["failed"] == 1 and patterns["unembedded"] == 1 and patterns["patterns"] == []


# --- bad input: the same class and message through both ------------------------------------------
BAD = {
    "role pattern": lambda c, run_id: c.record(role="no spaces", output="x"),
    "missing output": lambda c, run_id: c.record(role="coder"),
    "unknown field": lambda c, run_id: c.record(role="coder", output="x", colour="red"),
    "not JSON": lambda c, run_id: c.record(role="coder", output="x", metadata={"when": object()}),
    "bad signal value": lambda c, run_id: c.add_signals(run_id, {"tests": "lots"}),
    "no signals": lambda c, run_id: c.add_signals(run_id, {}),
    "unknown run": lambda c, run_id: c.run("f" * 24),
    "signals of unknown run": lambda c, run_id: c.add_signals("f" * 24, {"compile": True}),
    "feedback kind": lambda c, run_id: c.feedback(run_id, "love"),
    "score without value": lambda c, run_id: c.feedback(run_id, "score"),
    "unknown filter": lambda c, run_id: c.runs(colour="red"),
    "limit": lambda c, run_id: c.runs(limit=0),
    "min_reward": lambda c, run_id: c.runs(min_reward="high"),
    "k": lambda c, run_id: c.similar(run_id, k=0),
    "select role": lambda c, run_id: c.select("no spaces"),
    "select cost": lambda c, run_id: c.select("coder", max_cost_per_1k=-1),
    "arms role": lambda c, run_id: c.arms("no spaces"),
    "promote unknown": lambda c, run_id: c.promote("coder-v9"),
    "rollback role": lambda c, run_id: c.rollback("no spaces"),
    "rollback without champion": lambda c, run_id: c.rollback("coder"),
    "toggle": lambda c, run_id: c.set_toggle("auto_everything", True),
    "unknown session": lambda c, run_id: c.session("no-such-session"),
    "empty session id": lambda c, run_id: c.session(""),
    "signals of unknown session": lambda c, run_id: c.session_signals("no-such-session", {"compile": True}),
    "session signal value": lambda c, run_id: c.session_signals("s-bad", {"tests": "lots"}),
    "no session signals": lambda c, run_id: c.session_signals("s-bad", {}),
    "session feedback kind": lambda c, run_id: c.session_feedback("s-bad", "love"),
    "session score without value": lambda c, run_id: c.session_feedback("s-bad", "score"),
    "session thumbs value": lambda c, run_id: c.session_feedback("s-bad", "thumbs", 3),
    "unknown session filter": lambda c, run_id: c.sessions(role="coder"),
    "session open filter": lambda c, run_id: c.sessions(open="maybe"),
    "sessions limit": lambda c, run_id: c.sessions(limit=0),
    "review limit": lambda c, run_id: c.review_queue(limit=0),
    "independence of a role without teacher": lambda c, run_id: c.independence("coder"),
    "independence role": lambda c, run_id: c.independence("no spaces"),
    "independence bucket": lambda c, run_id: c.independence(bucket_s=10),
    "independence since": lambda c, run_id: c.independence(since="yesterday"),
    "independence since after until": lambda c, run_id: c.independence(since=2e9, until=1e9),
    "pin level": lambda c, run_id: c.pin_level("coder", 7),
    "pin without teacher": lambda c, run_id: c.pin_level("coder", 1),
    "pin role": lambda c, run_id: c.pin_level("no spaces", 1),
    "unpin without teacher": lambda c, run_id: c.unpin_level("coder"),
}


def _outcome(client, call, run_id):
    """The ``edgelearn.errors`` class the call raised (a store's subclass, e.g. ``SessionNotFound``,
    counts as its public class) and its message; None when it raised nothing."""
    try:
        call(client, run_id)
    except EdgelearnError as exc:
        public = next(c for c in type(exc).__mro__ if c.__module__ == "edgelearn.errors")
        return public, str(exc)
    return None


def test_bad_input_raises_the_same_error_through_both(tmp_path, monkeypatch):
    outcomes = {}
    for name, opener in OPENERS.items():
        home = tmp_path / name
        home.mkdir()
        monkeypatch.setenv("EDGELEARN_HOME", str(home))
        made, close = opener(home)
        try:
            run_id = made.client.record(role="coder", output="x", session="s-bad").id
            outcomes[name] = {case: _outcome(made.client, call, run_id) for case, call in BAD.items()}
            assert made.client.count_runs() == 1  # nothing half-written
            assert made.client.session("s-bad").signals == [] and made.client.session("s-bad").feedback == []
        finally:
            close()
    embedded, http = outcomes["embedded"], outcomes["http"]
    for case in BAD:
        assert embedded[case] is not None, case
        assert embedded[case] == http[case], case
        assert issubclass(embedded[case][0], (InvalidInput, NotFound)), case
    assert embedded["unknown run"][0] is NotFound and embedded["promote unknown"][0] is NotFound
    assert embedded["role pattern"][1].startswith("role:")
    assert embedded["unknown filter"][1].startswith("colour: not a run filter")
    assert embedded["unknown session"][0] is NotFound and embedded["signals of unknown session"][0] is NotFound
    assert embedded["unknown session"][1].startswith("session_id: session 'no-such-session' not found")
    assert embedded["unknown session filter"][1].startswith("role: not a session filter")
    assert embedded["pin level"][1].startswith("level: 7 is not a level")
    assert embedded["pin without teacher"][1].startswith("role: 'coder' has no teacher")
    assert embedded["independence of a role without teacher"][0] is NotFound


# --- one store, two clients ------------------------------------------------------------------------
def test_a_run_written_by_one_client_is_read_by_the_other(server, home):
    with edgelearn.open(home, embed=False, start=False) as local, edgelearn.connect(server.url, server.token) as remote:
        assert local.location == str(server.runtime.store.path)
        over_http = remote.record(role="coder", task="from HTTP", output="a", signals={"compile": True})
        assert local.run(over_http.id) == over_http
        in_process = local.record(role="fixer", task="in process", output="b", signals={"compile": False})
        assert remote.run(in_process.id) == in_process
        assert [r.id for r in remote.runs()] == [r.id for r in local.runs()] == [in_process.id, over_http.id]
        local.feedback(over_http.id, "reject")
        assert remote.run(over_http.id).reward == pytest.approx(0.5)


def test_a_session_written_by_one_client_is_read_by_the_other(server, home):
    with edgelearn.open(home, embed=False, start=False) as local, edgelearn.connect(server.url, server.token) as remote:
        a = remote.record(role="coder", task="over HTTP", output="a", session="shared")
        b = local.record(role="coder", task="in process", output="b", session="shared")
        assert remote.session_signals("shared", {"compile": True}).rescored == [a.id, b.id]
        assert local.session_feedback("shared", "reject").covered == 2
        assert local.session("shared") == remote.session("shared")
        assert local.session("shared").outcomes == {"compile": 1.0, "human": 0.0}
        assert local.sessions() == remote.sessions() and [s.id for s in local.sessions()] == ["shared"]
        assert local.review_queue() == remote.review_queue()
        assert local.failure_patterns() == remote.failure_patterns()


def test_connect_reads_the_token_from_the_home(server, home):
    with edgelearn.connect(server.url) as client:  # EDGELEARN_HOME is the server's home
        assert client.token == server.token and client.count_runs() == 0
    with pytest.raises(ConfigError, match="cannot read the API token"):
        edgelearn.connect(server.url, home=home / "elsewhere")
    with edgelearn.connect(server.url, "wrong") as client, pytest.raises(ConfigError, match="bearer token"):
        client.status()


def test_an_unreachable_runtime_is_one_error():
    with edgelearn.connect("http://127.0.0.1:9", "token", timeout=2) as client:
        with pytest.raises(Unreachable, match="cannot reach the runtime at http://127.0.0.1:9"):
            client.runs()


def test_malformed_json_is_its_own_class(server):
    from edgelearn.client.http import error_from

    answer = server.client.post("/v1/runs", content=b"{not json")
    assert isinstance(error_from(answer.status_code, answer.json(), "POST /v1/runs"), MalformedJSON)


def test_an_answer_without_an_edgelearn_error_body(server):
    from edgelearn.client.http import error_from

    answer = server.client.get("/v1/no-such-thing")
    exc = error_from(answer.status_code, answer.json(), "GET /v1/no-such-thing")
    assert type(exc) is EdgelearnError and "without an edgelearn error" in str(exc)


def test_import_is_light_and_the_names_are_public():
    import subprocess
    import sys

    code = "import sys, edgelearn; print(sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in " \
           "('httpx', 'pydantic', 'fastapi', 'apsw', 'numpy', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"
    assert set(edgelearn.__all__) == {"__version__", "open", "connect", "aopen", "aconnect"}


# --- async twins -----------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_async_embedded(home):
    async with edgelearn.aopen(home, embed=False) as el:
        run = await el.record(role="coder", output="x", signals={"compile": True})
        assert (await el.run(run.id)) == run and run.reward == 1.0
        assert (await el.add_signals(run.id, {"tests": {"passed": 0, "total": 1}})).reward == 0.5
        assert (await el.feedback(run.id, "accept")).reward == pytest.approx(2 / 3)
        assert [r.id for r in await el.runs(role="coder")] == [run.id]
        pick = await el.select("coder")
        assert pick.model == "base"
        assert (await el.status())["roles"]["coder"]["champion"]["id"] == "base"
        with pytest.raises(InvalidInput):
            await el.rollback("coder")
        await el.record(role="fixer", output="y", session="s-async")
        assert (await el.session_signals("s-async", {"compile": False})).covered == 1
        assert (await el.session_feedback("s-async", "accept")).signals == ["human"]
        assert (await el.session("s-async")).outcomes == {"compile": 0.0, "human": 1.0}
        assert [s.id for s in await el.sessions()] == ["s-async"]
        assert (await el.review_queue())["sessions"] == [] and (await el.failure_patterns())["failed"] == 0
    opened = await edgelearn.aopen(home, embed=False, start=False)
    try:
        assert [r.id for r in await opened.runs(role="coder")] == [run.id]
    finally:
        await opened.close()


@pytest.mark.anyio
async def test_async_http(server):
    async with edgelearn.aconnect(server.url, server.token) as el:
        run = await el.record(role="coder", output="x", signals={"compile": True})
        assert (await el.run(run.id)) == run
        assert (await el.feedback(run.id, "thumbs", 1)).reward == 1.0
        v1 = register_model(server.runtime.store, server.runtime.home, "coder", 1)
        await el.promote(v1)
        assert (await el.status())["roles"]["coder"]["champion"]["id"] == v1
        assert await el.rollback("coder") == "base"
        with pytest.raises(NotFound):
            await el.run("f" * 24)
        await el.record(role="coder", output="y", session="s-async")
        assert (await el.session_feedback("s-async", "thumbs", -1)).covered == 1
        assert [s.id for s in await el.sessions(open=True)] == ["s-async"]
        assert (await el.session("s-async")).reward == 0.0
        assert [s["id"] for s in (await el.review_queue())["sessions"]] == []
        assert (await el.failure_patterns())["failed"] == 1
        with pytest.raises(NotFound):
            await el.session("nope")


def test_pin_endpoints_name_what_is_wrong(server):
    pin = "/v1/learning/independence/pin"
    for body, status, param in (({"role": "coder", "level": 2, "colour": 1}, 422, "colour"),
                                ({"role": "coder", "level": "2"}, 422, "level"),
                                ({"role": "coder", "level": 9}, 422, "level"),
                                ({"role": "coder", "level": 1}, 422, "role"),  # no teacher in this config
                                ({"level": 1}, 422, "role")):
        answer = server.client.post(pin, json=body)
        assert (answer.status_code, answer.json()["error"]["param"]) == (status, param), body
    assert server.client.post(pin, content=b"{nope").status_code == 400
    assert server.client.post("/v1/learning/independence/unpin", json={"role": "coder"}).status_code == 422
    assert server.runtime.store.independence.pins() == {}
    assert server.runtime.store.events.list(type="independence.") == []
    doc = server.client.get("/openapi.json").json()["paths"]
    assert doc[pin]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == ["role", "level"]
