"""Turning tool output into signals: exit codes, JUnit XML, lint counts.

    run_command(cmd, cwd, timeout)  -> CommandResult
    parse_junit(path)               -> (passed, total)
    count_lint_issues(output)       -> int
    signals_from_commands(...)      -> {"compile": bool, "tests": {...}, "errors": n}
"""

from edgelearn.signals.tools import (CommandResult, count_lint_issues, parse_junit, run_command,
                                     signals_from_commands)

__all__ = ["CommandResult", "count_lint_issues", "parse_junit", "run_command", "signals_from_commands"]
