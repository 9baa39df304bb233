"""Each agent's own hook payload → one ``HookEvent`` (docs/sessions.md, "Agent hooks").

    claude-code  HTTP hooks: PostToolUse / PostToolUseFailure of Bash → tests, compile or errors;
                 PostToolUse of Edit / Write / MultiEdit → the lines written (for the git hook);
                 Stop / SessionEnd close the session (code.claude.com/docs/en/hooks)
    codex        the ``notify`` program's ``agent-turn-complete`` JSON: the turn ends the session
    cline        hook JSON: postToolUse of execute_command → signals, of write_to_file /
                 replace_in_file → the lines written; TaskComplete / TaskCancel close
    continue     dev-data events POSTed to a ``data:`` destination: autocomplete, chatFeedback,
                 editOutcome and toolUsage → human verdicts (and errors) on the matching runs
    command      a command ``edgelearn hooks run`` ran for an agent (Aider's --test-cmd / --lint-cmd)

The payload models are the edge: they refuse a payload of another agent with a 422 naming the
field it lacks, and command output over ``sessions.max_output_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgelearn.errors import InvalidInput, MalformedJSON
from edgelearn.record.schemas import describe_validation
from edgelearn.sessions.commands import signals_from_command
from edgelearn.sessions.edits import absolute, edit_lines, file_at_head, search_replace

AGENTS = ("claude-code", "codex", "cline", "continue", "command")


@dataclass
class RunVerdict:
    """A signal for one run the payload names by its text (Continue)."""

    prompt: str | None
    completion: str | None
    signals: dict[str, Any]
    tool_call_id: str | None = None


@dataclass
class HookEvent:
    agent: str
    event: str
    session_id: str | None = None
    project: str | None = None
    signals: dict[str, Any] = field(default_factory=dict)
    close: str | None = None  # the reason, when the event ends the session
    feedback: str | None = None  # accept | reject for the whole session
    runs: list[RunVerdict] = field(default_factory=list)
    command: str | None = None
    edits: list[tuple[str, list[str]]] = field(default_factory=list)  # (absolute path, lines written)
    fallback: list[RunVerdict] = field(default_factory=list)  # instead of ``feedback`` for an unknown session


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ClaudeCodeHook(_Payload):
    session_id: str = Field(min_length=1, max_length=200)
    hook_event_name: str = Field(min_length=1, max_length=80)
    cwd: str | None = None
    tool_name: str | None = None
    tool_input: dict[str, Any] | None = None
    tool_response: Any = None
    error: str | None = None
    reason: str | None = None


class CodexNotify(_Payload):
    type: str = Field(max_length=80)
    thread_id: str = Field(alias="thread-id", min_length=1, max_length=200)
    turn_id: str | None = Field(None, alias="turn-id")
    cwd: str | None = None
    input_messages: list[Any] = Field(default_factory=list, alias="input-messages")
    last_assistant_message: str | None = Field(None, alias="last-assistant-message")


class ClineHook(_Payload):
    taskId: str = Field(min_length=1, max_length=200)
    hookName: str | None = None
    workspacePath: str | None = None
    workspaceRoots: list[str] | None = None
    postToolUse: dict[str, Any] | None = None
    taskComplete: dict[str, Any] | None = None
    taskCancel: dict[str, Any] | None = None


class CommandResult(_Payload):
    """What ``edgelearn hooks run`` reports of a command it ran for an agent (Aider's test-cmd)."""

    session_id: str = Field(min_length=1, max_length=200)
    command: str = Field(min_length=1, max_length=10_000)
    exit_code: int
    output: str = ""
    cwd: str | None = None
    agent: str = Field("aider", max_length=80)


class ContinueEvent(_Payload):
    name: str = Field(min_length=1, max_length=80)
    data: dict[str, Any]
    schema_: str | None = Field(None, alias="schema")


_SHAPES = {"claude-code": ("session_id", "hook_event_name"), "codex": ("thread-id",), "cline": ("taskId",),
           "continue": ("name", "data"), "command": ("session_id", "command", "exit_code")}


def _guess(payload: dict[str, Any]) -> str | None:
    for agent, keys in _SHAPES.items():
        if all(k in payload for k in keys):
            return agent
    return None


def _model(model: type[BaseModel], agent: str, payload: dict[str, Any]) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        err = describe_validation(exc)
        other = _guess(payload)
        hint = f"; it looks like a {other} payload: POST it to /v1/hooks/{other}" if other and other != agent else ""
        raise InvalidInput(f"not a {agent} hook payload: {err}{hint}", field=err.field) from exc


def _limit(text: Any, field: str, max_bytes: int) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    if len(text) > max_bytes or len(text.encode("utf-8", "replace")) > max_bytes:
        raise InvalidInput(f"{field}: {len(text.encode('utf-8', 'replace'))} bytes of output is over the limit of "
                           f"{max_bytes} (sessions.max_output_bytes)", field=field)
    return text


def claude_code(payload: dict[str, Any], max_bytes: int) -> HookEvent:
    """A Claude Code hook (any event; only Bash results, Stop and SessionEnd carry outcomes)."""
    hook = _model(ClaudeCodeHook, "claude-code", payload)
    ev = HookEvent("claude-code", hook.hook_event_name, hook.session_id, hook.cwd)
    name = hook.hook_event_name
    if name in ("PostToolUse", "PostToolUseFailure") and hook.tool_name == "Bash":
        command = str((hook.tool_input or {}).get("command") or "")
        resp = hook.tool_response
        if isinstance(resp, dict):
            out = _limit(resp.get("stdout"), "tool_response.stdout", max_bytes) + "\n" + \
                _limit(resp.get("stderr"), "tool_response.stderr", max_bytes)
            interrupted = bool(resp.get("interrupted"))
        else:
            out, interrupted = _limit(resp, "tool_response", max_bytes), False
        if name == "PostToolUseFailure":
            out += "\n" + _limit(hook.error, "error", max_bytes)
        ok = name == "PostToolUse" and not interrupted
        ev.command = command
        ev.signals = signals_from_command(command, out, ok, hook.cwd)
    elif name == "PostToolUse" and hook.tool_name in ("Edit", "Write", "MultiEdit"):
        ti = hook.tool_input or {}
        path = absolute(ti.get("file_path"), hook.cwd)
        if hook.tool_name == "Write":
            resp = hook.tool_response if isinstance(hook.tool_response, dict) else {}
            before = resp.get("originalFile")
            pairs = [(file_at_head(path) if before is None and path else before, ti.get("content"))]
        elif hook.tool_name == "Edit":
            pairs = [(ti.get("old_string"), ti.get("new_string"))]
        else:
            pairs = [(e.get("old_string"), e.get("new_string")) for e in ti.get("edits") or [] if isinstance(e, dict)]
        ev.edits = edit_lines(path, [(_limit(b, "tool_input", max_bytes), _limit(a, "tool_input", max_bytes))
                                     for b, a in pairs])
    elif name in ("Stop", "SessionEnd"):
        ev.close = hook.reason or name
    return ev


def codex(payload: dict[str, Any], max_bytes: int) -> HookEvent:
    """Codex's ``notify`` JSON: an ``agent-turn-complete`` ends the turn's session; other types pass."""
    note = _model(CodexNotify, "codex", payload)
    _limit(note.last_assistant_message, "last-assistant-message", max_bytes)
    ev = HookEvent("codex", note.type, note.thread_id, note.cwd)
    if note.type == "agent-turn-complete":
        ev.close = "agent-turn-complete"
    return ev


def cline(payload: dict[str, Any], max_bytes: int) -> HookEvent:
    """A Cline hook: postToolUse of ``execute_command`` → signals; TaskComplete / TaskCancel close."""
    hook = _model(ClineHook, "cline", payload)
    project = hook.workspacePath or (hook.workspaceRoots[0] if hook.workspaceRoots else None)
    post = hook.postToolUse
    name = hook.hookName or ("PostToolUse" if post is not None else "TaskComplete" if hook.taskComplete is not None
                             else "TaskCancel" if hook.taskCancel is not None else "other")
    ev = HookEvent("cline", name, hook.taskId, project)
    if post is not None:
        tool = post.get("tool") or post.get("toolName")  # the docs' field; `toolName` in older releases
        if tool == "execute_command":
            command = str((post.get("parameters") or {}).get("command") or "")
            out = _limit(post.get("result"), "postToolUse.result", max_bytes)
            ev.command = command
            ev.signals = signals_from_command(command, out, bool(post.get("success")), project)
        elif tool in ("write_to_file", "replace_in_file") and post.get("success"):
            params = post.get("parameters") or {}
            path = absolute(params.get("path"), project)
            field = "postToolUse.parameters"
            if tool == "write_to_file":
                pairs = [(file_at_head(path) if path else None, params.get("content"))]
            else:
                pairs = search_replace(_limit(params.get("diff"), f"{field}.diff", max_bytes))
            ev.edits = edit_lines(path, [(_limit(b, field, max_bytes), _limit(a, field, max_bytes)) for b, a in pairs])
    elif name in ("TaskComplete", "TaskCancel"):
        ev.close = name
    return ev


def continue_dev(payload: dict[str, Any], max_bytes: int) -> HookEvent:
    """A Continue dev-data event (``{name, data, schema, level, profileId}``)."""
    event = _model(ContinueEvent, "continue", payload)
    d = event.data
    ev = HookEvent("continue", event.name)
    if event.name == "autocomplete" and "accepted" in d:
        ev.runs.append(RunVerdict(_text(d.get("prompt"), "data.prompt", max_bytes),
                                  _text(d.get("completion"), "data.completion", max_bytes),
                                  {"human": "accept" if d["accepted"] else "reject"}))
    elif event.name == "chatFeedback" and d.get("feedback") is not None:
        verdict = "accept" if d["feedback"] in (True, "up", "good", 1) else "reject"
        by_text = RunVerdict(_text(d.get("prompt"), "data.prompt", max_bytes),
                             _text(d.get("completion"), "data.completion", max_bytes), {"human": verdict})
        ev.session_id = d.get("sessionId")
        if ev.session_id is not None:
            ev.feedback = verdict
            ev.fallback = [by_text]  # when edgelearn does not know Continue's chat session
        else:
            ev.runs.append(by_text)
    elif event.name == "editOutcome" and "accepted" in d:
        ev.runs.append(RunVerdict(None, _text(d.get("newCode"), "data.newCode", max_bytes),
                                  {"human": "accept" if d["accepted"] else "reject"}))
    elif event.name == "toolUsage" and d.get("toolCallId"):
        signals: dict[str, Any] = {"human": "accept" if d.get("accepted") else "reject"}
        if d.get("accepted") and "succeeded" in d:
            signals["errors"] = 0 if d["succeeded"] else 1
        ev.runs.append(RunVerdict(None, None, signals, tool_call_id=str(d["toolCallId"])))
    return ev


def command(payload: dict[str, Any], max_bytes: int) -> HookEvent:
    """A command ``edgelearn hooks run`` ran (e.g. as Aider's ``--test-cmd``): its signals."""
    res = _model(CommandResult, "command", payload)
    out = _limit(res.output, "output", max_bytes)
    ev = HookEvent(res.agent, "command", res.session_id, res.cwd, command=res.command)
    ev.signals = signals_from_command(res.command, out, res.exit_code == 0, res.cwd)
    return ev


def _text(value: Any, field: str, max_bytes: int) -> str | None:
    return None if value is None else _limit(value, field, max_bytes)


PARSERS = {"claude-code": claude_code, "codex": codex, "cline": cline, "continue": continue_dev,
           "command": command}


def parse(agent: str, body: bytes | dict[str, Any], max_bytes: int) -> HookEvent:
    """The ``HookEvent`` of an agent's payload; ``InvalidInput`` naming what is wrong with it."""
    parser = PARSERS.get(agent)
    if parser is None:
        raise InvalidInput(f"agent: unknown agent {agent!r}; expected one of {', '.join(AGENTS)}", field="agent")
    if isinstance(body, (bytes, str)):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedJSON(f"malformed JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidInput(f"a {agent} hook payload is a JSON object, got {type(body).__name__}", field=None)
    return parser(body, max_bytes)
