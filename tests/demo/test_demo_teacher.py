"""The demo's teacher server, driven by the official ``openai`` client over loopback HTTP."""

from __future__ import annotations

import json
import tomllib

import httpx
import openai
import pytest

from edgelearn.demo.pack import load_pack
from edgelearn.demo.teacher import TeacherServer, pack_answerer
from edgelearn.demo.tool_pack import TOOLS, load_tool_pack

KEY = "sk-demo-test"


@pytest.fixture
def teacher():
    tasks = [t for t in load_pack() if t.split == "train"]
    tool_tasks = [t for t in load_tool_pack() if t.split == "train"]
    with TeacherServer(pack_answerer(tasks, tool_tasks), key=KEY, model="tidekit-reference") as server:
        server.tasks, server.tool_tasks = tasks, tool_tasks
        yield server


def _client(teacher, key=KEY):
    return openai.OpenAI(base_url=teacher.base_url, api_key=key, max_retries=0)


def test_plain_answer_is_the_reference_solution(teacher):
    task = teacher.tasks[0]
    r = _client(teacher).chat.completions.create(model="tidekit-reference",
                                                 messages=[{"role": "user", "content": task.prompt}])
    assert r.choices[0].message.content == f"```python\n{task.reference.strip()}\n```"
    assert r.choices[0].finish_reason == "stop" and r.usage.completion_tokens > 0
    assert teacher.requests == 1


def test_streamed_answer_joins_to_the_same_text_with_usage(teacher):
    task = teacher.tasks[1]
    stream = _client(teacher).chat.completions.create(
        model="tidekit-reference", messages=[{"role": "user", "content": task.prompt}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"```python\n{task.reference.strip()}\n```"
    assert len([c for c in chunks if c.choices]) > 2  # really streamed in pieces
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_tool_task_answers_with_a_real_tool_call(teacher):
    task = teacher.tool_tasks[0]
    client = _client(teacher)
    r = client.chat.completions.create(model="tidekit-reference", messages=task.messages(), tools=TOOLS)
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and not msg.content
    assert [(c.function.name, c.function.arguments) for c in msg.tool_calls] == [
        (task.expected["name"], json.dumps(task.expected["arguments"]))]
    streamed = list(client.chat.completions.create(model="tidekit-reference", messages=task.messages(),
                                                   tools=TOOLS, stream=True))
    calls = [tc for c in streamed if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [c.function.name for c in calls] == [task.expected["name"]]


def test_wrong_key_and_bad_bodies_are_4xx_naming_what_is_wrong(teacher):
    with pytest.raises(openai.AuthenticationError):
        _client(teacher, key="sk-wrong").chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    r = httpx.post(teacher.base_url + "/chat/completions", content=b"{not json",
                   headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]["message"]
    r = httpx.post(teacher.base_url + "/chat/completions", json={"model": "m"}, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
    assert teacher.requests == 0
    assert [m.id for m in _client(teacher).models.list()] == ["tidekit-reference"]


def test_demo_settings_name_the_teacher_as_a_provider_and_write_no_key(tmp_path, monkeypatch):
    from edgelearn.config import Settings
    from edgelearn.config_toml import write_settings
    from edgelearn.demo import teaching
    from edgelearn.demo.runner import DemoOptions, demo_settings

    monkeypatch.setenv(teaching.KEY_ENV, "sk-demo-SECRET-never-written")
    settings = demo_settings(Settings(), 98, DemoOptions(), teacher_url="http://127.0.0.1:9/v1")
    path = tmp_path / "edgelearn.toml"
    write_settings(settings, path)
    text = path.read_text()
    assert "sk-demo-SECRET" not in text and f'api_key_env = "{teaching.KEY_ENV}"' in text
    again = Settings.model_validate(tomllib.loads(text))
    provider = again.providers[teaching.PROVIDER]
    assert (provider.type, provider.base_url) == ("openai", "http://127.0.0.1:9/v1")
    assert (provider.prices[teaching.MODEL].input, provider.prices[teaching.MODEL].output) == (3.0, 15.0)
    assert again.roles["coder"].teacher == teaching.TEACHER and again.independence.min_samples == 8


def test_demo_stages_with_a_perfect_local_model_promote_it_on_shadows_and_advance_its_level(tmp_path, home):
    """The demo's stages 4 and 5 without training: a registered stand-in adapter whose (fake) backend
    answers with the reference solutions, the base with nonsense, the teacher over HTTP."""
    import random

    from elsupport import start_server

    from edgelearn.config import Settings
    from edgelearn.demo import runner, teaching
    from edgelearn.runtime import Runtime
    from edgelearn.serve import registry
    from edgelearn.serve.backends import FakeBackend

    train = [t for t in load_pack() if t.split == "train"]
    by_prompt = {t.prompt: t for t in train}
    opts = runner.DemoOptions(min_samples=4, timeout_s=600)
    with teaching.start_teacher(train, []) as teacher:
        settings = runner.demo_settings(Settings(), len(train), opts, teacher_url=teacher.base_url)
        settings.export.auto_export = False  # no training here
        rt = Runtime(settings, home=home, embed=False)
        server, stop = start_server(rt)
        try:
            def local(target, request):
                task = by_prompt.get(request.messages[-1]["content"])
                good = target.model_id != "base" and task is not None
                return f"```python\n{task.reference.strip()}\n```" if good else "I do not know tidekit."

            rt.services["serving"].engine.use_backend(FakeBackend(local))
            rt.services["independence"].check = teaching.pack_check(train, [])
            folder = tmp_path / "v1"
            folder.mkdir()
            (tmp_path / "base.gguf").write_bytes(b"GGUF stand-in base")
            (folder / "adapter.gguf").write_bytes(b"GGUF v1")
            (folder / "report.json").write_text(json.dumps({"base_model": str(tmp_path / "base.gguf")}))
            challenger = registry.register(rt.store, "coder", folder, home=rt.home)
            exp_id = rt.services["experiments"].start_experiment("coder", challenger, traffic=0.5)
            agent = runner.Agent(server.url, rt.token)
            rng, lines = random.Random(0), []
            champion = runner._run_experiment(rt, agent, rt.store.experiments.get(exp_id), train, opts, rng,
                                              lines.append)
            assert champion == challenger
            stats = rt.services["experiments"].variant_stats(exp_id)
            assert stats["challenger"].mean == 1.0 and stats["champion"].mean == 0.0  # all from shadows
            assert {r.model_variant for r in rt.store.runs.list(limit=1000)} == {teaching.TEACHER}
            out = teaching.run_independence(rt, agent, train, "coder", opts, rng, runner._paced, lines.append,
                                            target_level=2)
            agent.close()
        finally:
            stop()
    assert out.levels == {-1: 2} and [c.split(" on ")[1] for c in out.changes] == ["shadow evidence", "local evidence"]
    assert 0 < out.local < out.requests and out.cost_saved > 0
    assert teacher.requests >= out.requests - out.local
