"""The HTTP hook over real loopback HTTP: record, list, signals, feedback, refusals."""

import gc

import httpx
import pytest
from elsupport import start_server, wait_for

RUN = {"role": "coder", "task": "parse a CSV file", "model": "base", "prompt": "p1", "output": "import csv",
       "input": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "parse a CSV file"}],
       "session": "s1", "project": "demo", "latency_ms": 1200, "tokens_in": 900, "tokens_out": 150,
       "cost": 0.0, "status": "ok", "signals": {"compile": True, "tests": {"passed": 3, "total": 4}, "errors": 2,
                                                "human": "accept"}, "metadata": {"editor": "vim"}}


def test_record_store_list_get(server):
    r = server.client.post("/v1/runs", json=RUN)
    assert r.status_code == 201, r.text
    body = r.json()
    # compile 1, tests .75, errors 1/(1+2/5), human 1: equal weights
    assert body["reward"] == pytest.approx((1 + 0.75 + 1 / 1.4 + 1) / 4)
    got = server.client.get(f"/v1/runs/{body['id']}").json()
    assert got["task"] == "parse a CSV file" and got["input"][1]["content"] == "parse a CSV file"
    assert got["metadata"] == {"editor": "vim"} and got["tokens_in"] == 900
    assert {s["kind"] for s in got["signals"]} == {"compile", "tests", "errors", "human"}
    listed = server.client.get("/v1/runs", params={"role": "coder", "model": "base"}).json()
    assert [x["id"] for x in listed["runs"]] == [body["id"]]
    assert server.client.get("/v1/runs", params={"role": "fixer"}).json()["runs"] == []


def test_a_large_run_is_prepared_and_committed_off_the_event_loop(server):
    from edgelearn.record.recorder import LARGE_RUN_CHARS

    writer = server.runtime.store.writer
    small = server.client.post("/v1/runs", json={"role": "coder", "output": "x = 1"})
    inline_after_small = writer.inline_commits
    big_output = "y = 2  # reach me at jane.roe@example.com\n" * (LARGE_RUN_CHARS // 40 + 10)
    big = server.client.post("/v1/runs", json={"role": "coder", "output": big_output})
    assert small.status_code == big.status_code == 201
    assert inline_after_small >= 1 and writer.inline_commits == inline_after_small  # the big one went to the writer
    stored = server.client.get(f"/v1/runs/{big.json()['id']}").json()["output"]
    assert stored.count("[REDACTED:EMAIL]") == big_output.count("@example.com") > 0  # redacted


def test_paging_and_stats(server):
    ids = server.client.post("/v1/runs/batch", json={"runs": [
        {"role": "coder", "output": f"o{i}", "model": "m1" if i % 2 else "m2", "signals": {"compile": i % 2 == 0}}
        for i in range(7)]}).json()["ids"]
    page1 = server.client.get("/v1/runs", params={"limit": 4}).json()
    page2 = server.client.get("/v1/runs", params={"limit": 4, "cursor": page1["next_cursor"]}).json()
    assert [r["id"] for r in page1["runs"] + page2["runs"]] == ids[::-1]
    stats = server.client.get("/v1/stats").json()
    by_model = {row["name"]: row for row in stats["by_model"]}
    assert by_model["m2"]["mean_reward"] == 1.0 and by_model["m1"]["mean_reward"] == 0.0
    assert stats["total"]["runs"] == 7


def test_late_feedback_recomputes_reward_and_records_event(server):
    rid = server.client.post("/v1/runs", json={"role": "coder", "output": "x", "signals": {"compile": True}}).json()["id"]
    r = server.client.post(f"/v1/runs/{rid}/feedback", json={"kind": "reject", "comment": "wrong file"})
    assert r.status_code == 200 and r.json()["previous_reward"] == 1.0 and r.json()["reward"] == 0.5
    r = server.client.post(f"/v1/runs/{rid}/signals", json={"signals": {"tests": {"passed": 1, "total": 2}}})
    assert r.json()["reward"] == pytest.approx(0.5)
    r = server.client.post(f"/v1/runs/{rid}/feedback", json={"kind": "score", "value": 5})
    assert r.json()["reward"] == pytest.approx((1 + 0.5 + 1) / 3)  # latest human signal replaces the earlier one
    events = server.runtime.store.events.list(type="reward.updated", subject=rid)
    assert len(events) == 3 and events[-1].payload["new"] == 0.5
    assert server.client.post(f"/v1/runs/{'0' * 24}/feedback", json={"kind": "accept"}).status_code == 404
    assert server.client.post(f"/v1/runs/{rid}/feedback", json={"kind": "score"}).status_code == 422


def test_signals_sent_with_a_run_and_later_ones_read_as_one_list(server):
    rid = server.client.post("/v1/runs", json=RUN).json()["id"]
    r = server.client.post(f"/v1/runs/{rid}/signals", json={"signals": {"tests": {"passed": 4, "total": 4}}})
    assert r.json()["previous_reward"] == pytest.approx((1 + 0.75 + 1 / 1.4 + 1) / 4)
    assert r.json()["reward"] == pytest.approx((1 + 1 + 1 / 1.4 + 1) / 4)  # the later tests signal replaces the first
    signals = server.client.get(f"/v1/runs/{rid}").json()["signals"]
    assert [(s["kind"], s["source"]) for s in signals] == [
        ("compile", "record"), ("tests", "record"), ("errors", "record"), ("human", "record"), ("tests", "api")]
    assert signals[0]["raw"] is True and signals[0]["value"] == 1.0
    assert signals[1]["raw"] == {"passed": 3, "total": 4} and signals[1]["value"] == 0.75
    assert signals[3]["raw"] == "accept" and signals[4]["raw"] == {"passed": 4, "total": 4}


def test_signals_stored_as_rows_before_migration_8_still_count(server):
    """Runs recorded before their signals moved onto the run row keep them as rows of signals."""
    store = server.runtime.store
    rid = server.client.post("/v1/runs", json={"role": "coder", "output": "x"}).json()["id"]

    def legacy(conn):
        seq = conn.execute("select seq from runs where id = ?", (rid,)).fetchone()[0]
        conn.execute("insert into signals(run_seq, kind, value, raw, source, created_at) "
                     "values (?, 'compile', 0.0, 'false', 'record', 1.0)", (seq,))

    store.write(legacy)
    r = server.client.post(f"/v1/runs/{rid}/feedback", json={"kind": "accept"})
    assert r.json()["reward"] == pytest.approx(0.5)  # compile 0 (the old row) and human 1
    signals = server.client.get(f"/v1/runs/{rid}").json()["signals"]
    assert [(s["kind"], s["raw"]) for s in signals] == [("compile", False), ("human", "accept")]


def test_weights_renormalize_over_present_signals(home):
    from edgelearn.runtime import Runtime

    (home / "edgelearn.toml").write_text("[rewards.weights]\ncompile = 0.1\ntests = 0.3\nerrors = 0\nhuman = 0.6\n")
    rt = Runtime(home=home, config_file=home / "edgelearn.toml", embed=False)
    live, stop = start_server(rt)
    try:
        r = live.client.post("/v1/runs", json={"role": "r", "output": "x",
                                               "signals": {"compile": False, "tests": {"passed": 1, "total": 1}}})
        assert r.json()["reward"] == pytest.approx(0.3 / 0.4)
        r = live.client.post("/v1/runs", json={"role": "r", "output": "x", "signals": {"errors": 10}})
        assert r.json()["reward"] is None  # only a zero-weight signal: unscored
    finally:
        stop()


def test_refusals(server):
    bare = httpx.Client(base_url=server.url)
    assert bare.get("/healthz").status_code == 200
    assert bare.post("/v1/runs", json=RUN).status_code == 401
    assert bare.post("/v1/runs", json=RUN, headers={"Authorization": "Bearer nope"}).status_code == 401
    r = server.client.post("/v1/runs", json=RUN, headers={"Host": "evil.example:8765"})
    assert r.status_code == 403 and "evil.example" in r.json()["error"]["message"]
    assert server.client.get("/v1/runs", headers={"Host": "localhost"}).status_code == 200
    big = {**RUN, "output": "x" * (2 * 1024 * 1024 + 10)}
    r = server.client.post("/v1/runs", json=big)
    assert r.status_code == 413
    r = server.client.post("/v1/runs", content=b'{"role": "coder", "output": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]["message"]
    for body, field in [({"output": "x"}, "role"), ({"role": "coder", "output": 3}, "output"),
                        ({"role": "coder", "output": "x", "tokens_in": "many"}, "tokens_in"),
                        ({"role": "coder", "output": "x", "signals": {"tests": {"passed": 5, "total": 2}}}, "signals.tests"),
                        ({"role": "coder", "output": "x", "signals": {"vibes": 1}}, "signals.vibes"),
                        ({"role": "coder", "output": "x", "surprise": 1}, "surprise"),
                        ({"role": "bad role!", "output": "x"}, "role")]:
        r = server.client.post("/v1/runs", json=body)
        assert r.status_code == 422 and field in r.json()["error"]["message"], (body, r.text)
    assert server.runtime.store.runs.count_runs() == 0  # nothing partially written
    r = server.client.post("/v1/runs", json={"role": "coder", "output": "x", "signals": {"human": 1}})
    message = r.json()["error"]["message"]
    assert r.status_code == 422 and "signals.human" in message, r.text
    assert '{"score": 1-5}' in message and '{"thumbs": 1|-1}' in message
    assert server.runtime.store.runs.count_runs() == 0
    bad_batch = {"runs": [{"role": "a", "output": "1"}, {"role": "a", "output": "2", "signals": {"tests": 7}}]}
    r = server.client.post("/v1/runs/batch", json=bad_batch)
    assert r.status_code == 422 and "runs.1" in r.json()["error"]["message"]
    assert server.runtime.store.runs.count_runs() == 0
    assert server.client.get(f"/v1/runs/{'f' * 24}").status_code == 404
    rid = server.client.post("/v1/runs", json={"role": "coder", "output": "x", "signals": {"compile": True}}).json()["id"]
    r = server.client.post(f"/v1/runs/{rid}/signals", json={"signals": {"human": -1}})
    assert r.status_code == 422 and '{"thumbs": 1|-1}' in r.json()["error"]["message"], r.text
    assert server.client.get(f"/v1/runs/{rid}").json()["reward"] == 1.0  # the late signal changed nothing
    assert server.client.get("/openapi.json").json()["paths"]["/v1/runs"]["post"]["requestBody"]


def test_similar_runs_with_real_embeddings(home):
    from edgelearn.runtime import Runtime

    rt = Runtime(home=home, embed=True)
    live, stop = start_server(rt)
    try:
        tasks = [("coder", "p", "parse a CSV file into rows"), ("coder", "p", "read a CSV file and split rows"),
                 ("coder", "p", "draw a red circle on a canvas"), ("coder", "q", "load CSV data from disk"),
                 ("fixer", "p", "parse a CSV file into rows")]
        ids = [live.client.post("/v1/runs", json={"role": r, "project": p, "task": t, "output": "x"}).json()["id"]
               for r, p, t in tasks]
        wait_for(lambda: rt.store.runs.count_runs(embedded=True) == len(tasks), timeout=120)
        sim = live.client.get(f"/v1/runs/{ids[0]}/similar", params={"k": 3}).json()["similar"]
        assert [s["id"] for s in sim][:2] in ([ids[1], ids[3]], [ids[3], ids[1]])
        assert ids[4] not in [s["id"] for s in sim]  # other role
        assert sim[-1]["id"] == ids[2]
        sim_p = live.client.get(f"/v1/runs/{ids[0]}/similar", params={"k": 3, "project": "p"}).json()["similar"]
        assert [s["id"] for s in sim_p] == [ids[1], ids[2]]
        # torch and the model were moved out of the GC's full passes (260 ms each, else, on the event loop)
        assert gc.get_freeze_count() > 100_000
    finally:
        stop()


def test_hot_routes_answer_as_their_fastapi_routes(home, monkeypatch):
    """The per-run calls skip FastAPI's routing and still pass through CORS when it is configured:
    the same answers as their FastAPI routes give, with the CORS headers only when configured."""
    from edgelearn.runtime import Runtime
    from edgelearn.server import app as app_module
    from edgelearn.server import hook, select

    calls = [("/v1/ping", b'{"any": "body"}'), ("/v1/runs", b'{"role": "coder", "output": "x", "signals": {"compile": true}}'),
             ("/v1/runs", b'{"output": "x"}'), ("/v1/runs", b'{"role": "coder", "output": '),
             ("/v1/runs", b'{"role": "coder", "output": "x", "run_id": "' + b"a" * 24 + b'"}'),
             ("/v1/select", b'{"role": "nobody"}'), ("/v1/select", b'{"role": "coder", "surprise": 1}')]
    routed = []  # hot handlers FastAPI's routes ran

    async def counting_route(handler, request):
        routed.append(handler.__name__)
        return await hot_route(handler, request)

    hot_route = app_module.hot_route
    for module in (app_module, hook, select):
        monkeypatch.setattr(module, "hot_route", counting_route)
    answers = {}
    for mode in ("hot", "fastapi", "hot+cors"):
        if mode == "hot+cors":
            (home / "edgelearn.toml").write_text('[server]\ncors_origins = ["http://localhost:3000"]\n')
        routed.clear()
        with pytest.MonkeyPatch.context() as patch:
            if mode == "fastapi":  # the hot routes let everything through: FastAPI's routes answer
                patch.setattr(app_module.HotRoutes, "__call__", lambda self, *asgi: self.app(*asgi))
            live, stop = start_server(Runtime(home=home, embed=False))
            try:
                seen = []
                for path, body in calls:
                    r = live.client.post(path, content=body, headers={"Content-Type": "application/json",
                                                                      "Origin": "http://localhost:3000"})
                    payload = r.json()
                    if "id" in payload:
                        payload["id"] = len(payload["id"])  # a fresh id each time
                    seen.append((r.status_code, r.headers["content-type"], payload))
                    assert ("access-control-allow-origin" in r.headers) == (mode == "hot+cors"), (path, r.headers)
                answers[mode] = seen
            finally:
                stop()
        assert len(routed) == (len(calls) if mode == "fastapi" else 0), (mode, routed)
    assert answers["hot"] == answers["fastapi"] == answers["hot+cors"]
    statuses = [s for s, _, _ in answers["hot"]]
    assert statuses == [200, 201, 422, 400, 404, 409, 422], answers["hot"]
    assert answers["hot"][1][2] == {"id": 24, "reward": 1.0}


def test_integers_past_sqlite_range_are_refused_naming_the_field(server):
    """Found by tests/test_openapi_fuzz.py: these reached SQLite and raised OverflowError (a 500)."""
    huge = str(2**64)
    for path, params, field in [("/v1/runs", {"cursor": huge}, "cursor"), ("/v1/runs", {"cursor": "-1"}, "cursor"),
                                ("/v1/stats", {"bucket_s": huge}, "bucket_s")]:
        r = server.client.get(path, params=params)
        assert r.status_code == 422 and r.json()["error"]["param"] == field, (path, params, r.text)
    assert server.client.get("/v1/runs", params={"cursor": str(2**63 - 1)}).json()["runs"] == []


def test_json_the_store_cannot_hold_is_refused_naming_the_field(server):
    """Found by tests/test_openapi_fuzz.py: an integer past 64 bits in a run's messages reached
    orjson in the recorder and raised TypeError (a 500)."""
    huge = 2**70
    for body, field in [({"role": "coder", "output": "x", "input": [{"role": "user", "content": "hi", "n": huge}]},
                         "input"),
                        ({"role": "coder", "output": "x", "metadata": {"n": huge}}, "metadata")]:
        r = server.client.post("/v1/runs", json=body)
        assert r.status_code == 422 and r.json()["error"]["param"] == field, (body, r.text)
        r = server.client.post("/v1/runs/batch", json={"runs": [{"role": "a", "output": "1"}, body]})
        assert r.status_code == 422 and r.json()["error"]["param"] == f"runs.1.{field}", r.text
    assert server.runtime.store.runs.count_runs() == 0
