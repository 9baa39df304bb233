"""Pydantic models for the public record contract (HTTP bodies and CLI input only)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgelearn.errors import InvalidInput, MalformedJSON
from edgelearn.roles import ROLE_PATTERN


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: Any = None


class RecordIn(_Body):
    """One agent run. Only ``role`` and ``output`` are required; extra fields go in ``metadata``."""

    role: str = Field(pattern=ROLE_PATTERN, description="coder, fixer, judge, or any role name")
    output: str = Field(description="what the model answered")
    task: str | None = Field(None, description="the task in words; embedded for similar-run search")
    model: str | None = Field(None, max_length=200, description="model variant id")
    prompt: str | None = Field(None, max_length=200, description="prompt variant id")
    input: str | list[Message] | None = Field(None, description="prompt text or chat messages")
    session: str | None = Field(None, max_length=200)
    project: str | None = Field(None, max_length=200)
    latency_ms: float | None = Field(None, ge=0)
    tokens_in: int | None = Field(None, ge=0)
    tokens_out: int | None = Field(None, ge=0)
    cost: float | None = Field(None, ge=0)
    status: str = Field("ok", max_length=40, description="ok, error, timeout, ...")
    signals: dict[str, Any] = Field(default_factory=dict, description="compile, tests, errors, human")
    metadata: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = Field(None, pattern=r"^[0-9a-f]{24}$", description="id announced by /v1/select")
    created_at: float | None = Field(None, ge=0, description="unix time, for importing old logs")


class RecordBatchIn(_Body):
    runs: list[RecordIn] = Field(min_length=1, max_length=10_000)


class SignalsIn(_Body):
    signals: dict[str, Any] = Field(min_length=1)
    source: str = Field("api", max_length=80)


class FeedbackIn(_Body):
    kind: str = Field(pattern=r"^(accept|reject|score|thumbs)$")
    value: float | None = Field(None, description="1-5 for score, 1 or -1 for thumbs")
    comment: str | None = Field(None, max_length=4000)

    def signal(self) -> Any:
        """The ``human`` signal this feedback stands for (a run's or a whole session's)."""
        if self.kind in ("accept", "reject"):
            return self.kind
        return {"score": self.value} if self.kind == "score" else {"thumbs": self.value}


def describe_validation(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """An ``InvalidInput`` whose message names the first offending field."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    loc = ".".join(str(p) for p in first["loc"] if p != "__root__")
    field = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or None)
    msg = first["msg"]
    if first.get("type") == "extra_forbidden":
        msg = "unknown field (put extra fields under metadata)"
    if first.get("type") == "json_invalid":
        return MalformedJSON(f"malformed JSON: {first.get('ctx', {}).get('error', msg)}", field=None)
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return InvalidInput(f"{field}: {msg}{more}" if field else f"{msg}{more}", field=field)


def parse_json(model: type[BaseModel], raw: bytes | str) -> Any:
    """Validate a JSON body against ``model``; raises ``InvalidInput`` naming the field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise describe_validation(exc) from exc


class SelectIn(_Body):
    role: str = Field(pattern=ROLE_PATTERN, description="coder, fixer, judge, or any role with arms")
    task: str | None = Field(None, max_length=100_000, description="the task; used when contextual selection is on")
    max_cost_per_1k: float | None = Field(None, ge=0, allow_inf_nan=False,
                                          description="only models at most this dear per 1k tokens")


class RoleIn(_Body):
    role: str = Field(pattern=ROLE_PATTERN)
    reason: str = Field("requested over HTTP", max_length=500)


class ModelIn(_Body):
    model: str = Field(min_length=1, max_length=200)
    reason: str = Field("requested over HTTP", max_length=500)
