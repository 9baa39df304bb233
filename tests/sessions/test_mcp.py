"""`edgelearn mcp` answers its tools over stdio through the official `mcp` client."""

import json
import os
import sys

import anyio
from elsupport import start_server, wait_for
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def call(params: StdioServerParameters, calls: list[tuple[str, dict]]) -> tuple[list[str], list]:
    async def main():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = [t.name for t in (await session.list_tools()).tools]
                results = [await session.call_tool(name, args) for name, args in calls]
                return tools, results

    return anyio.run(main)


def payload(result):
    """A tool result's JSON: its structured content, else its text."""
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if set(content) == {"result"} else content
    return json.loads(result.content[0].text)


def test_mcp_tools_over_stdio(home, tmp_path):
    from edgelearn.runtime import Runtime

    rt = Runtime(home=home, embed=True)
    live, stop = start_server(rt)
    try:
        check_tools(live, home, tmp_path)
    finally:
        stop()


def check_tools(server, home, tmp_path):
    c = server.client
    project = tmp_path / "proj"
    project.mkdir()
    runs = [c.post("/v1/runs", json={"role": "fixer", "output": "x", "session": "mcp-s", "project": str(project),
                                     "task": "write a CSV parser"}).json()["id"] for _ in range(2)]
    for task, ok in (("parse a CSV file into rows", True), ("read comma separated values", False),
                     ("parse CSV with quoted fields", None), ("draw a bar chart", True)):
        body = {"role": "coder", "output": f"answer to {task}", "task": task, "session": "old"}
        if ok is not None:
            body["signals"] = {"compile": ok}
        c.post("/v1/runs", json=body)
    wait_for(lambda: server.runtime.store.runs.count_runs(embedded=True) == 6, timeout=120)
    env = {"EDGELEARN_HOME": str(home), "EDGELEARN_URL": server.url, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "edgelearn", "mcp"], env=env, cwd=str(project))
    tools, results = call(params, [
        ("report_outcome", {"signals": {"tests": {"passed": 1, "total": 2}}}),
        ("report_outcome", {"verdict": "accept", "session_id": "mcp-s"}),
        ("similar_runs", {"task": "parse a CSV file", "k": 2}),
        ("learning_status", {}),
        ("report_outcome", {"signals": {"tests": {"passed": 3, "total": 2}}}),
    ])
    assert sorted(tools) == ["learning_status", "report_outcome", "similar_runs"]
    assert payload(results[0]) == {"session": "mcp-s", "rescored": 2}
    assert payload(results[1])["rescored"] == 2
    assert [c.get(f"/v1/runs/{r}").json()["reward"] for r in runs] == [0.75, 0.75]
    similar = payload(results[2])["runs"]
    # the best-rewarded of the near scored runs first; the unscored one and the far one are no examples
    assert [(r["task"], r["reward"]) for r in similar] == [("parse a CSV file into rows", 1.0),
                                                           ("read comma separated values", 0.0)], similar
    status = payload(results[3])
    assert isinstance(status, dict) and status
    assert results[4].is_error and "signals.tests" in results[4].content[0].text
