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
    teacher: str | None = None
    """``<provider>/<model>``: the paid model ``edgelearn/<role>`` starts on; the independence levels
    move its traffic to the local champion cluster by cluster (docs/independence.md)."""

    @field_validator("teacher")
    @classmethod
    def _teacher_names_a_provider_model(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name, slash, model = value.partition("/")
        if not slash or not model or not PROVIDER_NAME.match(name) or name in RESERVED_NAMES:
            raise ValueError(f"{value!r}: a teacher is a provider model, \"<provider>/<model>\" "
                             "(a [providers.<name>] section)")
        return value


def check_providers(providers: dict[str, ProviderSettings]) -> dict[str, ProviderSettings]:
    """Provider names usable as model-id prefixes; raises ValueError naming the bad one."""
    for name in providers:
        if not PROVIDER_NAME.match(name) or name in RESERVED_NAMES:
            raise ValueError(f"{name!r}: a provider name is letters, digits, '_', '.', '-' "
                             f"and not one of {', '.join(sorted(RESERVED_NAMES))}")
    return providers


Providers = Annotated[dict[str, ProviderSettings], AfterValidator(check_providers)]
Roles = dict[str, RoleSettings]


# commented examples that `edgelearn config defaults` writes (config/edgelearn.toml)
EXAMPLE_TOML = {
    "providers": '''# ---- providers: Model providers behind the gateway; a model id <provider>/<model> pins one.
# type: "openai" (any OpenAI-compatible server) or "anthropic"; base_url as the type's SDK takes it;
# api_key_env: the NAME of the variable holding the key (read at call time, never stored).
# Optional: headers, timeout_s (600), max_retries (2), backoff_s (0.5), max_connections (100),
# models (else fetched from the provider's /models), prices per million tokens per model.
#
# [providers.openai]
# type = "openai"
# base_url = "https://api.openai.com/v1"
# api_key_env = "OPENAI_API_KEY"
# models = ["gpt-4.1-mini", "gpt-4.1"]
# [providers.openai.prices."gpt-4.1-mini"]
# input = 0.4
# output = 1.6
#
# [providers.openrouter]
# type = "openai"
# base_url = "https://openrouter.ai/api/v1"
# api_key_env = "OPENROUTER_API_KEY"
# headers = { "HTTP-Referer" = "https://github.com/edgelearn", "X-Title" = "edgelearn" }
#
# [providers.anthropic]
# type = "anthropic"
# base_url = "https://api.anthropic.com"
# api_key_env = "ANTHROPIC_API_KEY"
# models = ["claude-sonnet-4-5"]
#
# [providers.vllm]
# type = "openai"
# base_url = "http://gpu-box.local:8000/v1"
# api_key_env = "VLLM_API_KEY"
# timeout_s = 120
#
# [providers.ollama-box]
# type = "openai"
# base_url = "http://127.0.0.1:11434/v1"
# (no key; "ollama/<name>" stays the built-in route to the local Ollama)''',
    "roles": '''# ---- roles: Per-role gateway settings.
#
# [roles.coder]
# Let the bandit's prompt variant rewrite this role's proxied requests (off: agents keep their prompts).
# apply_prompt_variants = false
# The paid model edgelearn/coder starts on (a provider model); the independence levels move its
# traffic to the local champion as it proves itself (docs/independence.md).
# teacher = "openai/gpt-4.1-mini"''',
}
