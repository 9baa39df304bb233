"""Curating tool-using runs: {messages, tools} rows, failed and bad calls rejected, long trajectories fitted."""

from __future__ import annotations

import json

import pytest
from toolconv import TOOLS, call

from edgelearn.curate import export_dataset
from edgelearn.curate import tools as T
from edgelearn.serve.tools import TOOL_RESULT_CHARS

SYSTEM = {"role": "system", "content": "You are a coding agent in the repository quill."}


def gateway_run(messages: list[dict], *, text: str = "", calls: list[dict] | None = None, reward: float = 0.9,
                session: str | None = None, tools: list[dict] | None = TOOLS) -> dict:
    """A run as the gateway records it: the messages as input, the answer in metadata.chat.output."""
    output = {"role": "assistant", "content": text or None}
    if calls:
        output["tool_calls"] = calls
    chat = {"output": output, "params": {}}
    if tools is not None:
        chat["tools"] = tools
    task = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    return {"input": json.dumps(messages), "output": text, "task": task, "reward": reward, "session": session,
            "metadata": {"chat": chat, "proxy": {"backend": "openai"}}}


def by_run(examples) -> dict[str, dict]:
    return {e["run_id"]: e for e in examples}


def test_multi_turn_trajectory_is_a_messages_and_tools_row(store, settings, home, add_runs, examples):
    settings.train.max_seq_len = 8192  # room for the long tool result (cut to TOOL_RESULT_CHARS)
    long_result = "line\n" * (TOOL_RESULT_CHARS // 2)
    history = [SYSTEM, {"role": "user", "content": "Why does test_parse fail?"},
               {"role": "assistant", "content": "Let me look.", "tool_calls": [call("read_file", {"path": "parse.py"}, "call_a")]},
               {"role": "tool", "tool_call_id": "call_a", "content": long_result}]
    ids = add_runs([
        gateway_run(history, calls=[call("run_tests", {"target": "tests/test_parse.py"}, "call_b")]),
        gateway_run([SYSTEM, {"role": "user", "content": "Open the config loader"}], text="Opening it.",
                    calls=[call("read_file", {"path": "config.py"}, "call_c")]),
    ])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    rows = by_run(examples(ds))
    assert set(rows) == set(ids)
    row = rows[ids[0]]
    assert json.loads(row["tools"]) == TOOLS
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    earlier, result, answer = row["messages"][2], row["messages"][3], row["messages"][4]
    assert earlier["content"] == "Let me look." and earlier["tool_calls"][0]["function"]["name"] == "read_file"
    assert result["tool_call_id"] == "call_a" and len(result["content"]) <= TOOL_RESULT_CHARS < len(long_result)
    assert "characters, middle cut" in result["content"]
    assert answer["content"] == "" and answer["tool_calls"] == [call("run_tests", {"target": "tests/test_parse.py"},
                                                                     "call_b")]
    both = rows[ids[1]]["messages"][-1]
    assert both["content"] == "Opening it." and both["tool_calls"][0]["function"]["arguments"] == '{"path": "config.py"}'
    assert ds.manifest["tools"] == {"read_file": {"calls": 1, "examples": 1}, "run_tests": {"calls": 1, "examples": 1}}
    assert ds.manifest["tool_result_chars"] == TOOL_RESULT_CHARS and ds.manifest["dropped_turns"] == {}


def test_failed_call_and_bad_calls_are_rejected_with_their_reason(store, settings, home, add_runs, examples):
    ask = [SYSTEM, {"role": "user", "content": "Run the parser tests"}]
    failed = call("run_tests", {"target": "tests/test_parse.py"}, "call_f")
    ids = add_runs([
        gateway_run(ask, calls=[failed], session="s1"),
        # the agent's next request in the session carries the call's result: an error
        gateway_run([*ask, {"role": "assistant", "content": None, "tool_calls": [failed]},
                     {"role": "tool", "tool_call_id": "call_f", "content": "Error: no such target tests/test_parse.py"},
                     {"role": "user", "content": "Try the whole suite then"}],
                    calls=[call("run_tests", {}, "call_g")], session="s1"),
        gateway_run([SYSTEM, {"role": "user", "content": "Read setup.cfg"}],
                    calls=[call("read_file", '{"path": "setup.cfg"', "call_h")]),
        gateway_run([SYSTEM, {"role": "user", "content": "Delete the build folder"}],
                    calls=[call("delete_tree", {"path": "build"}, "call_i")]),
        gateway_run([SYSTEM, {"role": "user", "content": "Show the README"}],
                    calls=[call("read_file", {"path": "README.md"}, "call_j")]),
    ])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert set(by_run(examples(ds))) == {ids[1], ids[4]}
    rej = ds.rejections
    assert (rej["tool_call_failed"], rej["tool_call_invalid_json"], rej["tool_not_offered"]) == (1, 1, 1)
    assert ds.manifest["tools"]["run_tests"] == {"examples": 1, "calls": 1, "tool_call_failed": 1}
    assert ds.manifest["tools"]["delete_tree"] == {"tool_not_offered": 1}
    # rejected from the dataset, still stored as runs
    assert all(store.runs.get(i) is not None for i in ids)
    # the kept run's history shows the failed call and its error result, as the agent saw them
    kept = by_run(examples(ds))[ids[1]]["messages"]
    assert kept[3]["role"] == "tool" and kept[3]["content"].startswith("Error:")


def test_dedup_compares_tool_calls(store, settings, home, add_runs, examples):
    ask = [SYSTEM, {"role": "user", "content": "Read the parser"}]
    ids = add_runs([
        gateway_run(ask, calls=[call("read_file", {"path": "parse.py"}, "call_1")], reward=1.0),
        gateway_run(ask, calls=[call("read_file", {"path": "parse.py"}, "call_2")], reward=0.95),  # same call
        gateway_run(ask, calls=[call("read_file", {"path": "lexer.py"}, "call_3")], reward=0.9),  # another call
    ])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0, output_similarity=0.99)
    assert set(by_run(examples(ds))) == {ids[0], ids[2]}
    assert ds.rejections["exact_duplicate"] == 1 and ds.rejections["near_duplicate"] == 0


def test_per_tool_min_reward(store, settings, home, add_runs, examples):
    ids = add_runs([
        gateway_run([SYSTEM, {"role": "user", "content": "Run all tests"}], calls=[call("run_tests", {}, "c1")],
                    reward=0.8),
        gateway_run([SYSTEM, {"role": "user", "content": "Read main.py"}],
                    calls=[call("read_file", {"path": "main.py"}, "c2")], reward=0.8),
    ])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0, tool_min_reward={"run_tests": 0.9})
    assert set(by_run(examples(ds))) == {ids[1]}
    assert ds.rejections["below_tool_min_reward"] == 1


def chars(messages, tools) -> int:
    """A stand-in token count: one token per character of the rendered turns."""
    return sum(len(m["content"]) + 8 for m in T.render_chat(messages, tools))


def test_long_trajectory_drops_middle_turns_and_keeps_the_answer(store, settings, home, add_runs, examples):
    settings.train.max_seq_len = 2600
    turns = [SYSTEM, {"role": "user", "content": "Fix the lexer"}]
    for i in range(6):
        turns += [{"role": "assistant", "content": "", "tool_calls": [call("read_file", {"path": f"f{i}.py"}, f"r{i}")]},
                  {"role": "tool", "tool_call_id": f"r{i}", "content": f"{i}" * 300}]
    answer = [call("run_tests", {"target": "lexer"}, "t1")]
    too_long = [SYSTEM, {"role": "user", "content": "x" * 3000}]
    ids = add_runs([gateway_run(turns, calls=answer), gateway_run(too_long, calls=answer)])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0, count_tokens=chars)
    rows = by_run(examples(ds))
    assert set(rows) == {ids[0]} and ds.rejections["too_long"] == 1
    messages = rows[ids[0]]["messages"]
    dropped = ds.manifest["dropped_turns"][ids[0]]
    assert dropped > 0 and len(messages) == len(turns) + 1 - 2 * dropped
    assert [m["content"] for m in messages[:2]] == [SYSTEM["content"], "Fix the lexer"]
    assert messages[2]["tool_calls"][0]["id"] == f"r{dropped}"  # whole oldest turns went, call with its result
    assert messages[-1]["tool_calls"][0]["function"]["name"] == "run_tests"
    assert chars(messages, TOOLS) <= 2600


def test_rows_read_back_by_datasets_and_trl(store, settings, home, add_runs, examples, base_tokenizer):
    datasets = pytest.importorskip("datasets")
    ask = [SYSTEM, {"role": "user", "content": "Why does test_parse fail?"},
           {"role": "assistant", "content": "", "tool_calls": [call("read_file", {"path": "parse.py"}, "a1")]},
           {"role": "tool", "tool_call_id": "a1", "content": "def parse(): ..."}]
    add_runs([gateway_run(ask, calls=[call("run_tests", {"target": "parse"}, "a2")]),
              gateway_run([SYSTEM, {"role": "user", "content": "Say hi"}], text="hi", tools=None),
              {"input": "plain question", "output": "plain answer", "reward": 0.9}])
    # the run ids are random: at 0.01 one of the three went to validation once in ~33 runs; at 1e-12, never
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0, val_fraction=1e-12)
    lines = examples(ds, "train")
    loaded = datasets.load_dataset("json", data_files=str(ds.path / "train.jsonl"), split="train")
    assert len(loaded) == len(lines) == 3
    tool_row = next(r for r in loaded if json.loads(r["tools"] or "[]"))
    line = next(x for x in lines if x.get("tools") and json.loads(x["tools"]))
    assert tool_row["messages"] == line["messages"] and json.loads(tool_row["tools"]) == TOOLS
    trl = pytest.importorskip("trl")
    from trl.data_utils import apply_chat_template

    text = apply_chat_template({"messages": tool_row["messages"]}, base_tokenizer,
                               tools=json.loads(tool_row["tools"]))["text"]
    assert "Why does test_parse fail?" in text and "def parse(): ..." in text
    assert trl.__version__
