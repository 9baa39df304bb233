"""``[wire]``: the other wire APIs the gateway speaks (Anthropic Messages, OpenAI Responses,
legacy completions), beside OpenAI chat completions."""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, ConfigDict, Field

from edgelearn.roles import ROLE_PATTERN

ANTHROPIC_DEFAULT_MODEL = "edgelearn/coder"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class AnthropicWire(_Section):
    models: dict[str, str] | None = None
    """/v1/messages: Claude model names (fnmatch patterns) to edgelearn model ids, e.g.
    { "claude-haiku-*" = "edgelearn/helper", "claude-*" = "anthropic/*" }; a * in the id is
    replaced by the requested name."""
    default: str = Field(ANTHROPIC_DEFAULT_MODEL, min_length=1, max_length=200)
    """/v1/messages: the model id for names no pattern matches (ids with a / and base are taken as
    they are)."""

    def model_for(self, requested: str) -> str:
        """The edgelearn model id that answers a request for ``requested``."""
        for pattern, target in (self.models or {}).items():
            if fnmatch.fnmatchcase(requested, pattern):
                return target.replace("*", requested)
        if "/" in requested or requested == "base":
            return requested
        return self.default


class ResponsesWire(_Section):
    providers: list[str] = []
    """/v1/responses: OpenAI-type providers that serve the Responses API themselves (passed
    through); other providers and local models are translated to chat completions."""


class CompletionsWire(_Section):
    role: str = Field("autocomplete", pattern=ROLE_PATTERN)
    """/v1/completions: the role of completion runs (kept apart from chat runs), unless the
    model or the x-edgelearn-role header names one."""


class WireSettings(_Section):
    anthropic: AnthropicWire = AnthropicWire()
    """Anthropic Messages (Claude Code)."""
    responses: ResponsesWire = ResponsesWire()
    """OpenAI Responses (Codex)."""
    completions: CompletionsWire = CompletionsWire()
    """Legacy completions (editor autocomplete, fill-in-the-middle)."""
