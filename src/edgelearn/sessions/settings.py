"""The ``[sessions]`` and ``[watch]`` sections of the settings (``edgelearn.config`` includes them).

They live here, beside the code that reads them, and share the settings' conventions: unknown
keys are refused and every field has a one-line docstring.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class SessionSettings(_Section):
    credit: Literal["session", "last_run"] = "session"
    """Runs an outcome applies to: every run of the session recorded before it arrived, or only the last."""
    max_output_bytes: int = Field(1_048_576, ge=1024)
    """Largest command output (stdout, stderr, error) a hook payload may carry; larger ones are refused."""
    review_budget: int = Field(20, ge=0)
    """Sessions the review queue offers per day (verdicts given today count against it)."""
    failure_below: float = Field(0.5, ge=0, le=1)
    """A session whose reward is below this failed (failure patterns, review priority)."""


class WatchSettings(_Section):
    paths: list[str] = []
    """Repositories watched for JUnit XML, SARIF and .pytest_cache results; empty turns the watcher off."""
    debounce_s: float = Field(1.0, gt=0)
    """Quiet time after a result file's last change before it is read."""
