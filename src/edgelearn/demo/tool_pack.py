"""The task pack's tool-use family: the made-up repository ``quill`` and its four house tools.

Each task is one user request to a coding agent working in quill; the answer is one tool call whose
right name and arguments follow a house convention the base model cannot know:

    qk_test(suite)           the tests of a component: suite "qk-<component>"
    qk_read(path)            a module's code: path "src/quill/<module>/core.py"
    qk_ticket(queue, title)  a bug goes to queue "QB", a feature request to "QF"; the title as asked
    qk_ship(target)          deploy a service: target "<service>@stg" (staging) or "<service>@prd" (production)

The train split teaches each convention with some names and phrasings; every held-out task uses a
name never seen in training AND a phrasing never seen in training. ``python -m edgelearn.demo.pack_build``
writes ``data/taskpack/tools.jsonl`` with the code tasks; the output is deterministic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

TOOL_SYSTEM_PROMPT = "You are the coding agent of the quill repository. Answer with one call to a quill tool."


def _tool(name: str, description: str, **params: str) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {p: {"type": "string", "description": d}
                                                        for p, d in params.items()},
                       "required": list(params)}}}


TOOLS = [
    _tool("qk_test", "Run a test suite of quill", suite="the suite"),
    _tool("qk_read", "Read a file of quill", path="the file's path"),
    _tool("qk_ticket", "File a ticket", queue="the queue", title="the ticket's title"),
    _tool("qk_ship", "Deploy a quill service", target="the deploy target"),
]

# (train phrasings, held-out phrasings) per convention; {x} is the name, {t} a ticket title
PHRASINGS = {
    "test": (("Run the {x} tests.", "Run the tests of the {x} component.", "Check that {x} still passes its tests.",
              "Please test {x}."),
             ("Could you kick off the test suite for {x}?",)),
    "read": (("Show me the {x} module.", "Open the code of {x}.", "Read the {x} module for me.",
              "Let me see how {x} is implemented."),
             ("I need to look at the source of the {x} module.",)),
    "bug": (("File a bug: {t}", "Report a bug: {t}", "Open a bug ticket: {t}"),
            ("Something is broken, please log it as a bug: {t}",)),
    "feature": (("Request a feature: {t}", "File a feature request: {t}", "Open a feature ticket: {t}"),
                ("We would like this new capability, ticket it: {t}",)),
    "stage": (("Deploy {x} to staging.", "Ship {x} to staging.", "Put {x} on staging."),
              ("Roll {x} out to the staging environment.",)),
    "prod": (("Deploy {x} to production.", "Ship {x} to production.", "Release {x} to production."),
             ("Push {x} live in production.",)),
}
NAMES = {  # (train names, held-out names never seen in training)
    "test": (("lexer", "parser", "cache", "router", "ledger", "mailer", "planner", "indexer"), ("tokenizer", "billing")),
    "read": (("lexer", "parser", "cache", "router", "ledger", "mailer", "planner", "indexer"), ("uploader", "metrics")),
    "bug": (("login page crashes on empty password", "export drops the last row", "search ignores accents",
             "dates shown in the wrong timezone"), ("upload stalls at 99 percent",)),
    "feature": (("dark mode for the dashboard", "export to CSV", "keyboard shortcuts in the editor"),
                ("webhooks for new releases",)),
    "stage": (("gateway", "worker", "notifier", "scheduler"), ("thumbnailer",)),
    "prod": (("gateway", "worker", "notifier"), ("payments",)),
}


def _call(convention: str, name: str) -> dict[str, Any]:
    if convention == "test":
        return {"name": "qk_test", "arguments": {"suite": f"qk-{name}"}}
    if convention == "read":
        return {"name": "qk_read", "arguments": {"path": f"src/quill/{name}/core.py"}}
    if convention in ("bug", "feature"):
        return {"name": "qk_ticket", "arguments": {"queue": "QB" if convention == "bug" else "QF", "title": name}}
    return {"name": "qk_ship", "arguments": {"target": f"{name}@{'stg' if convention == 'stage' else 'prd'}"}}


def build_tool_tasks() -> list[dict[str, Any]]:
    """Every tool task, in id order: each train name with the train phrasings in turn, then each
    held-out name with a held-out phrasing."""
    tasks: list[dict[str, Any]] = []
    for convention, (train_phrasings, held_phrasings) in PHRASINGS.items():
        train_names, held_names = NAMES[convention]
        rows = [("train", train_phrasings[i % len(train_phrasings)], n) for i, n in enumerate(train_names)]
        rows += [("heldout", held_phrasings[i % len(held_phrasings)], n) for i, n in enumerate(held_names)]
        for split, phrasing, name in rows:
            tasks.append({"id": f"tl-{len(tasks) + 1:03d}", "split": split, "convention": convention,
                          "prompt": phrasing.format(x=name, t=name), "expected": _call(convention, name)})
    return tasks


@dataclass
class ToolTask:
    """One tool-use task: the request, and the call that answers it (name, arguments)."""

    id: str
    split: str  # "train" or "heldout"
    convention: str
    prompt: str
    expected: dict[str, Any]

    def messages(self) -> list[dict[str, str]]:
        """The agent's request: the house system prompt and the task."""
        return [{"role": "system", "content": TOOL_SYSTEM_PROMPT}, {"role": "user", "content": self.prompt}]

    def reference(self) -> str:
        """The teacher's answer, as a model writes a call (the gateway parses it into ``tool_calls``)."""
        return f"<tool_call>\n{json.dumps(self.expected)}\n</tool_call>"


def load_tool_pack() -> list[ToolTask]:
    """Every tool task of the pack, train and held-out, in id order."""
    source = resources.files("edgelearn") / "data" / "taskpack" / "tools.jsonl"
    return [ToolTask(**json.loads(line)) for line in source.read_text("utf-8").splitlines() if line.strip()]


def check_calls(task: ToolTask, calls: list[dict[str, Any]]) -> bool:
    """Whether the answer is exactly the task's call: one call, the right tool, equal JSON arguments."""
    if len(calls) != 1:
        return False
    function = calls[0].get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "null")
    except ValueError:
        return False
    return function.get("name") == task.expected["name"] and arguments == task.expected["arguments"]
