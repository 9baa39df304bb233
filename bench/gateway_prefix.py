"""Time to first token of an agent's follow-up call on the embedded model, with and without the prefix cache.

Run: ``PYTHONPATH=src .venv/bin/python bench/gateway_prefix.py [--rounds 3] [--threads 2 1]``. Writes
``bench/results/gateway_prefix.md``, one table per ``--threads`` value.

Two coding agents, each with its own system prompt and the same 14 tool schemas (about 3,000 prompt
tokens a call, like opencode's first request), talk to SmolLM2-135M through ``EmbeddedBackend`` (the
embedded llama.cpp backend, in-process: the engine and HTTP add well under a millisecond). Each round,
in order, timing from the request to the first streamed chunk:

1. agent A's first call, nothing cached (``reset``): the whole prompt is processed;
2. A's follow-up (its first call's messages + a tool call + the tool's result): the KV cache of
   the same loaded model still holds A's prefix;
3. agent B's first call: cold again; before it overwrites A's context, A's is saved;
4. A's second follow-up: A's saved context is restored (``load_state``) instead of processed;
5. B's follow-up with saved contexts turned off: B's prefix was overwritten by step 4, so all of
   it is processed again (what every interleaved call would cost without the saved contexts);
6. A's follow-up after ``reset``: the cost of the same call with no cache at all.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from benchenv import cpu_model

ROOT = Path(__file__).resolve().parent.parent

RULES = [
    "Read a file before you edit it, and never guess at its contents.",
    "Keep changes minimal and focused on the task the user gave; do not refactor unrelated code.",
    "Run the project's tests after every change and report the exact command and its result.",
    "Prefer the project's existing libraries and style over new dependencies.",
    "When a command fails, read its error output completely before trying something else.",
    "Never print or commit secrets, tokens or keys, even when they appear in files you read.",
    "Explain what you changed and why in two or three sentences at the end of your turn.",
    "Use the shell tool for commands, the file tools for reading and writing files.",
    "Ask the user before deleting files, rewriting history, or touching anything outside the repository.",
    "If the request is ambiguous, state your assumption and proceed with the most likely reading.",
]
TOOL_SPECS = [
    ("shell", "Run a shell command in the repository and return its stdout, stderr and exit code.",
     {"command": "The command line to run", "timeout_s": "Seconds before the command is stopped"}),
    ("read_file", "Read a text file, optionally a range of lines.",
     {"path": "Path relative to the repository root", "offset": "First line", "limit": "Most lines"}),
    ("write_file", "Create or overwrite a file with the given content.",
     {"path": "Path relative to the repository root", "content": "The whole new content"}),
    ("edit_file", "Replace an exact string in a file with another; fails when the old string is not unique.",
     {"path": "File to edit", "old_string": "Exact text to replace", "new_string": "Replacement text"}),
    ("grep", "Search file contents with a regular expression and return matching lines with their paths.",
     {"pattern": "Regular expression", "path": "Folder to search", "glob": "Only files matching this glob"}),
    ("glob", "List files whose paths match a glob pattern, newest first.",
     {"pattern": "Glob such as src/**/*.py", "path": "Folder to search from"}),
    ("list_dir", "List a folder's entries with their sizes.", {"path": "Folder", "depth": "How deep"}),
    ("web_fetch", "Fetch a URL and return its text content converted to markdown.",
     {"url": "The URL", "prompt": "What to extract from the page"}),
    ("todo_write", "Replace the task list that tracks progress on multi-step work.",
     {"todos": "The tasks, each with content and status"}),
    ("run_tests", "Run the project's test suite, or one test file, and summarize failures.",
     {"target": "Test file or node id", "verbose": "Show full output"}),
    ("git_diff", "Show the working tree's diff against HEAD or a given revision.",
     {"revision": "Revision to compare against", "path": "Limit to this path"}),
    ("lint", "Run the project's linters on the given files and return their findings.",
     {"paths": "Files to lint", "fix": "Apply safe fixes"}),
    ("ask_user", "Ask the user a question and wait for the answer.",
     {"question": "The question", "options": "Suggested answers"}),
    ("task", "Start a sub-agent on a self-contained task and return its final report.",
     {"description": "Short description", "prompt": "The full instructions for the sub-agent"}),
]
TOOLS = [{"type": "function", "function": {
    "name": name, "description": description,
    "parameters": {"type": "object", "required": [next(iter(params))], "properties": {
        key: {"type": "string", "description": text} for key, text in params.items()}}}}
    for name, description, params in TOOL_SPECS]


def system_prompt(agent: str) -> str:
    sections = []
    for section in range(8):
        rules = "\n".join(f"- {RULES[(section + i) % len(RULES)]}" for i in range(len(RULES)))
        sections.append(f"## {agent} guidelines, part {section + 1}\n{rules}")
    return f"You are {agent}, a coding agent working in the user's repository.\n\n" + "\n\n".join(sections)


def conversation(agent: str, turns: int) -> list[dict]:
    messages = [{"role": "system", "content": system_prompt(agent)},
                {"role": "user", "content": "The date parser fails on ISO weeks; find the bug and fix it."}]
    for turn in range(turns):
        call_id = f"call_{agent[:1].lower()}{turn}"
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [{"id": call_id, "type": "function", "function": {
                "name": "grep", "arguments": f'{{"pattern": "isoweek", "path": "src/part{turn}"}}'}}]},
            {"role": "tool", "tool_call_id": call_id, "content": f"src/part{turn}/dates.py:{40 + turn}: "
                                                                 "def parse_isoweek(text): ..."}]
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gateway_prefix.md")
    args = parser.parse_args()
    import llama_cpp

    lines = [
        "# Prefix cache: time to first token of an agent's follow-up (bench/gateway_prefix.py)",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, llama-cpp-python "
        f"{llama_cpp.__version__}, SmolLM2-135M-Instruct Q4_1 through EmbeddedBackend. The cores are shared with "
        "other work: absolute times are noisy; the six calls of a round run back to back.",
    ]
    for threads in args.threads:
        lines += ["", *run(threads, args.rounds)]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def run(threads: int, rounds: int) -> list[str]:
    """The six calls, ``rounds`` times, with ``threads`` llama.cpp threads; the section's markdown lines."""
    from edgelearn.serve.backends import GenerateRequest, Target
    from edgelearn.serve.base import default_base_gguf
    from edgelearn.serve.llamacpp import EmbeddedBackend

    backend = EmbeddedBackend(n_threads=threads, n_ctx=0)
    target = Target("base", model_path=str(default_base_gguf()))
    loaded = backend._get(target)
    llm, prefixes = loaded.llm, loaded.prefixes

    def request(agent: str, turns: int) -> GenerateRequest:
        return GenerateRequest(messages=conversation(agent, turns), tools=TOOLS, max_tokens=4, temperature=0.0)

    skipped: list[int] = []
    prepare = prefixes.prepare

    def counting_prepare(llm_, tokens):  # how much of each prompt llama.cpp did not process again
        skipped.append(prepare(llm_, tokens))
        return skipped[-1]

    prefixes.prepare = counting_prepare
    processed: dict[str, list[int]] = {}

    def ttft(req: GenerateRequest, label: str) -> float:
        started = time.perf_counter()
        for chunk in backend.stream(target, req):
            first = time.perf_counter() - started
            break
        else:
            raise RuntimeError("no chunk")
        processed.setdefault(label, []).append(len(backend.prompt_tokens(loaded, target, req)) - skipped[-1])
        return first * 1000

    sizes = {name: len(backend.prompt_tokens(loaded, target, request(agent, turns)))
             for name, agent, turns in (("A1", "Alpha", 0), ("A2", "Alpha", 1), ("A3", "Alpha", 2),
                                        ("B1", "Beta", 0), ("B2", "Beta", 1))}
    labels = ["1. A's first call, nothing cached", "2. A's follow-up, same loaded model (KV prefix reused)",
              "3. B's first call (A's context saved first)", "4. A's follow-up after B, saved context restored",
              "5. B's follow-up after A, saved contexts off", "6. A's follow-up, nothing cached (reset)"]
    times: dict[str, list[float]] = {label: [] for label in labels}
    load_before = os.getloadavg()
    started = time.perf_counter()
    for round_ in range(rounds):
        llm.reset()
        prefixes.clear()
        prefixes.capacity_bytes = backend.prefix_cache_bytes
        times[labels[0]].append(ttft(request("Alpha", 0), labels[0]))
        times[labels[1]].append(ttft(request("Alpha", 1), labels[1]))
        times[labels[2]].append(ttft(request("Beta", 0), labels[2]))
        restores = prefixes.restores
        times[labels[3]].append(ttft(request("Alpha", 2), labels[3]))
        assert prefixes.restores == restores + 1, "A's context was not restored"
        prefixes.capacity_bytes = 0
        times[labels[4]].append(ttft(request("Beta", 1), labels[4]))
        llm.reset()
        times[labels[5]].append(ttft(request("Alpha", 1), labels[5]))
        print(f"threads {threads}, round {round_ + 1}: " + ", ".join(f"{v[-1]:.0f}" for v in times.values()), flush=True)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()
    state_mb = llm.save_state().llama_state_size / 1e6
    backend.close()

    lines = [
        f"## n_threads={threads}, n_ctx={loaded.n_ctx}",
        "",
        f"{rounds} rounds in {elapsed:.0f} s. Load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {' '.join(f'{x:.2f}' for x in load_after)}.",
        "",
        "Prompt tokens per call (14 tool schemas + an 8-section system prompt, rendered by serve/tools.py): "
        + ", ".join(f"{k} {v}" for k, v in sizes.items()) + f". A saved context of about {sizes['A3']} tokens "
        f"is {state_mb:.0f} MB.",
        "",
        "| call | prompt tokens processed | TTFT median ms | min | max |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, values in times.items():
        lines.append(f"| {label} | {max(processed[label])} | {statistics.median(values):.0f} | {min(values):.0f} "
                     f"| {max(values):.0f} |")
    cold, warm, restored = (statistics.median(times[labels[i]]) for i in (5, 1, 3))
    return lines + ["", f"The follow-up's time to first token: {cold:.0f} ms with nothing cached, {warm:.0f} ms when the "
              f"loaded model still holds the agent's prefix ({cold / warm:.0f}x less), {restored:.0f} ms when "
              f"another agent came between and the saved context was restored ({cold / restored:.0f}x less)."]


if __name__ == "__main__":
    main()
