"""Tools on local models: rendering (golden), parsing, and the streaming parser split everywhere."""

from __future__ import annotations

import json

import pytest

from edgelearn.errors import InvalidInput
from edgelearn.serve.backends import Chunk, Usage
from edgelearn.serve.tools import (
    ToolCallParser,
    call_schema,
    content_text,
    forced_function,
    native_messages,
    parse_chunks,
    parse_tool_calls,
    render_chat,
    template_handles_tools,
)

SHELL = {"type": "function", "function": {
    "name": "shell", "description": "Run a shell command",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}}}
READ = {"type": "function", "function": {"name": "read_file", "parameters": {
    "type": "object", "properties": {"path": {"type": "string"}}}}}

TOOLS_SYSTEM = """\
You are a coding agent.

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{"type": "function", "function": {"name": "shell", "description": "Run a shell command", \
"parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}}}
{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", \
"properties": {"path": {"type": "string"}}}}}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>"""

CONVERSATION = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": [{"type": "text", "text": "What is in the repo?"},
                                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": '{"cmd": "ls"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "README"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "README\nsrc"},
    {"role": "tool", "tool_call_id": "call_2", "name": "read_file", "content": [{"type": "text", "text": "# Demo"}]},
    {"role": "assistant", "content": "Let me look deeper.", "tool_calls": [
        {"id": "call_3", "type": "function", "function": {"name": "shell", "arguments": '{"cmd": "ls src"}'}}]},
    {"role": "tool", "tool_call_id": "call_3", "content": "main.py"},
    {"role": "user", "content": "Thanks"},
]


def test_golden_multi_turn_with_tools_and_results():
    assert render_chat(CONVERSATION, [SHELL, READ]) == [
        {"role": "system", "content": TOOLS_SYSTEM},
        {"role": "user", "content": "What is in the repo?\n[image]"},
        {"role": "assistant", "content": '<tool_call>\n{"name": "shell", "arguments": {"cmd": "ls"}}\n</tool_call>\n'
                                         '<tool_call>\n{"name": "read_file", "arguments": {"path": "README"}}\n'
                                         "</tool_call>"},
        {"role": "user", "content": "<tool_response>\nREADME\nsrc\n</tool_response>\n"
                                    "<tool_response>\n# Demo\n</tool_response>"},
        {"role": "assistant", "content": 'Let me look deeper.\n<tool_call>\n{"name": "shell", "arguments": '
                                         '{"cmd": "ls src"}}\n</tool_call>'},
        {"role": "user", "content": "<tool_response>\nmain.py\n</tool_response>"},
        {"role": "user", "content": "Thanks"},
    ]


def test_rendering_is_pure_and_leaves_the_input_alone():
    before = json.dumps(CONVERSATION)
    assert render_chat(CONVERSATION, [SHELL, READ]) == render_chat(CONVERSATION, [SHELL, READ])
    assert json.dumps(CONVERSATION) == before


def test_no_system_message_gets_a_tools_only_system_turn_and_none_renders_no_tools():
    messages = [{"role": "user", "content": "hi"}]
    rendered = render_chat(messages, [SHELL])
    assert rendered[0]["role"] == "system" and rendered[0]["content"].startswith("# Tools\n")
    assert render_chat(messages, [SHELL], "none") == messages
    assert render_chat(messages) == messages


def test_tool_choice_is_said_in_the_system_turn():
    messages = [{"role": "user", "content": "hi"}]
    assert render_chat(messages, [SHELL], "required")[0]["content"].endswith("You must call at least one function.")
    named = {"type": "function", "function": {"name": "read_file"}}
    assert render_chat(messages, [SHELL, READ], named)[0]["content"].endswith("You must call the function read_file.")
    assert forced_function([SHELL, READ], named)["name"] == "read_file"
    assert forced_function([SHELL], "required")["name"] == "shell"
    assert forced_function([SHELL, READ], "required") is None and forced_function([SHELL], "auto") is None


@pytest.mark.parametrize("tools, choice, field", [
    ([{"type": "function"}], None, "tools.0"),
    ([{"type": "function", "function": {"name": ""}}], None, "tools.0.function.name"),
    ([SHELL, {"type": "function", "function": {"name": "x", "parameters": "nope"}}], None,
     "tools.1.function.parameters"),
    ([SHELL], {"type": "function", "function": {"name": "missing"}}, "tool_choice"),
    ([SHELL], "sometimes", "tool_choice"),
])
def test_malformed_tools_name_the_field(tools, choice, field):
    with pytest.raises(InvalidInput) as caught:
        render_chat([{"role": "user", "content": "x"}], tools, choice)
    assert caught.value.field == field


def test_content_parts_and_native_messages():
    assert content_text(None) == "" and content_text([{"type": "input_audio"}, {"type": "x"}]) == "[audio]\n[x]"
    native = native_messages(CONVERSATION)
    assert native[2]["tool_calls"][0]["function"]["arguments"] == {"cmd": "ls"}
    assert native[4]["content"] == "# Demo" and native[4]["tool_call_id"] == "call_2"
    assert CONVERSATION[2]["tool_calls"][0]["function"]["arguments"] == '{"cmd": "ls"}'


def test_template_probe():
    assert template_handles_tools(lambda m, t: f"{t}\n<tool_call>") is True
    assert template_handles_tools(lambda m, t: "no tools here") is False

    def broken(m, t):
        raise ValueError("template error")

    assert template_handles_tools(broken) is False


# --- parsing -----------------------------------------------------------------------------------
def _names(calls):
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


def test_a_well_formed_call_with_text_around():
    text, calls = parse_tool_calls('I will list it.\n<tool_call>\n{"name": "shell", "arguments": {"cmd": "ls"}}\n'
                                   "</tool_call>\n")
    assert text == "I will list it."
    assert _names(calls) == [("shell", {"cmd": "ls"})]
    assert calls[0]["type"] == "function" and calls[0]["id"].startswith("call_")
    int(calls[0]["id"][5:], 16)


def test_several_calls_get_distinct_ids_and_keep_their_order():
    output = "".join(f'<tool_call>{{"name": "f{i}", "arguments": {{"i": {i}}}}}</tool_call>\n' for i in range(3))
    text, calls = parse_tool_calls(output)
    assert text == "" and _names(calls) == [(f"f{i}", {"i": i}) for i in range(3)]
    assert len({c["id"] for c in calls}) == 3


@pytest.mark.parametrize("output", [
    "<tool_call>{not json}</tool_call>",
    '<tool_call>{"arguments": {}}</tool_call>',
    '<tool_call>{"name": "x", "arguments": [1]}</tool_call>',
    '<tool_call>["x"]</tool_call>',
    "plain text with < and <tool and </tool_call>",
    '<tool_call>{"name": "x", "arguments": {"a": ',
])
def test_malformed_calls_stay_text(output):
    assert parse_tool_calls(output) == (output, [])


def test_unclosed_last_call_with_whole_json_counts_and_string_arguments_are_accepted():
    text, calls = parse_tool_calls('ok <tool_call>\n{"name": "shell", "arguments": "{\\"cmd\\": \\"pwd\\"}"}\n')
    assert text == "ok" and _names(calls) == [("shell", {"cmd": "pwd"})]


def test_a_malformed_call_between_good_ones_stays_text_in_place():
    good = '<tool_call>{"name": "a", "arguments": {}}</tool_call>'
    text, calls = parse_tool_calls(f"{good} <tool_call>oops</tool_call> {good}")
    assert text == "<tool_call>oops</tool_call>" and [c["function"]["name"] for c in calls] == ["a", "a"]


def test_whitespace_is_kept_when_there_is_no_call():
    assert parse_tool_calls("  two\n\nlines \n") == ("  two\n\nlines \n", [])


STREAMED = ('Checking <b>now</b>.\n<tool_call>\n{"name": "shell", "arguments": {"cmd": "echo <tool_call>"}}\n'
            '</tool_call>\n<tool_call>{"name": "read_file", "arguments": {"path": "a"}}</tool_call> done <tool')


def _run(pieces):
    parser = ToolCallParser()
    items = [i for piece in pieces for i in parser.feed(piece)] + parser.finish()
    return "".join(i for i in items if isinstance(i, str)), _names(i for i in items if isinstance(i, dict)), items


def test_stream_split_at_every_position_gives_the_whole_parse():
    expected = _run([STREAMED])[:2]
    assert expected == ("Checking <b>now</b>.\ndone <tool",
                        [("shell", {"cmd": "echo <tool_call>"}), ("read_file", {"path": "a"})])
    for cut in range(len(STREAMED) + 1):
        text, calls, items = _run([STREAMED[:cut], STREAMED[cut:]])
        assert (text, calls) == expected, cut
        assert not any(isinstance(i, str) and ("<tool_call>{" in i or '"name"' in i) for i in items), cut
    assert _run(list(STREAMED))[:2] == expected  # one character at a time


def test_stream_holds_back_only_a_possible_tag_start():
    parser = ToolCallParser()
    assert parser.feed("Hello <to") == ["Hello"]
    assert parser.feed("p secret") == [" <top secret"]
    assert parser.feed(" <tool_call>") == []
    assert parser.feed('{"name": "f", "arguments": {}}') == []
    [call] = parser.feed("</tool_call>")
    assert call["function"]["name"] == "f"


def test_parse_chunks_emits_one_chunk_per_call_and_finishes_with_tool_calls():
    pieces = ["Sure.", " <tool_", 'call>{"name": "shell", ', '"arguments": {"cmd": "ls"}}</tool_call>']
    chunks = [Chunk(p) for p in pieces] + [Chunk("", "stop", Usage(10, 4))]
    out = list(parse_chunks(chunks))
    assert "".join(c.text for c in out) == "Sure."
    assert [len(c.tool_calls) for c in out].count(1) == 1 and out[-1].finish_reason == "tool_calls"
    assert out[-1].usage == Usage(10, 4) and out[-1].tool_calls == ()
    plain = list(parse_chunks([Chunk("no calls <tool"), Chunk("", "length", Usage(1, 2))]))
    assert "".join(c.text for c in plain) == "no calls <tool" and plain[-1].finish_reason == "length"


def test_the_forced_call_schema_pins_the_name_and_takes_the_parameters():
    schema = call_schema(SHELL["function"])
    assert schema["properties"]["name"] == {"const": "shell"}
    assert schema["properties"]["arguments"] == SHELL["function"]["parameters"]
    assert call_schema({"name": "bare"})["properties"]["arguments"] == {"type": "object"}


HERMES_STYLE = (  # a minimal template that renders tools itself, in the <tool_call> convention
    "{% if tools %}<|im_start|>system\n<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>\n"
    "Answer with <tool_call>{...}</tool_call>.<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
    "{% for c in m.tool_calls or [] %}<tool_call>{{ c.function | tojson }}</tool_call>{% endfor %}<|im_end|>\n"
    "{% endfor %}<|im_start|>assistant\n")


def test_a_template_that_renders_tools_itself_is_used_and_smollm2s_is_not(base_gguf):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from edgelearn.serve.templates import read_gguf_template

    def probe(template):
        formatter = Jinja2ChatFormatter(template=template, eos_token="<|im_end|>", bos_token="")
        return formatter, template_handles_tools(lambda m, t: formatter(messages=m, tools=t).prompt)

    formatter, native = probe(HERMES_STYLE)
    assert native
    prompt = formatter(messages=native_messages(CONVERSATION[:3]), tools=[SHELL]).prompt
    assert '<tool_call>{"name": "shell", "arguments": {"cmd": "ls"}}</tool_call>' in prompt
    assert '"name": "shell"' in prompt.split("</tools>")[0] and "[image]" in prompt
    assert probe(read_gguf_template(base_gguf)[0])[1] is False
