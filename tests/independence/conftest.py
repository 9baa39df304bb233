"""The gateway with a teacher: a real edgelearn server on loopback whose role ``coder`` has the
stand-in provider ``up``'s model ``big`` as its teacher, and a fake local backend."""

from __future__ import annotations

from dataclasses import dataclass

import openai
import pytest
from elsupport import LiveServer, start_server
from standin import StandIn

from edgelearn.serve.backends import FakeBackend

KEY = "sk-standin-TEACHER-0123456789abcdef"
KEY_ENV = "EL_TEST_TEACHER_KEY"
PRICE_IN, PRICE_OUT = 2.0, 8.0  # per million tokens of up/big


@dataclass
class Teaching:
    server: LiveServer
    teacher: StandIn
    local: FakeBackend
    client: openai.OpenAI

    @property
    def service(self):
        return self.server.runtime.services["independence"]

    def run(self, run_id: str):
        return self.server.run(run_id)


def config(teacher: StandIn, extra: str = "") -> str:
    return (f'[providers.up]\ntype = "openai"\nbase_url = "{teacher.openai_base}"\napi_key_env = "{KEY_ENV}"\n'
            f'max_retries = 0\ntimeout_s = 10\nmodels = ["big"]\n'
            f'[providers.up.prices.big]\ninput = {PRICE_IN}\noutput = {PRICE_OUT}\n\n'
            f'[roles.coder]\nteacher = "up/big"\n\n'
            f'[independence]\n{extra or "shadow_share = 0.0"}\n')


@pytest.fixture
def teaching(home, monkeypatch, request):
    from edgelearn.runtime import Runtime

    monkeypatch.setenv(KEY_ENV, KEY)
    extra = getattr(request, "param", "")
    with StandIn(key=KEY) as teacher:
        (home / "edgelearn.toml").write_text(config(teacher, extra))
        rt = Runtime(home=home, embed=False)
        server, stop = start_server(rt)
        local = FakeBackend()
        rt.services["serving"].engine.use_backend(local)
        try:
            with openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.token, max_retries=0) as client:
                yield Teaching(server, teacher, local, client)
        finally:
            stop()
