"""``POST/GET /v1/datasets`` over real HTTP, and the ``export`` / ``datasets`` commands."""

from __future__ import annotations

import orjson

from edgelearn.cli import main

TASKS = ["Sort a list of users by signup date.", "Parse a YAML config file into a dict.",
         "Validate an email address format.", "Compute the median of a list of numbers.",
         "Convert a CSV file to JSON lines.", "Deduplicate a list while keeping order.",
         "Paginate results from a REST API.", "Format a byte count as a human-readable size.",
         "Find the longest common prefix of strings.", "Rotate a matrix by 90 degrees.",
         "Debounce a function call in Python.", "Group log lines by request id.",
         "Fix the failing test in test_users.py.", "Fix the failing test in test_orders.py.",
         "Retry a flaky network call."]


def _record(client, n: int, start: int = 0, passed: int = 1) -> None:
    runs = [{"role": "coder", "input": TASKS[i],
             "output": f"def solution_{i}(rows):\n    return sorted(rows)[:{i + 1}]\n",
             "signals": {"tests": {"passed": passed, "total": 1}}} for i in range(start, start + n)]
    r = client.post("/v1/runs/batch", json={"runs": runs})
    assert r.status_code == 201, r.text


def test_http_create_list_and_show(server):
    client = server.client
    _record(client, 12)
    _record(client, 3, start=12, passed=0)
    r = client.post("/v1/datasets", json={"role": "coder", "format": "alpaca", "max_examples": 8})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["version"] == "coder-ds1" and body["format"] == "alpaca"
    assert body["counts"]["examples"] == 8 and body["counts"]["candidates"] == 15
    assert body["rejections"]["cluster_cap"] == 0 and body["rejections"]["over_max_examples"] == 4
    assert body["rejections"]["below_min_reward"] == 3
    assert body["counts"]["candidates"] == body["counts"]["examples"] + sum(body["rejections"].values())
    listed = client.get("/v1/datasets", params={"role": "coder"}).json()["datasets"]
    assert [d["version"] for d in listed] == ["coder-ds1"] and "manifest" not in listed[0]
    shown = client.get("/v1/datasets/coder-ds1").json()
    assert len(shown["manifest"]["runs"]["train"]) + len(shown["manifest"]["runs"]["val"]) == 8
    assert client.get("/v1/datasets/coder-ds7").status_code == 404


def test_http_rejects_bad_bodies(server):
    client = server.client
    for body, field in (({"role": "coder", "format": "csv"}, "format"), ({"role": "bad role"}, "role"),
                        ({"role": "coder", "max_examples": 0}, "max_examples"), ({"role": "coder", "x": 1}, "x")):
        r = client.post("/v1/datasets", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["param"] == field
    r = client.post("/v1/datasets", json={"role": "coder"})  # no runs yet
    assert r.status_code >= 400 and "min_reward" in r.json()["error"]["message"]
    assert client.get("/v1/datasets").json() == {"datasets": []}


def test_cli_export_and_list(home, store, add_runs, capsys):
    add_runs([{"input": f"Write helper {i}.", "output": f"def helper_{i}():\n    return {i}\n", "reward": 0.9}
              for i in range(6)])
    add_runs([{"input": "Write helper 0.", "output": "def helper_0():\n    return 0\n", "reward": 0.8},
              {"role": "fixer", "input": "Fix it.", "output": "fixed", "reward": 0.95}])
    assert main(["export", "--role", "coder", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    (made,) = out["datasets"]
    assert made["version"] == "coder-ds1" and made["rejections"]["exact_duplicate"] == 1

    assert main(["export", "--format", "completion"]) == 0  # every role with good runs
    text = capsys.readouterr().out
    assert "coder-ds2" in text and "fixer-ds1" in text and "rejection report" in text
    assert "exact duplicate" in text and "over max examples" in text

    assert main(["datasets", "--json"]) == 0
    assert {d["version"] for d in orjson.loads(capsys.readouterr().out)["datasets"]} == {
        "coder-ds1", "coder-ds2", "fixer-ds1"}
    assert main(["datasets", "coder-ds2"]) == 0
    assert "completion" in capsys.readouterr().out
    assert main(["datasets", "nope-ds1"]) == 1
    assert main(["export", "--role", "judge"]) == 1
    assert "no example for role 'judge'" in capsys.readouterr().err
    assert main(["export", "--role", "coder", "--max-examples", "0"]) == 2
