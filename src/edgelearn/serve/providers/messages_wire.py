"""Anthropic Messages in, OpenAI chat completions behind: the ``/v1/messages`` endpoint's translation
for local models and OpenAI-type providers (the other direction of serve/providers/anthropic.py).

Requests: ``system`` (a string or text blocks, and ``role: "system"`` entries inside ``messages``,
which Claude Code sends), text, image, tool_use, tool_result and thinking blocks, tools with
``input_schema``, ``tool_choice``, ``max_tokens``, ``stop_sequences``, ``temperature``, ``top_p``,
``stream``. Thinking blocks of earlier turns are dropped: chat completions has no field for them.
Accepted and not used: ``thinking``, ``context_management``, ``output_config``,
``top_k``, ``service_tier``, ``cache_control`` on blocks. ``metadata.user_id`` gives the session:
Claude Code sends it as a JSON string holding ``session_id``.

Answers: a ``chat.completion`` becomes a ``message``; a stream is serve/providers/messages_stream.py.
"""

from __future__ import annotations

from typing import Any

import orjson

from edgelearn.errors import InvalidInput

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}
IGNORED_BLOCKS = frozenset({"redacted_thinking"})  # opaque to any model but Anthropic's


# -- request: Anthropic -> OpenAI --------------------------------------------------------------
def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise InvalidInput(f"{where}.{j}: only text blocks are allowed here", field=f"{where}.{j}")
            parts.append(str(block.get("text", "")))
        return "\n\n".join(parts)
    if content is None:
        return ""
    raise InvalidInput(f"{where}: a string or a list of text blocks", field=where)


def _source(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source")
    return source if isinstance(source, dict) else {}


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = _source(block)
    if source.get("type") == "base64":
        return {"type": "image_url", "image_url": {"url": f"data:{source.get('media_type', 'image/png')};base64,"
                                                         f"{source.get('data', '')}"}}
    if source.get("type") == "url":
        return {"type": "image_url", "image_url": {"url": source.get("url", "")}}
    raise InvalidInput(f"{where}.source: an image source of type base64 or url", field=f"{where}.source")


def _result_content(block: dict[str, Any], where: str) -> str | list[dict[str, Any]]:
    content = block.get("content")
    if content is None or isinstance(content, str):
        text: Any = content or ""
    elif isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                parts.append({"type": "text", "text": str(part.get("text", ""))})
            elif kind == "image":
                parts.append(_image(part, f"{where}.content.{j}"))
            else:
                raise InvalidInput(f"{where}.content.{j}: a tool result holds text or image blocks",
                                   field=f"{where}.content.{j}")
        text = parts if any(p["type"] != "text" for p in parts) else "\n\n".join(p["text"] for p in parts)
    else:
        raise InvalidInput(f"{where}.content: a string or a list of blocks", field=f"{where}.content")
    if block.get("is_error") and isinstance(text, str):
        text = f"Error: {text}"  # OpenAI's tool message has no error flag: the model still learns it failed
    return text


def _user(message: dict[str, Any], where: str, calls: set[str]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise InvalidInput(f"{where}.content: a string or a list of blocks", field=f"{where}.content")
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            call_id = block.get("tool_use_id")
            if call_id not in calls:
                raise InvalidInput(f"{at}.tool_use_id: {call_id!r} answers no tool_use block of an earlier "
                                   "assistant message", field=f"{at}.tool_use_id")
            results.append({"role": "tool", "tool_call_id": call_id, "content": _result_content(block, at)})
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "document" and _source(block).get("type") == "text":
            parts.append({"type": "text", "text": str(_source(block).get("data", ""))})
        elif isinstance(kind, str) and kind in IGNORED_BLOCKS:  # a list or dict type is unhashable
            continue
        else:
            raise InvalidInput(f"{at}.type: {kind!r} is not a block a user message can hold here (text, image, "
                               "tool_result)", field=f"{at}.type")
    out = list(results)  # tool results first: OpenAI wants them right after the assistant's calls
    if parts:
        text_only = all(p["type"] == "text" for p in parts)
        out.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts) if text_only else parts})
    return out


def _assistant(message: dict[str, Any], where: str, calls: set[str]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise InvalidInput(f"{where}.content: a string or a list of blocks", field=f"{where}.content")
    text, tool_calls = [], []
    for j, block in enumerate(content):
        at = f"{where}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text.append(str(block.get("text", "")))
        elif kind == "thinking":
            # not sent on: chat completions has no field for earlier reasoning, and some servers
            # refuse one (DeepSeek answers 400 to reasoning_content in its input)
            continue
        elif kind == "tool_use":
            call_id, name = block.get("id"), block.get("name")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
                raise InvalidInput(f"{at}: a tool_use block needs an id and a name", field=at)
            calls.add(call_id)
            tool_calls.append({"id": call_id, "type": "function",
                               "function": {"name": name, "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        elif isinstance(kind, str) and kind in IGNORED_BLOCKS:  # a list or dict type is unhashable
            continue
        else:
            raise InvalidInput(f"{at}.type: {kind!r} is not a block an assistant message can hold here (text, "
                               "thinking, tool_use)", field=f"{at}.type")
    out: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not tool_calls else None}
    if tool_calls:
        out["tool_calls"] = tool_calls
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidInput("tools: a list of tools", field="tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidInput(f"tools.{i}: a tool object", field=f"tools.{i}")
        if tool.get("type") not in (None, "custom"):
            continue  # Anthropic's server tools (web search, ...) run only at Anthropic
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"tools.{i}.name: required", field=f"tools.{i}.name")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise InvalidInput(f"tools.{i}.input_schema: a JSON schema object is required",
                               field=f"tools.{i}.input_schema")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> tuple[Any, bool | None]:
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "none", "tool"):
        raise InvalidInput('tool_choice: {"type": "auto" | "any" | "none" | "tool", ...}', field="tool_choice")
    kind = choice["type"]
    parallel = False if choice.get("disable_parallel_tool_use") else None
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise InvalidInput("tool_choice.name: required with type tool", field="tool_choice.name")
        return {"type": "function", "function": {"name": choice["name"]}}, parallel
    return {"auto": "auto", "any": "required", "none": "none"}[kind], parallel


def session_of(metadata: Any) -> str | None:
    """The session in ``metadata.user_id``: Claude Code's JSON string's ``session_id``, else the string."""
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user, str) or not user:
        return None
    if user.startswith("{"):
        try:
            parsed = orjson.loads(user)
        except orjson.JSONDecodeError:
            return user
        session = parsed.get("session_id") if isinstance(parsed, dict) else None
        return session if isinstance(session, str) and session else user
    return user


def check_body(data: Any) -> dict[str, Any]:
    """The request as a JSON object with a model, a positive ``max_tokens`` and a non-empty ``messages``."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    model = data.get("model")
    if not isinstance(model, str) or not 1 <= len(model) <= 200:
        raise InvalidInput("model: a model name of 1 to 200 characters is required", field="model")
    max_tokens = data.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidInput("max_tokens: a positive integer is required", field="max_tokens")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise InvalidInput("messages: a non-empty list of message objects is required", field="messages")
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        raise InvalidInput("metadata: an object", field="metadata")
    return data


def request_to_openai(data: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat completions body for the Anthropic Messages request ``data``, for ``model``
    (``InvalidInput`` naming the field for what cannot be translated)."""
    check_body(data)
    messages: list[dict[str, Any]] = []
    if data.get("system") is not None:
        system = _text_of(data["system"], "system")
        if system:
            messages.append({"role": "system", "content": system})
    calls: set[str] = set()
    for i, message in enumerate(data["messages"]):
        role = message.get("role")
        where = f"messages.{i}"
        if role == "user":
            messages += _user(message, where, calls)
        elif role == "assistant":
            messages.append(_assistant(message, where, calls))
        elif role == "system":  # Claude Code puts some of its instructions here
            messages.append({"role": "system", "content": _text_of(message.get("content"), f"{where}.content")})
        else:
            raise InvalidInput(f"{where}.role: {role!r} is not user or assistant", field=f"{where}.role")
    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": data["max_tokens"]}
    for name in ("temperature", "top_p"):
        if data.get(name) is not None:
            out[name] = data[name]
    stop = data.get("stop_sequences")
    if stop:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise InvalidInput("stop_sequences: a list of strings", field="stop_sequences")
        out["stop"] = stop
    if data.get("tools"):
        tools = _tools(data["tools"])
        if tools:
            out["tools"] = tools
            if data.get("tool_choice") is not None:
                out["tool_choice"], parallel = _tool_choice(data["tool_choice"])
                if parallel is not None:
                    out["parallel_tool_calls"] = parallel
    if data.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    session = session_of(data.get("metadata"))
    if session:
        out["user"] = session[:200]
    return out


# -- answer: OpenAI -> Anthropic -----------------------------------------------------------------
def _input(arguments: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"_arguments": arguments}  # kept, not lost: a tool_use input is an object
    return value if isinstance(value, dict) else {"_arguments": value}


def usage_from_openai(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {"input_tokens": (usage.get("prompt_tokens") or 0) - cached, "output_tokens": usage.get("completion_tokens") or 0,
            "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0}


def message_from_openai(completion: dict[str, Any], message_id: str, model: str) -> dict[str, Any]:
    """An Anthropic ``message`` for an OpenAI ``chat.completion`` (its first choice)."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    blocks: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if message.get("content"):
        blocks.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append({"type": "tool_use", "id": call.get("id", ""), "name": function.get("name", ""),
                       "input": _input(function.get("arguments"))})
    return {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": blocks,
            "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"), "stop_sequence": None,
            "usage": usage_from_openai(completion.get("usage"))}


def error_body(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    """Anthropic's error shape."""
    return {"type": "error", "error": {"type": kind, "message": message}}


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 422: "invalid_request_error",
               429: "rate_limit_error", 529: "overloaded_error"}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error")
