"""The demo task pack: tasks that need the made-up ``tidekit`` library, and their checker.

``load_pack()`` reads ``data/taskpack/tasks.jsonl`` (built by ``edgelearn.demo.pack_build``).
``check(task, answer_text)`` runs the code in an answer against the task's tests in a separate,
isolated Python process with only the library on its path, and counts the asserts that pass.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

LIBRARY_NAME = "tidekit"

SYSTEM_PROMPT = (
    "You write Python for the Tide project, which uses its own library `tidekit`. "
    "Answer with one ```python code block that defines the requested function, and nothing else."
)

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)

# Runs in the child: compiles the solution, then runs each top-level assert of the tests as its
# own test (other top-level statements are set-up), and prints one JSON line as its last output.
_HARNESS = r'''
import ast, json, sys
sys.path.insert(0, sys.argv[1])
def report(**kw):
    sys.stdout.write("\n" + json.dumps(kw) + "\n")
    sys.stdout.flush()
solution = open(sys.argv[2], encoding="utf-8").read()
tests = open(sys.argv[3], encoding="utf-8").read()
total = sum(isinstance(n, ast.Assert) for n in ast.parse(tests).body)
try:
    code = compile(solution, "solution.py", "exec")
except (SyntaxError, ValueError) as exc:
    report(compiled=False, passed=0, total=total, error=f"{type(exc).__name__}: {exc}")
    sys.exit(0)
ns = {"__name__": "solution"}
try:
    exec(code, ns)
except BaseException as exc:
    report(compiled=True, passed=0, total=total, error=f"{type(exc).__name__}: {exc}")
    sys.exit(0)
passed, first_error = 0, None
for node in ast.parse(tests).body:
    stmt = compile(ast.Module(body=[node], type_ignores=[]), "tests.py", "exec")
    try:
        exec(stmt, ns)
    except BaseException as exc:
        if first_error is None:
            first_error = f"line {node.lineno}: {type(exc).__name__}: {exc}"
        continue
    passed += isinstance(node, ast.Assert)
report(compiled=True, passed=passed, total=total, error=first_error)
'''


@dataclass
class Task:
    """One task of the pack: a prompt, a reference solution and assert-based tests."""

    id: str
    split: str  # "train" or "heldout"
    prompt: str
    entry: str
    reference: str
    tests: str


@dataclass
class CheckResult:
    """The outcome of running one answer against a task's tests."""

    compiled: bool
    passed: int
    total: int
    error: str | None
    duration_s: float

    @property
    def ok(self) -> bool:
        """True when the code compiled and every test passed."""
        return self.compiled and self.total > 0 and self.passed == self.total


def load_pack() -> list[Task]:
    """Return every task of the pack, train and held-out, in id order."""
    source = resources.files("edgelearn") / "data" / "taskpack" / "tasks.jsonl"
    text = source.read_text("utf-8")
    return [Task(**json.loads(line)) for line in text.splitlines() if line.strip()]


def library_dir() -> Path:
    """Return the directory to put on PYTHONPATH so that ``import tidekit`` works."""
    return Path(__file__).resolve().parent.parent / "data" / "taskpack" / "lib"


def extract_code(text: str) -> str:
    """Return the first fenced code block of a model answer, or the whole text if it has none."""
    match = _FENCE.search(text)
    return (match.group(1) if match else text).strip("\n") + "\n"


def check(task: Task, answer_text: str, timeout_s: float = 5.0) -> CheckResult:
    """Run the code in ``answer_text`` against ``task``'s tests and count the passing asserts.

    The code runs in a fresh ``python -I`` process whose only extra import path is the library
    directory, in a temporary directory that is removed afterwards.
    """
    code = extract_code(answer_text)
    total = _count_asserts(task.tests)
    start = time.monotonic()
    try:
        compile(code, "solution.py", "exec")
    except (SyntaxError, ValueError) as exc:
        return CheckResult(False, 0, total, f"{type(exc).__name__}: {exc}", time.monotonic() - start)
    with tempfile.TemporaryDirectory(prefix="edgelearn-check-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "solution.py").write_text(code, encoding="utf-8")
        (tmp_path / "tests.py").write_text(task.tests, encoding="utf-8")
        (tmp_path / "harness.py").write_text(_HARNESS, encoding="utf-8")
        # -I ignores PYTHONPATH and the user site, so the harness puts the library on sys.path
        # itself; the environment is cut down to what a child Python needs.
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8"}
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "harness.py", str(library_dir()), "solution.py", "tests.py"],
                cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return CheckResult(True, 0, total, "timeout", time.monotonic() - start)
    duration = time.monotonic() - start
    lines = proc.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return CheckResult(True, 0, total, tail[0], duration)
    return CheckResult(report["compiled"], report["passed"], report["total"], report["error"], duration)


def _count_asserts(tests: str) -> int:
    try:
        return sum(isinstance(n, ast.Assert) for n in ast.parse(tests).body)
    except SyntaxError:
        return 0
