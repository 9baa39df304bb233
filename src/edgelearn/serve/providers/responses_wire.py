"""OpenAI Responses in, chat completions behind: the ``/v1/responses`` endpoint's translation (the
subset Codex uses), and a Responses answer read back into the run's ``Output``.

Requests: ``instructions``; ``input`` as a string or items (``message`` with roles user, assistant,
system, developer and text parts; ``function_call``; ``function_call_output``; ``reasoning`` items are
accepted and dropped, a local model cannot read them); ``tools`` of type function (other types run
only at OpenAI and are dropped); ``tool_choice``; ``parallel_tool_calls``; ``max_output_tokens``;
``temperature``; ``top_p``; ``stream``. Accepted and not used: ``reasoning``, ``store`` (edgelearn keeps
nothing server-side beyond the run), ``include``, ``text``, ``truncation``, ``metadata``.
``prompt_cache_key`` (Codex's conversation id) gives the session when no header does.
"""

from __future__ import annotations

import time
from typing import Any

from edgelearn.errors import InvalidInput
from edgelearn.serve.providers.record import Output, sse_objects

ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")
TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text"})


# -- request: Responses -> chat completions ------------------------------------------------------
def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidInput(f"{where}: a string or a list of content parts", field=where)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(kind, str) and kind in TEXT_PARTS:  # a list or dict type is unhashable
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise InvalidInput(f"{where}.{j}.image_url: an image URL (file ids are OpenAI's own)",
                                   field=f"{where}.{j}.image_url")
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "refusal":
            parts.append({"type": "text", "text": str(part.get("refusal", ""))})
        else:
            raise InvalidInput(f"{where}.{j}.type: {kind!r} is not a content part edgelearn takes (input_text, "
                               "output_text, input_image)", field=f"{where}.{j}.type")
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _output_text(output: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(output, str):
        return output
    return _content(output, where)


def _items(items: list[Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    calls: set[str] = set()
    for i, item in enumerate(items):
        where = f"input.{i}"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where}: an input item object", field=where)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise InvalidInput(f"{where}.role: {role!r} is not user, assistant, system or developer",
                                   field=f"{where}.role")
            messages.append({"role": role, "content": _content(item.get("content"), f"{where}.content")})
        elif kind == "function_call":
            call_id, name = item.get("call_id"), item.get("name")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
                raise InvalidInput(f"{where}: a function_call needs a call_id and a name", field=where)
            arguments = item.get("arguments")
            call = {"id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments if isinstance(arguments, str) else "{}"}}
            calls.add(call_id)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and isinstance(last.get("content"), (str, type(None))):
                last.setdefault("tool_calls", []).append(call)  # one assistant turn: its text and its calls
                if last.get("content") == "":
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if call_id not in calls:
                raise InvalidInput(f"{where}.call_id: {call_id!r} answers no earlier function_call item",
                                   field=f"{where}.call_id")
            messages.append({"role": "tool", "tool_call_id": call_id,
                             "content": _output_text(item.get("output"), f"{where}.output")})
        elif kind == "reasoning":
            continue
        else:
            raise InvalidInput(f"{where}.type: {kind!r} is not an input item edgelearn takes "
                               f"({', '.join(ITEM_TYPES)})", field=f"{where}.type")
    return messages


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidInput("tools: a list of tools", field="tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidInput(f"tools.{i}: a tool object", field=f"tools.{i}")
        if tool.get("type") != "function":
            continue  # web search, file search, ...: OpenAI's hosted tools
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"tools.{i}.name: required", field=f"tools.{i}.name")
        function: dict[str, Any] = {"name": name,
                                    "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
        for key in ("description", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidInput('tool_choice: "auto", "none", "required" or {"type": "function", "name": ...}',
                       field="tool_choice")


def check_body(data: Any) -> dict[str, Any]:
    """The request as a JSON object with a model and an ``input``."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    model = data.get("model")
    if not isinstance(model, str) or not 1 <= len(model) <= 200:
        raise InvalidInput("model: a model id of 1 to 200 characters is required", field="model")
    if not isinstance(data.get("input"), (str, list)) or not data["input"]:
        raise InvalidInput("input: a string or a non-empty list of items is required", field="input")
    limit = data.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidInput("max_output_tokens: a positive integer", field="max_output_tokens")
    if data.get("previous_response_id"):
        raise InvalidInput("previous_response_id: edgelearn keeps no responses; send the whole input (store: false)",
                           field="previous_response_id")
    return data


def request_to_chat(data: dict[str, Any]) -> dict[str, Any]:
    """A chat completions body for the Responses request ``data`` (``InvalidInput`` naming the field)."""
    check_body(data)
    messages: list[dict[str, Any]] = []
    instructions = data.get("instructions")
    if instructions:
        if not isinstance(instructions, str):
            raise InvalidInput("instructions: a string", field="instructions")
        messages.append({"role": "system", "content": instructions})
    raw = data["input"]
    messages += [{"role": "user", "content": raw}] if isinstance(raw, str) else _items(raw)
    if not messages:
        raise InvalidInput("input: no message to answer", field="input")
    out: dict[str, Any] = {"model": data["model"], "messages": messages}
    if data.get("max_output_tokens") is not None:
        out["max_tokens"] = data["max_output_tokens"]
    for name in ("temperature", "top_p"):
        if data.get(name) is not None:
            out[name] = data[name]
    if data.get("tools"):
        tools = _tools(data["tools"])
        if tools:
            out["tools"] = tools
            if data.get("tool_choice") is not None:
                out["tool_choice"] = _tool_choice(data["tool_choice"])
            if isinstance(data.get("parallel_tool_calls"), bool):
                out["parallel_tool_calls"] = data["parallel_tool_calls"]
    if data.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    session = data.get("prompt_cache_key") or data.get("user")
    if isinstance(session, str) and session:
        out["user"] = session[:200]
    return out


# -- answer: chat completions -> Responses ---------------------------------------------------------
def usage_from_chat(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    p, c = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {"input_tokens": p, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": c,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": p + c}


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []}


def call_item(item_id: str, call: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    function = call.get("function") or {}
    return {"type": "function_call", "id": item_id, "call_id": call.get("id", ""), "name": function.get("name", ""),
            "arguments": function.get("arguments", "") if status == "completed" else "", "status": status}


def response(response_id: str, data: dict[str, Any], output: list[dict[str, Any]], status: str,
             usage: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
             finish: str | None = None) -> dict[str, Any]:
    """A Responses ``response`` object echoing the request's settings."""
    incomplete = {"reason": "max_output_tokens"} if finish == "length" else None
    return {"id": response_id, "object": "response", "created_at": int(time.time()),
            "status": "incomplete" if incomplete and status == "completed" else status, "error": error,
            "incomplete_details": incomplete, "instructions": data.get("instructions"),
            "max_output_tokens": data.get("max_output_tokens"), "model": data.get("model"), "output": output,
            "parallel_tool_calls": data.get("parallel_tool_calls", True), "previous_response_id": None,
            "reasoning": data.get("reasoning"), "store": False, "temperature": data.get("temperature"),
            "text": {"format": {"type": "text"}}, "tool_choice": data.get("tool_choice", "auto"),
            "tools": data.get("tools") or [], "top_p": data.get("top_p"), "truncation": "disabled",
            "usage": usage, "metadata": {}}


def response_from_chat(completion: dict[str, Any], response_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A completed ``response`` for a ``chat.completion`` (its first choice)."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output = []
    if message.get("content"):
        output.append(message_item(f"msg_{response_id[5:]}", message["content"]))
    for n, call in enumerate(message.get("tool_calls") or ()):
        output.append(call_item(f"fc_{response_id[5:]}_{n}", call))
    return response(response_id, data, output, "completed", usage_from_chat(completion.get("usage")),
                    finish=choice.get("finish_reason"))


def output_from_response(body: Any) -> Output:
    """What a run keeps of a Responses ``response`` (passed through from a provider)."""
    out = Output()
    if not isinstance(body, dict):
        return out
    out.model = body.get("model")
    text, reasoning = [], []
    for item in body.get("output") or ():
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message":
            text += [str(p.get("text", "")) for p in item.get("content") or () if p.get("type") == "output_text"]
        elif kind == "function_call":
            out.tool_calls.append({"id": item.get("call_id", ""), "type": "function",
                                   "function": {"name": item.get("name", ""), "arguments": item.get("arguments", "")}})
        elif kind == "reasoning":
            reasoning += [str(p.get("text", "")) for p in item.get("summary") or () if isinstance(p, dict)]
    out.text, out.reasoning = "".join(text), "\n".join(reasoning)
    out.finish_reason = "tool_calls" if out.tool_calls else (
        "length" if (body.get("incomplete_details") or {}).get("reason") == "max_output_tokens" else "stop")
    usage = body.get("usage") or {}
    out.tokens_in, out.tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
    out.cached_tokens = (usage.get("input_tokens_details") or {}).get("cached_tokens")
    return out


def output_from_events(raw: bytes) -> Output:
    """What a run keeps of a relayed Responses stream: the ``response.completed`` (or ``.incomplete``,
    ``.failed``) event's response, else the output items that were done."""
    items: list[dict[str, Any]] = []
    final: dict[str, Any] | None = None
    for data in sse_objects(raw):
        if data.get("type") == "response.output_item.done" and isinstance(data.get("item"), dict):
            items.append(data["item"])
        elif data.get("type") in ("response.completed", "response.incomplete", "response.failed"):
            final = data.get("response")
    if final is not None and not final.get("output") and items:
        final = {**final, "output": items}
    return output_from_response(final if final is not None else {"output": items})
