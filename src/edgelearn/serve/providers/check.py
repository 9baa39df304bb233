"""Checking a provider from the command line (``edgelearn providers --check``, ``edgelearn doctor``):
reachable, key present, key accepted. Nothing printed or returned holds the key."""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from edgelearn.config_providers import ProviderSettings
from edgelearn.serve.providers.client import ProviderError, auth_headers


@dataclass
class ProviderCheck:
    name: str
    status: str  # ok | warn | fail
    detail: str
    models: list[str]


def key_state(settings: ProviderSettings) -> str:
    """``NAME (set)``, ``NAME (NOT SET)`` or ``none``: the variable's name, never its value."""
    if not settings.api_key_env:
        return "none"
    return f"{settings.api_key_env} ({'set' if os.environ.get(settings.api_key_env) else 'NOT SET'})"


def check_provider(name: str, settings: ProviderSettings, timeout: float = 5.0) -> ProviderCheck:
    """List the provider's models with its key: reachable, key present, auth accepted."""
    try:
        headers = auth_headers(name, settings)
    except ProviderError as exc:
        return ProviderCheck(name, "fail", str(exc), [])
    path = "/v1/models" if settings.type == "anthropic" else "/models"
    try:
        response = httpx.get(settings.base_url + path, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return ProviderCheck(name, "fail", f"{settings.base_url}: unreachable ({type(exc).__name__})", [])
    if response.status_code in (401, 403):
        return ProviderCheck(name, "fail", f"{settings.base_url}: the key in {settings.api_key_env} was refused "
                                           f"({response.status_code})", [])
    if response.status_code >= 400:
        return ProviderCheck(name, "warn", f"{settings.base_url}: reachable, {path} answered {response.status_code} "
                                           "(the key is checked on the first call)", [])
    try:
        models = [m["id"] for m in response.json().get("data", []) if isinstance(m, dict) and "id" in m]
    except (ValueError, AttributeError):
        models = []
    auth = "key accepted" if settings.api_key_env else "no key"
    return ProviderCheck(name, "ok", f"{settings.base_url}: reachable, {auth}, {len(models)} models", models)
