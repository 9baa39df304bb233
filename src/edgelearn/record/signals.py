"""Running compile, test and lint commands and reading what they report."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgelearn.errors import InvalidInput

# path:line[:col]: message — the shape of ruff, flake8, mypy, pylint, eslint (unix), gcc, tsc --pretty false
_LINT_LINE = re.compile(r"^\s*[^\s:][^:]*:\d+(?::\d+)?:?\s+\S", re.MULTILINE)


@dataclass
class CommandResult:
    cmd: str
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def run_command(cmd: str, cwd: str | Path | None = None, timeout: float = 300.0,
                env: dict[str, str] | None = None) -> CommandResult:
    """Run a shell command; a timeout kills its whole process group and reports exit code 124."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, shell=True, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return CommandResult(cmd, proc.returncode, out, err, time.monotonic() - start)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        return CommandResult(cmd, 124, out or "", (err or "") + f"\ntimed out after {timeout:g}s",
                             time.monotonic() - start, timed_out=True)


def parse_junit(path: str | Path) -> tuple[int, int]:
    """(passed, total) from a JUnit XML report (pytest, jest-junit, surefire, go-junit-report)."""
    try:
        root = ET.parse(str(path)).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable JUnit XML report: {exc}", field="junit") from exc
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    total = failed = skipped = 0
    for suite in suites:
        cases = list(suite.iter("testcase"))
        if cases:
            for case in cases:
                total += 1
                if case.find("failure") is not None or case.find("error") is not None:
                    failed += 1
                elif case.find("skipped") is not None:
                    skipped += 1
        else:
            total += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    counted = total - skipped
    return max(counted - failed, 0), counted


def count_lint_issues(output: str) -> int:
    """Lines shaped like ``path:line[:col]: message`` in a linter's or type checker's output."""
    return len(_LINT_LINE.findall(output))


def _uses_pytest(cmd: str) -> bool:
    try:
        words = shlex.split(cmd)
    except ValueError:
        return False
    return any(Path(w).name in ("pytest", "py.test") or w == "pytest" for w in words[:4])


def signals_from_commands(*, compile_cmd: str | None = None, test_cmd: str | None = None,
                          lint_cmd: str | None = None, junit: str | Path | None = None,
                          cwd: str | Path | None = None, timeout: float = 300.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the given commands; returns (signals, details for metadata).

    tests: passed/total from JUnit XML when the runner writes one (``junit``, or a temporary
    ``--junitxml`` added to a pytest command); otherwise 1/1 or 0/1 from the exit status.
    errors: the count of ``path:line: message`` lines, or 1 when the linter failed silently.
    """
    signals: dict[str, Any] = {}
    details: dict[str, Any] = {}
    if compile_cmd:
        res = run_command(compile_cmd, cwd, timeout)
        signals["compile"] = res.ok
        details["compile"] = {"cmd": compile_cmd, "exit_code": res.exit_code, "duration_s": round(res.duration_s, 3)}
    if test_cmd:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(junit) if junit else None
            cmd = test_cmd
            if report is None and _uses_pytest(test_cmd):
                report = Path(tmp) / "junit.xml"
                cmd = f"{test_cmd} --junitxml={shlex.quote(str(report))}"
            res = run_command(cmd, cwd, timeout)
            if report is not None and report.exists():
                passed, total = parse_junit(report)
            else:
                passed, total = (1, 1) if res.ok else (0, 1)
            if total == 0:
                passed, total = (1, 1) if res.ok else (0, 1)
        signals["tests"] = {"passed": passed, "total": total}
        details["tests"] = {"cmd": test_cmd, "exit_code": res.exit_code, "passed": passed, "total": total,
                            "duration_s": round(res.duration_s, 3)}
    if lint_cmd:
        res = run_command(lint_cmd, cwd, timeout)
        n = count_lint_issues(res.stdout + "\n" + res.stderr)
        if n == 0 and not res.ok:
            n = 1
        signals["errors"] = n
        details["lint"] = {"cmd": lint_cmd, "exit_code": res.exit_code, "issues": n}
    return signals, details
