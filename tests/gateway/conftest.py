"""The gateway in front of stand-in providers: a real edgelearn server on loopback, configured with
an OpenAI-type provider ``up`` and an Anthropic-type provider ``claude``, both stand-ins (tests/standin.py)."""

from __future__ import annotations

import openai
import pytest
from elsupport import start_server
from gwsupport import KEY, KEY_ENV, Gateway, provider_config
from standin import StandIn


@pytest.fixture
def gateway(home, monkeypatch):
    from edgelearn.runtime import Runtime

    monkeypatch.setenv(KEY_ENV, KEY)
    with StandIn(key=KEY) as up, StandIn(key=KEY, models=("sonnet", "haiku")) as claude:
        (home / "edgelearn.toml").write_text(provider_config(up, claude))
        rt = Runtime(home=home, embed=False)
        server, stop = start_server(rt)
        try:
            with openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.token, max_retries=0) as client:
                yield Gateway(server, up, claude, client)
        finally:
            stop()
