"""Session outcomes rescore exactly the runs the credit rule says, on a real store over real HTTP."""

import pytest
from elsupport import start_server

from edgelearn.store.db import connect
from edgelearn.store.migrations import all_migrations, migrate


def record(client, session, signals=None, **extra):
    body = {"role": "coder", "output": "x = 1", "session": session, **extra}
    if signals:
        body["signals"] = signals
    r = client.post("/v1/runs", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def reward(client, run_id):
    return client.get(f"/v1/runs/{run_id}").json()["reward"]


def updated_subjects(runtime, after_id=0):
    return sorted(e.subject for e in runtime.store.events.list(type="reward.updated", after_id=after_id, limit=10_000))


def last_event_id(runtime):
    events = runtime.store.events.list(limit=1)
    return events[0].id if events else 0


def test_an_outcome_scores_the_runs_recorded_before_it_and_no_others(server):
    c, rt = server.client, server.runtime
    r1, r2 = record(c, "s1"), record(c, "s1")
    r3 = record(c, "s1", {"tests": {"passed": 1, "total": 2}})  # its own tests signal outranks the session's
    other = record(c, "s2")
    mark = last_event_id(rt)
    r = c.post("/v1/sessions/s1/signals", json={"signals": {"tests": {"passed": 3, "total": 4}}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["covered"] == 3 and sorted(body["rescored_ids"]) == sorted([r1, r2])
    assert updated_subjects(rt, mark) == sorted([r1, r2])
    assert reward(c, r1) == reward(c, r2) == pytest.approx(0.75)
    assert reward(c, r3) == pytest.approx(0.5) and reward(c, other) is None

    r4 = record(c, "s1")  # after the outcome: not covered, not guessed
    assert reward(c, r4) is None

    mark = last_event_id(rt)
    body = c.post("/v1/sessions/s1/signals", json={"signals": {"tests": {"passed": 4, "total": 4}}}).json()
    # the later tests outcome replaces the earlier one for r1, r2 and covers r4 too; r3 keeps its own
    assert updated_subjects(rt, mark) == sorted([r1, r2, r4]) and body["covered"] == 4
    assert [reward(c, x) for x in (r1, r2, r3, r4)] == [1.0, 1.0, 0.5, 1.0]

    mark = last_event_id(rt)
    c.post("/v1/sessions/s1/signals", json={"signals": {"compile": False}})
    assert updated_subjects(rt, mark) == sorted([r1, r2, r3, r4])  # no run has a compile of its own
    assert reward(c, r3) == pytest.approx(0.25) and reward(c, r1) == pytest.approx(0.5)

    # a run's own late signal keeps what its session gave it for the other kinds
    r = c.post(f"/v1/runs/{r1}/signals", json={"signals": {"compile": True}})
    assert r.json()["reward"] == pytest.approx(1.0)  # own compile 1, session tests 1
    assert reward(c, other) is None


def test_session_feedback_is_the_human_outcome_of_every_covered_run(server):
    c, rt = server.client, server.runtime
    a = record(c, "fb", {"compile": True})
    b = record(c, "fb", {"human": "accept"})  # its own verdict outranks the session's
    mark = last_event_id(rt)
    r = c.post("/v1/sessions/fb/feedback", json={"kind": "reject", "comment": "wrong approach"})
    assert r.status_code == 200, r.text
    assert updated_subjects(rt, mark) == [a]
    assert reward(c, a) == 0.5 and reward(c, b) == 1.0
    r = c.post("/v1/sessions/fb/feedback", json={"kind": "score", "value": 5})
    assert reward(c, a) == 1.0
    detail = c.get("/v1/sessions/fb").json()
    assert [f["kind"] for f in detail["feedback"]] == ["reject", "score"]
    assert detail["feedback"][0]["comment"] == "wrong approach"
    assert [s["kind"] for s in detail["signals"]] == ["human", "human"] and detail["outcomes"] == {"human": 1.0}
    assert c.post("/v1/sessions/fb/feedback", json={"kind": "thumbs"}).json()["error"]["param"] == "value"


def test_list_and_read_sessions(server):
    c = server.client
    ids = [record(c, "ls-a", project="/repo/a") for _ in range(2)] + [record(c, "ls-b", project="/repo/b")]
    record(c, "ls-c", project="/repo/a")
    c.post("/v1/sessions/ls-a/signals", json={"signals": {"errors": 0}})
    detail = c.get("/v1/sessions/ls-a").json()
    assert [r["id"] for r in detail["runs"]] == ids[:2] and detail["project"] == "/repo/a"
    assert detail["open"] is True and detail["reward"] == 1.0 and detail["outcomes"] == {"errors": 1.0}
    listed = c.get("/v1/sessions", params={"project": "/repo/a"}).json()["sessions"]
    assert [s["id"] for s in listed] == ["ls-c", "ls-a"]
    assert listed[1]["runs"] == 2 and listed[1]["scored"] == 2 and listed[1]["mean_reward"] == 1.0
    page1 = c.get("/v1/sessions", params={"limit": 2}).json()
    page2 = c.get("/v1/sessions", params={"limit": 2, "cursor": page1["next_cursor"]}).json()
    assert [s["id"] for s in page1["sessions"] + page2["sessions"]] == ["ls-c", "ls-b", "ls-a"]
    assert c.get("/v1/sessions", params={"open": "false"}).json()["sessions"] == []


def test_bad_input_is_refused_naming_the_field_with_nothing_written(server):
    c, rt = server.client, server.runtime
    run = record(c, "bad")
    mark = last_event_id(rt)
    r = c.post("/v1/sessions/nope/signals", json={"signals": {"compile": True}})
    assert r.status_code == 404 and r.json()["error"]["param"] == "session_id" and "nope" in r.json()["error"]["message"]
    assert c.get("/v1/sessions/nope").status_code == 404
    assert c.post("/v1/sessions/nope/feedback", json={"kind": "accept"}).status_code == 404
    r = c.post("/v1/sessions/bad/signals", json={"signals": {"tests": {"passed": 5, "total": 3}}})
    assert r.status_code == 422 and r.json()["error"]["param"] == "signals.tests"
    r = c.post("/v1/sessions/bad/signals", json={"signals": {"style": 1}})
    assert r.status_code == 422 and r.json()["error"]["param"] == "signals.style"
    assert last_event_id(rt) == mark
    assert rt.store.query("select count(*) from session_outcomes")[0][0] == 0
    assert rt.store.query("select count(*) from sessions where id = 'nope'")[0][0] == 0
    assert reward(c, run) is None
    r = c.get("/v1/sessions", params={"cursor": str(2**64)})  # was an OverflowError in SQLite (a 500)
    assert r.status_code == 422 and r.json()["error"]["param"] == "cursor", r.text


def test_one_outcome_is_one_transaction(server):
    c, rt = server.client, server.runtime
    runs = [record(c, "tx") for _ in range(3)]
    seen = []

    def failing_hook(conn, row, old, new):
        seen.append(row["id"])
        if len(seen) == 2:
            from edgelearn.errors import StoreError

            raise StoreError("hook failed on purpose")

    rt.store.runs.reward_hooks.append(failing_hook)
    try:
        r = c.post("/v1/sessions/tx/signals", json={"signals": {"compile": True}})
    finally:
        rt.store.runs.reward_hooks.remove(failing_hook)
    assert r.status_code == 503 and len(seen) == 2
    assert [reward(c, x) for x in runs] == [None, None, None]  # the first run's update rolled back too
    assert rt.store.query("select count(*) from session_outcomes")[0][0] == 0
    assert rt.store.events.list(type="reward.updated") == []


def test_last_run_credit_scores_only_the_latest_run(home):
    from edgelearn.runtime import Runtime

    (home / "edgelearn.toml").write_text('[sessions]\ncredit = "last_run"\n')
    rt = Runtime(home=home, embed=False)
    live, stop = start_server(rt)
    try:
        first, last = record(live.client, "lr"), record(live.client, "lr")
        body = live.client.post("/v1/sessions/lr/signals", json={"signals": {"compile": True}}).json()
        assert body["covered"] == 1 and body["rescored_ids"] == [last]
        assert reward(live.client, first) is None and reward(live.client, last) == 1.0
    finally:
        stop()


def test_migration_backfills_sessions_from_existing_runs(tmp_path):
    path = tmp_path / "old.db"
    conn = connect(path)
    conn.execute("create table _migrations (number integer primary key, name text not null, applied_at real not null)")
    for mig in all_migrations():
        if mig.number < 11:
            with conn:
                mig.apply(conn)
                conn.execute("insert into _migrations values (?, ?, 0)", (mig.number, mig.name))
    for i, (session, project, at) in enumerate([("old-a", None, 5.0), ("old-a", "/p", 3.0), ("old-b", None, 9.0),
                                                (None, None, 1.0)]):
        conn.execute("insert into runs(id, created_at, session, project, role, output, content_hash) "
                     "values (?, ?, ?, ?, 'coder', 'o', 'h')", (f"r{i}", at, session, project))
    assert [m for m in migrate(conn) if m == "sessions"] == ["sessions"]
    rows = conn.execute("select id, project, started_at, ended_at from sessions order by seq").fetchall()
    assert rows == [("old-a", "/p", 3.0, None), ("old-b", None, 9.0, None)]
    conn.close()
