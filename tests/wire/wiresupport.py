"""Shared by the wire tests (import as ``from wiresupport import ...``; conftest names collide)."""

from __future__ import annotations

from dataclasses import dataclass

from elsupport import LiveServer
from standin import StandIn

KEY = "sk-standin-WIRE-0123456789abcdef"  # searched for under the home by the tests
KEY_ENV = "EL_TEST_WIRE_KEY"


@dataclass
class Wire:
    server: LiveServer
    up: StandIn       # OpenAI type, provider "up"; also "native", which serves /v1/responses
    claude: StandIn   # Anthropic type, provider "claude"

    def run(self, run_id: str):
        return self.server.run(run_id)

    def runs(self):
        self.server.settle()
        return self.server.runtime.store.runs.list(limit=1000)


def config(up: StandIn, claude: StandIn) -> str:
    return (f'[providers.up]\ntype = "openai"\nbase_url = "{up.openai_base}"\napi_key_env = "{KEY_ENV}"\n'
            f'max_retries = 0\ntimeout_s = 10\nmodels = ["small"]\n\n'
            f'[providers.claude]\ntype = "anthropic"\nbase_url = "{claude.url}"\napi_key_env = "{KEY_ENV}"\n'
            f'max_retries = 0\ntimeout_s = 10\nmodels = ["sonnet"]\n\n'
            f'[providers.native]\ntype = "openai"\nbase_url = "{up.openai_base}"\napi_key_env = "{KEY_ENV}"\n'
            f'max_retries = 0\ntimeout_s = 10\nmodels = ["small"]\n\n'
            '[wire.responses]\nproviders = ["native"]\n\n'
            '[wire.anthropic]\ndefault = "base"\n'
            'models = { "claude-sonnet-*" = "claude/sonnet", "claude-haiku-*" = "up/small", "local-*" = "base" }\n')
