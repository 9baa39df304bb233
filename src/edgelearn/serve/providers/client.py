"""One upstream call with retries, and the error the gateway turns into 502/504.

Retried: 429, 5xx, connection errors and timeouts, up to ``max_retries``, with exponential backoff,
jitter and the provider's ``Retry-After``. Only before anything reached the client: a stream is
handed over once its first bytes have arrived, and is never retried after that.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from dataclasses import dataclass, field
from typing import AsyncIterator

from edgelearn.config_providers import ProviderSettings
from edgelearn.errors import BackendError
from edgelearn.serve.providers.http import HTTPError, Pool, Response, Timeout

ANTHROPIC_VERSION = "2023-06-01"
MAX_RETRY_AFTER_S = 30.0  # a provider asking for a longer wait gets a 502 now rather than a hung agent


class ProviderError(BackendError):
    """A provider failed after its retries (``upstream_status`` None: unreachable; ``timeout``: timed out).

    The message names the provider and the upstream status, never the key."""

    def __init__(self, message: str, provider: str, upstream_status: int | None = None, timeout: bool = False,
                 attempts: int = 1) -> None:
        super().__init__(message)
        self.provider = provider
        self.upstream_status = upstream_status
        self.timeout = timeout
        self.attempts = attempts


@dataclass
class Upstream:
    """A provider's answer: a success, or a 4xx to pass through (``response.status_code``)."""

    response: Response
    attempts: int
    started: float                 # perf_counter at the first attempt
    first_at: float | None = None  # perf_counter when the first body bytes arrived
    first: bytes = b""             # a stream's first bytes, already read
    pieces: AsyncIterator[bytes] | None = field(default=None, repr=False)  # the rest of a stream


def auth_headers(name: str, settings: ProviderSettings) -> dict[str, str]:
    """The request headers for ``settings``, the key read from its variable now (never kept)."""
    headers = {"content-type": "application/json"}
    key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
    if settings.api_key_env and not key:
        raise ProviderError(f"provider {name!r}: the environment variable {settings.api_key_env} is not set",
                            provider=name)
    if settings.type == "anthropic":
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if key:
            headers["x-api-key"] = key
    elif key:
        headers["authorization"] = f"Bearer {key}"
    headers.update(settings.headers)
    if any("\r" in v or "\n" in v for v in headers.values()):  # a header line may not be split
        raise ProviderError(f"provider {name!r}: a header value holds a line break", provider=name)
    return headers


def retry_delay(settings: ProviderSettings, attempt: int, retry_after: str | None) -> float | None:
    """Seconds before retry ``attempt`` (1-based); None when the provider asks for too long a wait."""
    if retry_after:
        try:
            wait = float(retry_after)
        except ValueError:
            when = email.utils.parsedate_to_datetime(retry_after) if retry_after.strip() else None
            wait = when.timestamp() - time.time() if when else 0.0
        return max(0.0, wait) if wait <= MAX_RETRY_AFTER_S else None
    return settings.backoff_s * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


async def send(pool: Pool, name: str, settings: ProviderSettings, path: str, body: bytes,
               stream: bool, extra_headers: dict[str, str] | None = None) -> Upstream:
    """POST ``body`` to ``base_url + path``, retrying what may be retried; a plain answer is read
    whole, a stream up to its first bytes. ``extra_headers`` (a client's ``anthropic-version``, ...)
    go on top of the provider's. Raises ``ProviderError`` when the retries run out."""
    url = settings.base_url + path
    headers = auth_headers(name, settings)
    if extra_headers:
        if any("\r" in v or "\n" in v for v in extra_headers.values()):
            raise ProviderError(f"provider {name!r}: a forwarded header value holds a line break", provider=name)
        headers.update(extra_headers)
    headers["accept-encoding"] = "identity"  # relayed as the provider sent them
    timeout, connect_timeout = settings.timeout_s, min(settings.timeout_s, 10.0)
    started = time.perf_counter()
    attempt = 0
    while True:
        attempt += 1
        response: Response | None = None
        try:
            response = await pool.request("POST", url, headers, body, timeout, connect_timeout)
            if _retryable(response.status_code):
                await response.aread()
                failure = ProviderError(f"provider {name!r} answered {response.status_code}", name,
                                        upstream_status=response.status_code, attempts=attempt)
                retry_after = response.headers.get("retry-after")
                await response.aclose()
            elif response.status_code >= 400 or not stream:
                await response.aread()
                return Upstream(response, attempt, started, first_at=time.perf_counter())
            else:
                pieces = response.aiter_raw()
                first = await anext(pieces, b"")
                return Upstream(response, attempt, started, time.perf_counter(), first, pieces)
        except Timeout:
            failure = ProviderError(f"provider {name!r} timed out (timeout_s {settings.timeout_s:g})", name,
                                    timeout=True, attempts=attempt)
            retry_after = None
        except HTTPError as exc:
            failure = ProviderError(f"provider {name!r} unreachable: {type(exc).__name__}", name, attempts=attempt)
            retry_after = None
        if response is not None and not response.is_closed:
            await response.aclose()
        delay = retry_delay(settings, attempt, retry_after) if attempt <= settings.max_retries else None
        if delay is None:
            if attempt > 1:
                failure.args = (f"{failure.args[0]} (after {attempt} attempts)",)
            raise failure
        await asyncio.sleep(delay)
