"""What a shell command an agent ran says about its work: test, build and lint commands → signals.

``classify`` names a command's kind from its words; ``signals_from_command`` reads its output:

    tests    passed / total from the runner's summary line (pytest, jest / vitest / mocha under
             npm test, go test, cargo test), or from the JUnit XML the command wrote; a test
             command whose output has no summary counts 1/1 or 0/1 by its success
    compile  a build command's success (cargo build, go build, tsc, npm run build, make, ...)
    errors   a linter's ``path:line: message`` lines (at least 1 when it failed silently)
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from edgelearn.errors import InvalidInput
from edgelearn.record.signals import count_lint_issues, parse_junit

_SEP = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

_TEST = (("pytest",), ("py.test",), ("python", "-m", "pytest"), ("python3", "-m", "pytest"), ("uv", "run", "pytest"),
         ("npm", "test"), ("npm", "run", "test"), ("npm", "t"), ("yarn", "test"), ("pnpm", "test"), ("npx", "jest"),
         ("jest",), ("npx", "vitest"), ("vitest",), ("go", "test"), ("cargo", "test"), ("cargo", "nextest"),
         ("tox",), ("make", "test"), ("python", "-m", "unittest"), ("mvn", "test"), ("gradle", "test"))
_BUILD = (("cargo", "build"), ("cargo", "check"), ("go", "build"), ("tsc",), ("npx", "tsc"), ("npm", "run", "build"),
          ("yarn", "build"), ("pnpm", "build"), ("make",), ("python", "-m", "compileall"), ("mvn", "compile"),
          ("gradle", "build"), ("cmake", "--build"))
_LINT = (("ruff",), ("flake8",), ("mypy",), ("pylint",), ("pyright",), ("eslint",), ("npx", "eslint"),
         ("npm", "run", "lint"), ("yarn", "lint"), ("golangci-lint",), ("go", "vet"), ("cargo", "clippy"),
         ("python", "-m", "mypy"), ("uv", "run", "ruff"), ("uv", "run", "mypy"))

_PYTEST = re.compile(r"(?:^|[=\s])(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")
_PYTEST_LINE = re.compile(r"^[=\s]*(?:\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)"
                          r"(?:, )?)+.* in [\d.]+s", re.MULTILINE)
_JEST = re.compile(r"^Tests:\s+(.*\d+ total)", re.MULTILINE)
_VITEST = re.compile(r"^\s*Tests\s+(.*)\((\d+)\)\s*$", re.MULTILINE)
_MOCHA_PASS = re.compile(r"^\s*(\d+) passing\b", re.MULTILINE)
_MOCHA_FAIL = re.compile(r"^\s*(\d+) failing\b", re.MULTILINE)
_CARGO = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed;", re.MULTILINE)
_GO_CASE = re.compile(r"^\s*--- (PASS|FAIL): ", re.MULTILINE)
_GO_PKG = re.compile(r"^(ok|FAIL)\s+\S+", re.MULTILINE)
_JUNIT_ARG = re.compile(r"--junit-?xml[= ](\S+)")


def _words(part: str) -> list[str]:
    try:
        words = shlex.split(part)
    except ValueError:
        words = part.split()
    while words and (_ENV.match(words[0]) or words[0] in ("time", "env", "sudo", "exec")):
        words = words[1:]
    if words:
        words[0] = Path(words[0]).name
    return words


def _matches(words: list[str], table: tuple[tuple[str, ...], ...]) -> bool:
    return any(tuple(words[:len(prefix)]) == prefix for prefix in table)


def classify(command: str) -> str | None:
    """``"tests"``, ``"compile"`` or ``"errors"`` for a test, build or lint command (the first such
    part of a ``&&`` / ``;`` chain), None for any other command."""
    for part in _SEP.split(command.strip()):
        words = _words(part)
        if not words or words[0] == "cd":
            continue
        if _matches(words, _TEST):
            return "tests"
        if _matches(words, _LINT):
            return "errors"
        if _matches(words, _BUILD):
            return "compile"
    return None


def parse_test_summary(output: str) -> tuple[int, int] | None:
    """(passed, total) from a test runner's summary in its output; None when there is none.
    Skipped tests count in neither."""
    found = _CARGO.findall(output)
    if found:  # one line per test binary
        passed = sum(int(p) for p, _ in found)
        return passed, passed + sum(int(f) for _, f in found)
    m = _JEST.search(output)
    if m:
        counts = dict((k, int(n)) for n, k in re.findall(r"(\d+) (\w+)", m.group(1)))
        return counts.get("passed", 0), counts.get("total", 0) - counts.get("skipped", 0) - counts.get("todo", 0)
    m = _VITEST.search(output)
    if m:
        counts = dict((k, int(n)) for n, k in re.findall(r"(\d+) (\w+)", m.group(1)))
        return counts.get("passed", 0), counts.get("passed", 0) + counts.get("failed", 0)
    lines = _PYTEST_LINE.findall(output)
    if lines:
        counts: dict[str, int] = {}
        for n, kind in _PYTEST.findall(lines[-1]):
            counts[kind.rstrip("s") if kind.startswith("error") else kind] = int(n)
        passed = counts.get("passed", 0) + counts.get("xfailed", 0)
        return passed, passed + counts.get("failed", 0) + counts.get("error", 0) + counts.get("xpassed", 0)
    passing, failing = _MOCHA_PASS.search(output), _MOCHA_FAIL.search(output)
    if passing or failing:
        p, f = int(passing.group(1)) if passing else 0, int(failing.group(1)) if failing else 0
        return p, p + f
    cases = _GO_CASE.findall(output)
    if cases:
        return cases.count("PASS"), len(cases)
    pkgs = _GO_PKG.findall(output)
    if pkgs:  # without -v: one line per package
        return pkgs.count("ok"), len(pkgs)
    return None


def _junit_report(command: str, cwd: str | None) -> Path | None:
    m = _JUNIT_ARG.search(command)
    if not m:
        return None
    path = Path(m.group(1).strip("'\""))
    if not path.is_absolute() and cwd:
        path = Path(cwd) / path
    return path if path.is_file() else None


def signals_from_command(command: str, output: str, ok: bool, cwd: str | None = None) -> dict[str, Any]:
    """The signals a finished command gives (empty for a command that is no test, build or lint)."""
    kind = classify(command)
    if kind == "tests":
        counts = None
        report = _junit_report(command, cwd)
        if report is not None:
            try:
                counts = parse_junit(report)
            except InvalidInput:
                counts = None  # a report cut short: the summary line still tells
        if counts is None or counts[1] == 0:
            counts = parse_test_summary(output)
        if counts is None or counts[1] <= 0:
            counts = (1, 1) if ok else (0, 1)
        return {"tests": {"passed": counts[0], "total": counts[1]}}
    if kind == "compile":
        return {"compile": ok}
    if kind == "errors":
        n = count_lint_issues(output)
        return {"errors": n if n or ok else 1}
    return {}
