"""The session lookups read the index runs_session (session, seq, reward), a range per session."""

from __future__ import annotations

import orjson

from edgelearn.store.db import connect
from edgelearn.store.runs import NewRun


def _plan(path, sql: str, params) -> list[str]:
    conn = connect(path)  # a fresh connection: no statement prepared before the schema changed
    try:
        return [row[-1] for row in conn.execute("explain query plan " + sql, params)]
    finally:
        conn.close()


def test_session_totals_and_tool_result_lookup_use_the_session_index(store, home):
    path = home / "edgelearn.db"
    totals = _plan(path, "select session, count(*), count(reward), avg(reward) from runs "
                         "where session in (select value from json_each(?)) group by session", ('["a"]',))
    assert any("COVERING INDEX runs_session" in step for step in totals), totals
    lookup = _plan(path, "select r.seq, r.session, r.input from json_each(?) j join runs r on r.session = j.key "
                         "and r.seq > j.value where instr(r.input, '\"tool_call_id\"') > 0 order by r.seq",
                   ('{"a": 1}',))
    assert any("INDEX runs_session (session=? AND seq>?)" in step for step in lookup), lookup
    in_order = _plan(path, "select seq from runs where session = ? order by seq", ("a",))
    assert in_order == ["SEARCH runs USING COVERING INDEX runs_session (session=?)"]


def test_tool_result_inputs_reads_each_session_after_its_own_seq(store):
    result = orjson.dumps([{"role": "tool", "tool_call_id": "call_1", "content": "ok"}]).decode()
    plain = orjson.dumps([{"role": "user", "content": "hi"}]).decode()
    layout = [("a", result), ("b", result), ("a", result), ("b", plain), ("a", result), ("b", result), ("c", result)]

    def fn(conn):
        for i, (session, text) in enumerate(layout, start=1):
            store.runs.insert_in(conn, NewRun(id=f"{i:024x}", created_at=float(i), role="coder", output="o",
                                              content_hash=f"h{i}", session=session, input=text))

    store.write(fn)
    got = store.datasets.tool_result_inputs({"a": 3, "b": 1})
    # a after seq 3: 5; b after seq 1: 2 and 6 (4 carries no tool result); c not asked for
    assert [(seq, session) for seq, session, _ in got] == [(2, "b"), (5, "a"), (6, "b")]
    assert store.datasets.tool_result_inputs({}) == []
