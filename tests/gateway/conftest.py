"""The gateway in front of stand-in providers: a real edgelearn server on loopback, configured with
an OpenAI-type provider ``up`` and an Anthropic-type provider ``claude``, both stand-ins (tests/standin.py)."""

from __future__ import annotations

from dataclasses import dataclass

import openai
import pytest
from elsupport import LiveServer, start_server
from standin import StandIn

KEY = "sk-standin-SECRET-0123456789abcdef"  # searched for under the home by the tests
KEY_ENV = "EL_TEST_PROVIDER_KEY"


@dataclass
class Gateway:
    server: LiveServer
    up: StandIn       # OpenAI type, provider "up"
    claude: StandIn   # Anthropic type, provider "claude"
    client: openai.OpenAI

    def run(self, run_id: str):
        return self.server.runtime.store.runs.get(run_id)


def provider_config(up: StandIn, claude: StandIn, **extra: str) -> str:
    options = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return (f'[providers.up]\ntype = "openai"\nbase_url = "{up.openai_base}"\napi_key_env = "{KEY_ENV}"\n'
            f'max_retries = 2\nbackoff_s = 0.01\ntimeout_s = 5\nmodels = ["small", "big"]\n{options}'
            f'[providers.up.prices.big]\ninput = 2.0\noutput = 8.0\n\n'
            f'[providers.claude]\ntype = "anthropic"\nbase_url = "{claude.url}"\napi_key_env = "{KEY_ENV}"\n'
            f'max_retries = 1\nbackoff_s = 0.01\ntimeout_s = 5\n{options}\n'
            # the same stand-in, impatient: for timeouts
            f'[providers.slow]\ntype = "openai"\nbase_url = "{up.openai_base}"\napi_key_env = "{KEY_ENV}"\n'
            f'max_retries = 1\nbackoff_s = 0.01\ntimeout_s = 0.5\nmodels = ["small"]\n')


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
