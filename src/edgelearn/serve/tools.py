"""Tools on local models: the one place that renders tools into a prompt and parses calls back.

The format is the Hermes / Qwen2.5 convention that llama.cpp's and Ollama's parsers know, and the
one the tool-learning issue trains on (docs/tools.md describes it with an example):

- the tool schemas go at the end of the system turn, one JSON object a line inside ``<tools>``;
- the model writes each call as ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``,
  and earlier assistant calls in the conversation are rendered the same way after their text;
- ``role: "tool"`` results become a user turn holding ``<tool_response>\\n...\\n</tool_response>``,
  consecutive results sharing one turn, as Qwen2.5's template does (a user turn because most
  chat templates know no ``tool`` role);
- content-part arrays keep their text parts, joined by newlines; an image becomes ``[image]``.

``render_chat`` is a pure function of (messages, tools, tool_choice) to plain-string chat messages;
the model's own chat template then formats them. ``parse_tool_calls`` and ``ToolCallParser``
(streaming) turn output back into OpenAI ``tool_calls``; what does not parse stays text.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any, Callable, Iterable, Iterator

from edgelearn.errors import InvalidInput
from edgelearn.serve.backends import Chunk

OPEN, CLOSE = "<tool_call>", "</tool_call>"

TOOLS_HEADER = (
    "# Tools\n\n"
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n")
TOOLS_FOOTER = (
    "\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>")
PART_PLACEHOLDERS = {"image_url": "[image]", "input_image": "[image]", "image": "[image]",
                     "input_audio": "[audio]", "file": "[file]"}


# --- what is offered ---------------------------------------------------------------------------
def offered_tools(tools: list[dict[str, Any]] | None, tool_choice: Any = None) -> list[dict[str, Any]] | None:
    """The tools to show the model (None for none, or ``tool_choice: "none"``); ``InvalidInput`` if malformed."""
    if not tools:
        return None
    if not isinstance(tools, list):
        raise InvalidInput("tools: a list of function tools", field="tools")
    names = [_tool_name(tool, i) for i, tool in enumerate(tools)]
    if tool_choice in (None, "auto", "none", "required"):
        return None if tool_choice == "none" else tools
    name = _choice_name(tool_choice)
    if name not in names:
        raise InvalidInput(f"tool_choice: function {name!r} is not among the tools ({', '.join(names)})",
                           field="tool_choice")
    return tools


def forced_function(tools: list[dict[str, Any]] | None, tool_choice: Any = None) -> dict[str, Any] | None:
    """The ``function`` object the model must call: the named one, or the only tool under "required"."""
    offered = offered_tools(tools, tool_choice)
    if not offered:
        return None
    if isinstance(tool_choice, dict):
        name = _choice_name(tool_choice)
        return next(t["function"] for t in offered if t["function"]["name"] == name)
    if tool_choice == "required" and len(offered) == 1:
        return offered[0]["function"]
    return None


def call_schema(function: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of one call to ``function`` in the model's format (for grammar-constrained decoding)."""
    parameters = function.get("parameters") or {"type": "object"}
    return {"type": "object", "properties": {"name": {"const": function["name"]}, "arguments": parameters},
            "required": ["name", "arguments"]}


def _tool_name(tool: Any, i: int) -> str:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(tool, dict) or tool.get("type", "function") != "function" or not isinstance(function, dict):
        raise InvalidInput(f'tools.{i}: expected {{"type": "function", "function": {{"name": ...}}}}',
                           field=f"tools.{i}")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"tools.{i}.function.name: a non-empty string", field=f"tools.{i}.function.name")
    if not isinstance(function.get("parameters", {}), dict):
        raise InvalidInput(f"tools.{i}.function.parameters: a JSON Schema object",
                           field=f"tools.{i}.function.parameters")
    return name


def _choice_name(tool_choice: Any) -> str:
    function = tool_choice.get("function") if isinstance(tool_choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise InvalidInput('tool_choice: "auto", "none", "required" or {"type": "function", "function": '
                           f'{{"name": ...}}}}, got {tool_choice!r}', field="tool_choice")
    return name


# --- rendering ---------------------------------------------------------------------------------
TOOL_RESULT_CHARS = 8000  # longest tool result the model sees; training renders through the same cut


def truncate_result(text: str, limit: int = TOOL_RESULT_CHARS) -> str:
    """A tool result cut to at most ``limit`` characters: its head and tail around a marker saying how
    much was cut (an agent's useful output is usually at both ends). Idempotent."""
    if len(text) <= limit:
        return text
    marker = f"\n[... {len(text)} characters, middle cut ...]\n"
    keep = limit - len(marker)
    if keep <= 0:
        return text[:limit]
    head = keep - keep // 3
    return text[:head] + marker + (text[len(text) - (keep - head):] if keep - head else "")


def content_text(content: Any) -> str:
    """A message's content as text: strings as they are, parts' texts joined by newlines, placeholders else."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("text", "input_text", "output_text"):
                texts.append(str(part.get("text") or ""))
            else:
                texts.append(PART_PLACEHOLDERS.get(kind, f"[{kind or 'part'}]"))
        return "\n".join(texts)
    return str(content)


def tools_block(tools: list[dict[str, Any]], tool_choice: Any = None) -> str:
    """The text appended to the system turn: the schemas, the call format, and what ``tool_choice`` asks."""
    block = TOOLS_HEADER + "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools) + TOOLS_FOOTER
    if tool_choice == "required":
        block += "\n\nYou must call at least one function."
    elif isinstance(tool_choice, dict):
        block += f"\n\nYou must call the function {_choice_name(tool_choice)}."
    return block


def render_call(call: dict[str, Any]) -> str:
    """One OpenAI tool call in the model's format (arguments given as JSON text become an object)."""
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            pass  # rendered as the string it is: the model saw what the agent sent
    body = json.dumps({"name": function.get("name", ""), "arguments": arguments if arguments is not None else {}},
                      ensure_ascii=False)
    return f"{OPEN}\n{body}\n{CLOSE}"


def render_chat(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
                tool_choice: Any = None, result_chars: int = TOOL_RESULT_CHARS) -> list[dict[str, str]]:
    """The plain ``{"role", "content"}`` messages the model's chat template formats: tools in the system
    turn, earlier calls and tool results (cut to ``result_chars``) written in the model's format
    (module docstring)."""
    out: list[dict[str, str]] = []
    responses_turn = False  # whether out[-1] is a user turn made of tool responses
    for message in messages:
        role = message.get("role")
        text = content_text(message.get("content"))
        if role == "tool":
            response = f"<tool_response>\n{truncate_result(text, result_chars)}\n</tool_response>"
            if responses_turn:
                out[-1]["content"] += "\n" + response
            else:
                out.append({"role": "user", "content": response})
            responses_turn = True
            continue
        responses_turn = False
        if role == "assistant" and message.get("tool_calls"):
            text = "\n".join(([text] if text else []) + [render_call(c) for c in message["tool_calls"]])
        out.append({"role": "system" if role == "developer" else str(role), "content": text})
    offered = offered_tools(tools, tool_choice)
    if offered:
        block = tools_block(offered, tool_choice)
        if out and out[0]["role"] == "system":
            out[0]["content"] = f"{out[0]['content']}\n\n{block}" if out[0]["content"] else block
        else:
            out.insert(0, {"role": "system", "content": block})
    return out


def native_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a chat template that handles tools itself: text content, call arguments as objects."""
    out = []
    for message in messages:
        item = {**message, "content": content_text(message.get("content"))}
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = dict(call.get("function") or {})
                try:
                    function["arguments"] = json.loads(function.get("arguments") or "{}")
                except (TypeError, ValueError):
                    pass
                calls.append({**call, "function": function})
            item["tool_calls"] = calls
        out.append(item)
    return out


PROBE_TOOL = {"type": "function", "function": {"name": "edgelearn_probe", "description": "probe",
                                               "parameters": {"type": "object", "properties": {}}}}


def template_handles_tools(render: Callable[[list[dict[str, Any]], list[dict[str, Any]]], str]) -> bool:
    """Whether a chat template (``render(messages, tools) -> prompt``) shows tools and asks for ``<tool_call>``
    calls, so its own rendering can be used and the output parsed here. A template that fails says no."""
    try:
        prompt = render([{"role": "user", "content": "hi"}], [PROBE_TOOL])
    except Exception:  # noqa: BLE001 - any template error means "does not handle tools"
        return False
    return "edgelearn_probe" in prompt and OPEN in prompt


# --- parsing -----------------------------------------------------------------------------------
def _call_from(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return None
    arguments = value.get("arguments", {})
    if isinstance(arguments, str):  # some models write the arguments as JSON text already
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": value["name"], "arguments": json.dumps(arguments, ensure_ascii=False)}}


class ToolCallParser:
    """Splits streamed model output into text and whole tool calls.

    Text is held back only while it may be the start of ``<tool_call>`` (and whitespace: what
    surrounds calls is dropped, except one separator where text goes on after them); a call comes out
    as soon as its closing tag arrives. A tagged body that
    is not a call (bad JSON, no name) comes out as the text it was. At the end, an unclosed last call
    whose JSON is whole still counts (small models often stop right before ``</tool_call>``).
    """

    def __init__(self) -> None:
        self.buffer = ""
        self.inside = False
        self.space = ""          # trailing whitespace of the text so far, not yet emitted
        self.after_call = False  # the last thing emitted was a call: leading whitespace is dropped
        self.gap = ""            # the whitespace before those calls, put back if text follows them
        self.texted = False      # whether any text came out yet
        self.calls = 0

    def feed(self, text: str) -> list[str | dict[str, Any]]:
        """Text pieces (str) and calls (dict) that are certain after ``text``."""
        self.buffer += text
        out: list[str | dict[str, Any]] = []
        while self.buffer:
            if not self.inside:
                at = self.buffer.find(OPEN)
                if at < 0:
                    keep = _partial_tag(self.buffer)
                    self._text(self.buffer[:len(self.buffer) - keep], out)
                    self.buffer = self.buffer[len(self.buffer) - keep:]
                    break
                self._text(self.buffer[:at], out)
                self.buffer, self.inside = self.buffer[at:], True
            end = self.buffer.find(CLOSE)
            if end < 0:
                break
            raw, self.buffer, self.inside = self.buffer[:end + len(CLOSE)], self.buffer[end + len(CLOSE):], False
            self._emit(raw, _call_from(raw[len(OPEN):end]), out)
        return out

    def finish(self) -> list[str | dict[str, Any]]:
        """What is left at the end of the output."""
        out: list[str | dict[str, Any]] = []
        raw, self.buffer = self.buffer, ""
        if self.inside:
            self.inside = False
            self._emit(raw, _call_from(raw[len(OPEN):]), out)
        else:
            self._text(raw, out)
        if self.space and not self.after_call:
            out.append(self.space)
        self.space = ""
        return out

    def _emit(self, raw: str, call: dict[str, Any] | None, out: list) -> None:
        if call is None:
            self._text(raw, out)
            return
        if not self.after_call:
            self.gap = self.space
        self.space, self.after_call = "", True
        self.calls += 1
        out.append(call)

    def _text(self, text: str, out: list) -> None:
        if self.after_call:
            text = text.lstrip()
        if not text:
            return
        stripped = text.rstrip()
        if stripped:
            lead = ((self.gap or " ") if self.texted else "") if self.after_call else self.space
            out.append(lead + stripped)
            self.space, self.after_call, self.gap, self.texted = "", False, "", True
        self.space += text[len(stripped):]


def _partial_tag(text: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``<tool_call>``."""
    for n in range(min(len(OPEN) - 1, len(text)), 0, -1):
        if text.endswith(OPEN[:n]):
            return n
    return 0


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """(the text without parsed calls, the calls in OpenAI form) of a whole answer."""
    parser = ToolCallParser()
    items = parser.feed(text) + parser.finish()
    return "".join(i for i in items if isinstance(i, str)), [i for i in items if isinstance(i, dict)]


def parse_chunks(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """A backend's chunks with the calls in their text parsed out: one chunk per call, and
    ``finish_reason: "tool_calls"`` on the last chunk when there was any."""
    parser = ToolCallParser()

    def pieces(items: list[str | dict[str, Any]]) -> Iterator[Chunk]:
        for item in items:
            yield Chunk(item) if isinstance(item, str) else Chunk("", tool_calls=(item,))

    for chunk in chunks:
        yield from pieces(parser.feed(chunk.text))
        if chunk.tool_calls:  # a backend that parsed calls itself
            parser.calls += len(chunk.tool_calls)
            yield Chunk("", tool_calls=chunk.tool_calls)
        if chunk.finish_reason is not None:
            yield from pieces(parser.finish())
            finish = "tool_calls" if parser.calls else chunk.finish_reason
            yield replace(chunk, text="", finish_reason=finish, tool_calls=())
            return
