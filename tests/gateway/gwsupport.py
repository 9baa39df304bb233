"""Shared by the gateway tests (import as ``from gwsupport import ...``; conftest names collide)."""

from __future__ import annotations

from dataclasses import dataclass

import openai
from elsupport import LiveServer
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
        return self.server.run(run_id)


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


