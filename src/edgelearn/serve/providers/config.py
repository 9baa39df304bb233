"""``[providers.<name>]`` and ``[roles.<role>]``: the gateway's settings, checked when the config loads.

A bad provider (unknown ``type``, a malformed ``base_url``, a key variable that is not set) is a
``ConfigError`` naming the provider and the key: exit 2 at start, refused on hot reload.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# provider names become model-id prefixes: no "/" and none of the built-in prefixes
PROVIDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED_NAMES = frozenset({"edgelearn", "ollama", "external", "base"})


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: float = Field(0.0, ge=0)
    """Price per million input (prompt) tokens."""
    output: float = Field(0.0, ge=0)
    """Price per million output (completion) tokens."""


class ProviderSettings(BaseModel):
    """One model provider: an OpenAI-compatible server or Anthropic's API."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    type: Literal["openai", "anthropic"]
    """"openai" for any OpenAI-compatible server (OpenAI, OpenRouter, vLLM, llama.cpp, LM Studio,
    Ollama's /v1), or "anthropic"."""
    base_url: str
    """As the type's official SDK takes it: https://api.openai.com/v1, https://api.anthropic.com."""
    api_key_env: str | None = None
    """The NAME of the environment variable holding the key (read at call time, never stored)."""
    headers: dict[str, str] = {}
    """Extra headers sent with every request (e.g. OpenRouter's HTTP-Referer)."""
    timeout_s: float = Field(600.0, gt=0)
    """Seconds to wait for a connection, the response and each streamed read."""
    max_retries: int = Field(2, ge=0, le=10)
    """Retries on 429, 5xx, connection errors and timeouts, while nothing reached the client."""
    backoff_s: float = Field(0.5, ge=0)
    """First retry delay; doubled each retry, with jitter (a Retry-After header wins)."""
    max_connections: int = Field(100, ge=1)
    """Connections kept to this provider (added to the shared client's pool limit)."""
    models: list[str] = []
    """Model ids listed in /v1/models; empty: fetched once from the provider's /models."""
    prices: dict[str, Price] = {}
    """Per model: price per million input and output tokens, for the runs' cost column."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"base_url {value!r} is not an http(s) URL like https://api.openai.com/v1")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _key_present(cls, value: str | None) -> str | None:
        if value is not None and not os.environ.get(value):
            raise ValueError(f"api_key_env: the environment variable {value} is not set")
        return value


class RoleSettings(BaseModel):
    """Per-role gateway behaviour (``[roles.<role>]``)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    apply_prompt_variants: bool = False
    """Let the bandit's prompt variant rewrite this role's proxied requests (changes the agent's
    system prompt behind its back, so off by default)."""


def check_providers(providers: dict[str, ProviderSettings]) -> dict[str, ProviderSettings]:
    """Provider names usable as model-id prefixes; raises ValueError naming the bad one."""
    for name in providers:
        if not PROVIDER_NAME.match(name) or name in RESERVED_NAMES:
            raise ValueError(f"{name!r}: a provider name is letters, digits, '_', '.', '-' "
                             f"and not one of {', '.join(sorted(RESERVED_NAMES))}")
    return providers


Providers = Annotated[dict[str, ProviderSettings], AfterValidator(check_providers)]
Roles = dict[str, RoleSettings]
