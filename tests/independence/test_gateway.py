"""Independence through the real gateway: the openai client calls edgelearn/coder, the stand-in
provider on loopback is the teacher, a fake backend is the local model."""

from __future__ import annotations

import json

import pytest
from elsupport import wait_for
from standin import Reply, ToolCall

from edgelearn.experiment.assign import bucket
from edgelearn.serve.backends import Backend, Chunk, Usage

MESSAGES = [{"role": "user", "content": "list the files"}]
TOOLS = [{"type": "function", "function": {"name": "ls", "parameters": {"type": "object", "properties": {}}}}]


def local_session(share: float = 0.95, prefix: str = "s") -> str:
    """A session the scheduler's hash puts in the local share of a level (deterministic)."""
    return next(f"{prefix}{i}" for i in range(1000) if bucket("independence:coder", f"s:{prefix}{i}") < share)


def teacher_session(share: float = 0.95, prefix: str = "t") -> str:
    return next(f"{prefix}{i}" for i in range(1000) if bucket("independence:coder", f"s:{prefix}{i}") >= share)


def ask(t, session: str | None = None, **kw):
    headers = {"x-edgelearn-session": session} if session else {}
    raw = t.client.chat.completions.with_raw_response.create(
        model="edgelearn/coder", messages=kw.pop("messages", MESSAGES), extra_headers=headers, **kw)
    return raw, raw.parse()


def test_level_0_sends_every_request_to_the_teacher_and_records_it(teaching):
    t = teaching
    for i in range(3):
        raw, answer = ask(t, f"session-{i}")
        assert answer.choices[0].message.content == "ok"  # the stand-in's answer
        assert raw.headers["x-edgelearn-route"] == "independence"
        assert raw.headers["x-edgelearn-model"] == "up/big"
        run = t.run(raw.headers["x-edgelearn-run-id"])
        assert run.model_variant == "up/big" and run.role == "coder"
        assert run.metadata["independence"] == {"cluster": -1, "side": "teacher"}
    assert [r.json["model"] for r in t.teacher.completions()] == ["big"] * 3
    assert t.local.calls == []


def test_a_pinned_level_routes_local_and_sessions_stay_sticky(teaching):
    t = teaching
    t.service.pin("coder", 4)
    local, teacher = local_session(), teacher_session()
    for _ in range(3):
        raw, answer = ask(t, local)
        assert answer.choices[0].message.content == "echo: list the files"
        assert raw.headers["x-edgelearn-model"] == "base"
        run = t.run(raw.headers["x-edgelearn-run-id"])
        assert run.metadata["independence"] == {"cluster": -1, "side": "local"}
        raw, answer = ask(t, teacher)
        assert answer.choices[0].message.content == "ok"
    assert len(t.local.calls) == 3 and len(t.teacher.completions()) == 3
    t.service.pin("coder", 0)  # a level change splits no running session ...
    assert ask(t, local)[0].headers["x-edgelearn-model"] == "base"
    assert ask(t, local_session(prefix="new"))[0].headers["x-edgelearn-model"] == "up/big"  # ... new ones follow it
    assert t.service.unpin("coder") and not t.service.unpin("coder")


@pytest.mark.parametrize("teaching", ['enabled = false\nshadow_share = 0.0'], indirect=True)
def test_switched_off_everything_goes_to_the_teacher(teaching):
    t = teaching
    t.service.pin("coder", 4)
    raw, _ = ask(t, local_session())
    assert raw.headers["x-edgelearn-model"] == "up/big" and t.local.calls == []


class BrokenToolCall(Backend):
    """A local model whose answer calls a tool the request did not offer."""

    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def stream(self, target, request):
        self.calls += 1
        # on the final chunk: the plain path reads the calls from there (Engine.acomplete)
        yield Chunk("", "tool_calls", Usage(5, 3), ({"id": "call_1", "type": "function",
                                                     "function": {"name": "rm_rf", "arguments": "{}"}},))


def test_the_escape_hatch_answers_a_broken_local_tool_call_from_the_teacher(teaching):
    t = teaching
    broken = BrokenToolCall()
    t.server.runtime.services["serving"].engine.use_backend(broken)
    t.service.pin("coder", 4)
    t.teacher.script(Reply(tool_calls=[ToolCall("ls", {"path": "."})]))
    session = local_session()
    raw, answer = ask(t, session, tools=TOOLS)
    call = answer.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("ls", {"path": "."})
    assert broken.calls == 1 and raw.headers["x-edgelearn-model"] == "up/big"
    teacher_run = t.run(raw.headers["x-edgelearn-run-id"])
    mark = teacher_run.metadata["independence"]
    assert mark["side"] == "teacher" and "not offered" in mark["escaped"]
    failed = t.run(mark["local_run"])  # the local failure, recorded as a failed run of the local model
    assert (failed.model_variant, failed.status, failed.reward) == ("base", "error", 0.0)
    assert failed.metadata["independence"] == {"cluster": -1, "side": "local"}
    assert "rm_rf" in failed.metadata["error"]
    assert failed.metadata["chat"]["output"]["tool_calls"][0]["function"]["name"] == "rm_rf"
    # the session stays with the teacher; the escape is counted
    raw, _ = ask(t, session, tools=TOOLS)
    assert raw.headers["x-edgelearn-model"] == "up/big" and broken.calls == 1
    t.service.flush()
    row = t.server.client.get("/v1/learning/independence", params={"role": "coder"}).json()["roles"][0]
    assert row["escapes"] == 1 and row["clusters"][0]["escape_rate"] == 1.0
    assert row["clusters"][0]["local_n"] == 1 and row["clusters"][0]["local_reward"] == 0.0  # the rule saw it


def test_a_held_back_stream_escapes_before_anything_was_sent(teaching):
    t = teaching
    t.local.handler = lambda target, request: '<tool_call>{"name": "ls", "arguments": {"path": '
    t.service.pin("coder", 4)
    t.teacher.script(Reply(text="the files are a.py and b.py"))
    with t.client.chat.completions.with_streaming_response.create(
            model="edgelearn/coder", messages=MESSAGES, tools=TOOLS, stream=True,
            extra_headers={"x-edgelearn-session": local_session()}) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "the files are a.py and b.py" and "<tool_call>" not in text
    mark = t.run(run_id).metadata["independence"]
    assert "as text" in mark["escaped"] and t.run(mark["local_run"]).status == "error"


def test_a_good_local_stream_is_sent_whole(teaching):
    t = teaching
    t.local.handler = lambda target, request: "one two three four five six seven eight nine ten eleven"
    t.service.pin("coder", 4)
    with t.client.chat.completions.with_streaming_response.create(
            model="edgelearn/coder", messages=MESSAGES, stream=True,
            extra_headers={"x-edgelearn-session": local_session()}) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six seven eight nine ten eleven"
    assert t.run(run_id).status == "ok" and t.teacher.completions() == []


def test_an_answer_cut_off_at_max_tokens_escapes(teaching):
    t = teaching
    t.service.pin("coder", 4)
    raw, answer = ask(t, local_session(), max_tokens=2)  # the echo is 4 words
    assert answer.choices[0].message.content == "ok" and raw.headers["x-edgelearn-model"] == "up/big"
    assert "max_tokens" in t.run(raw.headers["x-edgelearn-run-id"]).metadata["independence"]["escaped"]


def test_a_request_over_the_local_context_goes_to_the_teacher_as_ineligible(teaching):
    t = teaching
    t.service.pin("coder", 4)
    big = [{"role": "user", "content": "x " * 20000}]  # > the base's 8,192-token context at 3 bytes a token
    raw, _ = ask(t, local_session(), messages=big)
    assert raw.headers["x-edgelearn-model"] == "up/big" and t.local.calls == []
    t.service.flush()
    row = t.server.client.get("/v1/learning/independence").json()["roles"][0]
    assert row["eligible_share"] == 0.0 and row["escapes"] == 0


def test_cost_saved_is_the_local_tokens_at_the_teachers_price(teaching):
    t = teaching
    t.service.pin("coder", 4)
    prompts = ["add two numbers", "parse a csv file please", "fix it"]
    tokens = []
    for i, prompt in enumerate(prompts):
        raw, answer = ask(t, local_session(prefix=f"c{i}-"), messages=[{"role": "user", "content": prompt}])
        assert raw.headers["x-edgelearn-model"] == "base"
        tokens.append((answer.usage.prompt_tokens, answer.usage.completion_tokens))
        signals = t.server.client.post(f"/v1/runs/{raw.headers['x-edgelearn-run-id']}/signals",
                                       json={"signals": {"compile": True}})
        assert signals.status_code == 200
    ask(t, teacher_session())  # teacher traffic saves nothing
    t.service.flush()
    body = t.server.client.get("/v1/learning/independence").json()
    role = body["roles"][0]
    hand = sum(i * 2.0 + o * 8.0 for i, o in tokens) / 1_000_000
    assert tokens == [(3, 4), (5, 6), (2, 3)]  # the fake counts words: the prompt, "echo:" and the prompt
    assert role["cost_saved"] == pytest.approx(hand) and hand == pytest.approx(0.000124)
    assert role["price_per_m"] == {"input": 2.0, "output": 8.0}
    assert (role["requests"], role["local_requests"]) == (4, 3) and role["local_share"] == 0.75
    assert role["local_share_over_time"]["1h"] == 0.75 and role["pin"] == 4
    status = t.server.client.get("/v1/learning/status").json()  # the loop's figure agrees: up/big is not local
    assert status["roles"]["coder"]["independence"]["local_share"] == 0.75
    cluster = role["clusters"][0]
    assert cluster["local_reward"] == 1.0 and cluster["local_n"] == 3
    assert any(c["type"] == "independence.pinned" for c in role["changes"])


def test_the_endpoint_names_a_role_without_a_teacher(teaching):
    response = teaching.server.client.get("/v1/learning/independence", params={"role": "writer"})
    assert response.status_code == 404 and "writer" in response.json()["error"]["message"]


def _register(runtime, tmp_path, name: str) -> str:
    """A registered version of stand-in files (only the GGUF magic is checked at registration)."""
    from edgelearn.serve import registry

    base = tmp_path / "stand-in-base.gguf"
    base.write_bytes(b"GGUF stand-in base")
    folder = tmp_path / name
    folder.mkdir()
    (folder / "adapter.gguf").write_bytes(b"GGUF" + name.encode())
    (folder / "report.json").write_text(json.dumps({"base_model": str(base)}))
    return registry.register(runtime.store, "coder", folder, home=runtime.home)


def test_a_promotion_restarts_the_evidence_and_a_rollback_drops_the_levels_to_0(teaching, tmp_path):
    t = teaching
    rt = t.server.runtime
    experiments = rt.services["experiments"]
    first = _register(rt, tmp_path, "v1")
    experiments.promote(first, "trained")
    for _ in range(3):
        t.service.observe("coder", 3, "teacher", 0.8)
        t.service.observe("coder", 3, "local", 0.8, champion=first)
    rt.store.write(lambda conn: _set_level(rt.store, conn, "coder", 3, 2))
    t.service.invalidate()
    assert t.service.level("coder", 3) == 2
    second = _register(rt, tmp_path, "v2")
    experiments.promote(second, "better")  # another model: its level stays, its evidence restarts
    row = next(c for c in t.service.report("coder") if c["cluster"] == 3)
    assert (row["level"], row["local_n"], row["teacher_n"], row["champion"]) == (2, 0, 0, second)
    assert experiments.rollback("coder", "users complain") == first
    assert t.service.level("coder", 3) == 0
    event = rt.store.events.list(type="independence.rolled_back", role="coder")[0]
    assert (event.subject, event.payload["old"], event.payload["new"]) == ("3", 2, 0)


def _set_level(store, conn, role, cluster, level):
    state = store.independence.get_in(conn, role, cluster)
    state.level = level
    store.independence.save_in(conn, state)


@pytest.mark.parametrize("teaching", ["shadow_share = 1.0"], indirect=True)
def test_a_shadow_answer_is_never_returned_and_counts_once_the_teacher_is_scored(teaching, monkeypatch):
    from edgelearn.server import shadow

    t = teaching
    monkeypatch.setattr(shadow, "idle", lambda *_: True)  # the shared test machine is rarely idle
    t.teacher.script(Reply(text="echo: list the files"))  # what the local model will say too
    raw, answer = ask(t, "shadowed")
    assert answer.choices[0].message.content == "echo: list the files"
    run_id = raw.headers["x-edgelearn-run-id"]
    assert t.run(run_id).metadata["independence"] == {"cluster": -1, "side": "teacher", "shadow": True}
    wait_for(lambda: t.service.agreement.get(("coder", -1)))
    assert len(t.local.calls) == 1 and t.service.agreement[("coder", -1)] == [1.0, 1]
    t.service.flush()
    row = t.service.report("coder")[0]
    assert row["shadow_n"] == 0 and row["shadow_agreement"] == 1.0  # not scored yet: nothing counted
    t.server.client.post(f"/v1/runs/{run_id}/signals", json={"signals": {"compile": True}})
    row = t.service.report("coder")[0]
    assert (row["shadow_n"], row["shadow_reward"], row["teacher_n"]) == (1, 1.0, 1)
    assert len(t.server.runtime.store.runs.list(limit=10)) == 1  # the shadow answer is no run


@pytest.mark.parametrize("teaching", ["shadow_share = 1.0"], indirect=True)
def test_no_shadow_answer_while_the_machine_is_busy(teaching, monkeypatch):
    from edgelearn.server import chat, shadow

    t = teaching
    monkeypatch.setattr(shadow, "idle", lambda *_: False)
    raw, _ = ask(t, "busy")
    wait_for(lambda: not chat._pending)  # the background tasks the gateway keeps, the shadow's included
    assert t.local.calls == [] and t.service.agreement == {}


def test_the_local_share_races_a_running_experiment(teaching, tmp_path):
    t = teaching
    rt = t.server.runtime
    challenger = _register(rt, tmp_path, "v1")
    rt.services["experiments"].start_experiment("coder", challenger, traffic=0.5)
    t.service.pin("coder", 4)
    seen = {}
    for i in range(40):
        raw, _ = ask(t, local_session(prefix=f"e{i}-"))
        run = t.run(raw.headers["x-edgelearn-run-id"])
        seen[run.model_variant] = run
    assert set(seen) == {"base", challenger}  # the experiment's champion is base here
    assert seen["base"].metadata["independence"]["side"] == "local"
    assert "independence" not in seen[challenger].metadata  # counts for the experiment only
    assert raw.headers["x-edgelearn-route"] in ("independence", "experiment")


class Failing(Backend):
    name = "failing"

    def stream(self, target, request):
        from edgelearn.errors import BackendError

        raise BackendError("the model file is gone")
        yield  # a generator


@pytest.mark.parametrize("stream", [False, True])
def test_a_local_backend_failure_escapes_to_the_teacher_without_a_reward(teaching, stream):
    t = teaching
    t.server.runtime.services["serving"].engine.use_backend(Failing())
    t.service.pin("coder", 4)
    raw = t.server.client.post("/v1/chat/completions", json={"model": "edgelearn/coder", "messages": MESSAGES,
                                                             "stream": stream},
                               headers={"x-edgelearn-session": local_session()})
    assert raw.status_code == 200 and raw.headers["x-edgelearn-model"] == "up/big"
    mark = t.run(raw.headers["x-edgelearn-run-id"]).metadata["independence"]
    failed = t.run(mark["local_run"])
    assert "the model file is gone" in mark["escaped"] and (failed.status, failed.reward) == ("error", None)


@pytest.mark.parametrize("teaching", ["shadow_share = 1.0\nmin_samples = 5"], indirect=True)
@pytest.mark.parametrize("agrees", [True, False])
def test_shadow_answers_advance_a_cluster_from_level_0_only_when_they_agree(teaching, monkeypatch, agrees):
    from edgelearn.server import shadow

    t = teaching
    monkeypatch.setattr(shadow, "idle", lambda *_: True)
    # the local model echoes the task; the teacher says the same, or something else entirely
    t.teacher.default = Reply(text="echo: list the files" if agrees else "use os.listdir on the folder")
    for i in range(40):
        raw, _ = ask(t, f"adv-{i}")
        if t.service.level("coder", None) == 1:
            break
        run_id = raw.headers["x-edgelearn-run-id"]
        wait_for(lambda: t.service.agreement.get(("coder", -1), [0, 0])[1] == i + 1)
        t.server.client.post(f"/v1/runs/{run_id}/signals", json={"signals": {"compile": True}})
    events = t.server.runtime.store.events.list(type="independence.advanced", role="coder")
    if agrees:
        assert t.service.level("coder", None) == 1 and i < 39
        assert (events[0].payload["old"], events[0].payload["new"], events[0].payload["share"]) == (0, 1, 0.2)
    else:
        assert t.service.level("coder", None) == 0 and events == []
        assert t.service.report("coder")[0]["shadow_reward"] == 0.0


@pytest.mark.parametrize("teaching", ["shadow_share = 1.0"], indirect=True)
@pytest.mark.parametrize("checked", [True, False])
def test_at_level_0_a_running_experiment_is_fed_by_shadow_answers_of_both_variants(teaching, tmp_path, monkeypatch,
                                                                                    checked):
    from edgelearn.server import chat, shadow

    t = teaching
    rt = t.server.runtime
    monkeypatch.setattr(shadow, "idle", lambda *_: True)
    challenger = _register(rt, tmp_path, "v1")
    exp_id = rt.services["experiments"].start_experiment("coder", challenger, traffic=0.5)
    # the challenger answers like the teacher, the champion (base) does not
    t.local.handler = lambda target, request: "ok" if target.model_id == challenger else "something else entirely"
    if checked:  # a replayable check that disagrees with the teacher: it wins over agreement
        t.service.check = lambda messages, text, calls: text != "ok" and messages[-1]["content"] == "list the files"
    warmed = len(t.local.calls)  # starting the experiment warms both variants
    for i in range(3):
        raw, answer = ask(t, f"shadowed-{i}")
        assert raw.headers["x-edgelearn-model"] == "up/big" and answer.choices[0].message.content == "ok"
        t.server.client.post(f"/v1/runs/{raw.headers['x-edgelearn-run-id']}/signals",
                             json={"signals": {"compile": True}})
        wait_for(lambda: not chat._pending)
    stats = rt.services["experiments"].variant_stats(exp_id)
    assert (stats["champion"].n, stats["challenger"].n) == (3, 3)
    good, bad = ("champion", "challenger") if checked else ("challenger", "champion")
    assert stats[good].mean == 1.0 and stats[bad].mean == 0.0
    assert stats["challenger"].mean_latency_ms is None  # a background answer has no serving latency
    # only the champion's answers count on the level's shadow side; the shadows are no runs
    row = t.service.report("coder")[0]
    assert row["shadow_n"] == 3 and row["shadow_reward"] == (1.0 if checked else 0.0) and row["level"] == 0
    assert {r.model_variant for r in rt.store.runs.list(limit=50)} == {"up/big"}
    assert len(t.local.calls) - warmed == 6


def test_a_shadow_answer_that_lands_while_its_teachers_reward_is_being_written_still_counts(teaching):
    """The shadow's 'reward yet?' and the reward's 'shadows waiting?' are ordered by the store's writes:
    here the reward's transaction is held open (its hook waits) while the shadow answer arrives."""
    import threading
    import time

    t = teaching
    raw, _ = ask(t)
    run_id = raw.headers["x-edgelearn-run-id"]
    wait_for(lambda: t.run(run_id))
    in_reward, release = threading.Event(), threading.Event()

    def hold(conn, run, old, new):
        if run["id"] == run_id and new is not None:
            in_reward.set()
            release.wait(10)

    t.server.runtime.store.runs.reward_hooks.append(hold)
    post = threading.Thread(target=lambda: t.server.client.post(f"/v1/runs/{run_id}/signals",
                                                                 json={"signals": {"compile": True}}))
    post.start()
    assert in_reward.wait(10)
    shadow = threading.Thread(target=t.service.shadow_answered, args=(run_id, "coder", None, 1.0))
    shadow.start()
    time.sleep(0.3)  # time to read the uncommitted reward as missing, were it read outside the write
    release.set()
    post.join(10)
    shadow.join(10)
    row = t.service.report("coder")[0]
    assert row["shadow_n"] == 1 and row["shadow_reward"] == 1.0 and t.service._shadows == {}
