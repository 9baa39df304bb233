"""The configured providers of one runtime: ``<provider>/<model>`` ids, the shared HTTP client, and
the provider models ``GET /v1/models`` lists (from ``models``, else fetched once and cached)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from edgelearn.serve.providers.client import auth_headers
from edgelearn.serve.providers.config import ProviderSettings
from edgelearn.serve.providers.http import Pool

log = logging.getLogger(__name__)
MODELS_TIMEOUT_S = 5.0
RETRY_MODELS_S = 60.0


@dataclass(frozen=True)
class Pinned:
    """A model id that names a provider model."""

    provider: str
    model: str  # what the provider receives
    settings: ProviderSettings


def split(model_id: str, providers: dict[str, ProviderSettings]) -> Pinned | None:
    """``teacher/big`` -> the provider ``teacher`` and model ``big``; None when no provider is named."""
    name, slash, model = model_id.partition("/")
    settings = providers.get(name) if slash and model else None
    return Pinned(name, model, settings) if settings is not None else None


def cost(settings: ProviderSettings, model: str, tokens_in: int | None, tokens_out: int | None) -> float | None:
    """The price of one call from the provider's ``prices`` (None when the model has none)."""
    price = settings.prices.get(model)
    if price is None or tokens_in is None:
        return None
    return (tokens_in * price.input + (tokens_out or 0) * price.output) / 1_000_000


class Providers:
    """The "providers" service: one keep-alive connection pool shared by every provider call."""

    def __init__(self, settings: Callable[[], Any]) -> None:
        self._settings = settings
        self._pool: Pool | None = None
        self._models: dict[str, list[str]] = {}
        self._failed: dict[str, float] = {}

    @property
    def configured(self) -> dict[str, ProviderSettings]:
        return self._settings().providers

    def pinned(self, model_id: str) -> Pinned | None:
        return split(model_id, self.configured)

    def pool(self) -> Pool:
        """The shared pool, made on first use (on the serving loop); up to the largest
        ``max_connections`` of the providers per origin."""
        if self._pool is None:
            self._pool = Pool(max(10, *(p.max_connections for p in self.configured.values()), 10))
        return self._pool

    async def models(self) -> list[tuple[str, str]]:
        """(provider, model) for every provider: its ``models``, else its ``/models`` fetched once."""
        out: list[tuple[str, str]] = []
        for name, settings in self.configured.items():
            if settings.models:
                out += [(name, m) for m in settings.models]
                continue
            if name not in self._models:
                if time.monotonic() - self._failed.get(name, float("-inf")) < RETRY_MODELS_S:
                    continue
                fetched = await self._fetch_models(name, settings)
                if fetched is None:
                    self._failed[name] = time.monotonic()  # asked again later, not on every listing
                    continue
                self._models[name] = fetched
            out += [(name, m) for m in self._models[name]]
        return out

    async def _fetch_models(self, name: str, settings: ProviderSettings) -> list[str] | None:
        path = "/v1/models" if settings.type == "anthropic" else "/models"
        try:
            headers = auth_headers(name, settings)
            response = await self.pool().request("GET", settings.base_url + path, headers, b"", MODELS_TIMEOUT_S,
                                                 MODELS_TIMEOUT_S)
            body = await response.aread()
            if response.status_code >= 400:
                raise ValueError(f"status {response.status_code}")
            return [m["id"] for m in orjson.loads(body).get("data", []) if isinstance(m, dict) and "id" in m]
        except Exception as exc:  # noqa: BLE001 - a provider without a model list lists nothing
            log.warning("provider %s: listing its models failed: %s", name, type(exc).__name__)
            return None

    def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            asyncio.get_running_loop().create_task(pool.aclose())
        except RuntimeError:  # no loop any more: the sockets close with the process
            pass
