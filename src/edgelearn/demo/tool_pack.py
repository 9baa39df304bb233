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


def _tool(name: str, description: str, *params: str) -> dict[str, Any]:
    # no parameter descriptions: every example carries these schemas, and shorter prompts train faster
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in params}, "required": list(params)}}}


TOOLS = [
    _tool("qk_test", "Run a test suite of quill", "suite"),
    _tool("qk_read", "Read a file of quill", "path"),
    _tool("qk_ticket", "File a ticket", "queue", "title"),
    _tool("qk_ship", "Deploy a quill service", "target"),
]

# (train phrasings, held-out phrasings) per convention; {x} is the name, {t} a ticket title. A held-out
# phrasing shares no sentence with a train one: the adapter must learn the convention, not the wording.
PHRASINGS = {
    "test": (("Run the {x} tests.", "Run the tests of the {x} component.", "Check that {x} still passes its tests.",
              "Please test {x}.", "Execute the {x} test suite.", "Are the {x} tests green?",
              "Test the {x} component for me.", "Make sure {x} passes its tests.", "Start a test run for {x}.",
              "I changed {x}, run its tests to be safe.", "Do the {x} tests still pass after my edit?",
              "Give {x} a full test run before I merge."),
             ("Could you kick off the test suite for {x}?", "Verify {x} with its unit tests, please.")),
    "read": (("Show me the {x} module.", "Open the code of {x}.", "Read the {x} module for me.",
              "Let me see how {x} is implemented.", "Print the source of {x}.",
              "What does the code of {x} look like?", "Open {x} so I can review it.",
              "Display the implementation of {x}.", "Fetch the {x} code.",
              "I want to understand {x}, show me its code.", "Bring up the main file of {x}.",
              "Before I change {x}, let me read it."),
             ("I need to look at the source of the {x} module.", "Pull up the {x} code, I want to read it.")),
    "bug": (("File a bug: {t}", "Report a bug: {t}", "Open a bug ticket: {t}", "Log this defect: {t}",
             "This is broken, ticket it: {t}", "Bug report please: {t}", "Track this regression: {t}",
             "Users hit an error, file it: {t}", "Put this crash in the bug queue: {t}",
             "We found a defect, record it: {t}", "This misbehaves, write it up: {t}",
             "Note this glitch for the team: {t}", "Open an issue for this bug: {t}",
             "Customers report a failure, file a bug: {t}", "Add this defect to the bug tracker: {t}",
             "QA found a problem, file it: {t}"),
            ("Something is broken, please log it as a bug: {t}", "Please raise an issue for this fault: {t}")),
    "feature": (("Request a feature: {t}", "File a feature request: {t}", "Open a feature ticket: {t}",
                 "Ticket this enhancement: {t}", "We want something new, file it: {t}",
                 "Add this idea to the backlog: {t}", "Suggest an improvement: {t}",
                 "Customers are asking for this addition, ticket it: {t}",
                 "Propose this for a future release: {t}", "It would be nice to have this, write it up: {t}",
                 "Record this product idea: {t}", "Plan this enhancement for later: {t}", "Draft a feature ticket: {t}",
                 "This would make the product better, file it: {t}", "Queue this new feature: {t}",
                 "Capture this enhancement idea: {t}"),
                ("We would like this new capability, ticket it: {t}", "Could you log a wish for the roadmap: {t}")),
    "stage": (("Deploy {x} to staging.", "Ship {x} to staging.", "Put {x} on staging.",
               "Release {x} to the staging servers.", "Try {x} out on stg.", "Move {x} to staging.",
               "Stage {x}.", "Deploy {x} for testing on staging.", "Push {x} to staging.", "Send {x} to stg.",
               "Install the latest {x} on staging.", "Update {x} on the staging cluster.",
               "I want to test {x} before customers see it, stage it.", "Bring {x} up on staging for a trial.",
               "Can you put the new build of {x} on stg?", "Deploy {x}, staging only, not production."),
              ("Roll {x} out to the staging environment.", "Get {x} onto staging so QA can try it.")),
    "prod": (("Deploy {x} to production.", "Ship {x} to production.", "Release {x} to production.",
              "Put {x} live.", "Go live with {x}.", "Deploy {x} to prod.", "Send {x} to the production servers.",
              "Roll {x} out to customers.", "Update {x} in production.", "Install the latest {x} on prd.",
              "Promote {x} from staging to production.", "Customers need the fix in {x}, ship it to prod.",
              "Publish {x} to the live servers.", "Release the current {x} to prod.",
              "Bring the new build of {x} to production.", "Deploy {x} to the production cluster."),
             ("Push {x} live in production.", "Make the new {x} available to all users in prod.")),
}
_COMPONENTS = ("lexer", "parser", "cache", "router", "ledger", "mailer", "planner", "indexer", "scheduler",
               "renderer", "storage", "search")
# stage and prod name different services, each once: the adapter must copy the name, not recall it
_STAGED = ("gateway", "worker", "notifier", "scheduler", "frontend", "api", "crawler", "reporter", "dispatcher",
           "mailroom", "ingest", "exporter", "summarizer", "deduplicator", "feedbuilder", "pdfmaker")
_SHIPPED = ("auth", "webhooks", "backup", "analytics", "checkout", "catalog", "chat", "ratelimiter", "pricing",
            "importer", "tracker", "wiki", "shortener", "watermarker", "emailer", "forecaster")
NAMES = {  # (train names, held-out names never seen in training)
    "test": (_COMPONENTS, ("tokenizer", "billing", "profiler", "sync")),
    "read": (_COMPONENTS, ("uploader", "metrics", "archiver", "locale")),
    "bug": (("login page crashes on empty password", "export drops the last row", "search ignores accents",
             "dates shown in the wrong timezone", "the logout button does nothing", "emails are sent twice",
             "the sidebar overlaps the footer on mobile", "saving a draft loses the tags",
             "the password reset link expires at once", "charts render blank in Firefox",
             "pagination skips page 2", "the import wizard hangs on large files",
             "the settings page forgets the language", "notifications arrive an hour late",
             "the cart total ignores discounts", "links in emails point to localhost"),
            ("upload stalls at 99 percent", "avatars fail to load on Safari", "the totals row shows NaN")),
    "feature": (("dark mode for the dashboard", "export to CSV", "keyboard shortcuts in the editor",
                 "single sign-on with GitHub", "bulk delete in the file list", "a weekly summary email",
                 "a public status page", "custom colors per project",
                 "a mobile app for tablets", "comments on pull requests", "a calendar view of deadlines",
                 "sharing boards with guests", "drag and drop to reorder tasks", "an offline mode for the app",
                 "emoji reactions on comments", "saved searches in the sidebar"),
                ("webhooks for new releases", "two-factor authentication", "an audit log of admin actions")),
    "stage": (_STAGED, ("thumbnailer", "transcoder", "geocoder")),
    "prod": (_SHIPPED, ("payments", "invoicer", "resizer")),
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


def heldout_words() -> list[str]:
    """Every word of the held-out requests, lowercased: copy augmentation never swaps one in
    (``train.copy_exclude``), so the held-out names stay unseen in training."""
    return sorted({w.strip(".,:;?!").lower() for t in load_tool_pack() if t.split == "heldout" for w in t.prompt.split()})


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
