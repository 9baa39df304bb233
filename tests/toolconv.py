"""A multi-turn tool conversation and the tools it offers, shared by the tool-learning and curation tests."""

from __future__ import annotations

import json

TOOLS = [
    {"type": "function", "function": {"name": "read_file", "description": "Read a file of the repository",
                                      "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                                                     "required": ["path"]}}},
    {"type": "function", "function": {"name": "run_tests", "description": "Run the test suite",
                                      "parameters": {"type": "object", "properties": {"target": {"type": "string"}}}}},
]


def call(name: str, arguments: dict | str, call_id: str) -> dict:
    """An assistant tool call; ``arguments`` as a string is sent as is (broken JSON included)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


# a multi-turn agent trajectory: text and a call, two results in a row, a follow-up, and the answer (two calls)
CONVERSATION = [
    {"role": "system", "content": "You are a coding agent in the repository quill."},
    {"role": "user", "content": "Why does test_parse fail? ü"},
    {"role": "assistant", "content": "Let me read the parser.",
     "tool_calls": [call("read_file", {"path": "quill/parse.py"}, "call_a"),
                    call("read_file", {"path": "tests/test_parse.py"}, "call_b")]},
    {"role": "tool", "tool_call_id": "call_a", "content": "def parse(text):\n    return text.split(',')"},
    {"role": "tool", "tool_call_id": "call_b", "content": "def test_parse():\n    assert parse('a;b') == ['a', 'b']"},
    {"role": "user", "content": "Run just that test."},
    {"role": "assistant", "content": "",
     "tool_calls": [call("run_tests", {"target": "tests/test_parse.py::test_parse"}, "call_c"),
                    call("read_file", {"path": "setup.cfg"}, "call_d")]},
]
