"""A bad ``[providers.<name>]`` is refused with the provider and the key named; the key's value is
never part of the settings."""

from __future__ import annotations

import pytest

from edgelearn.config import load_settings
from edgelearn.errors import ConfigError


@pytest.mark.parametrize(("entry", "named"), [
    ('type = "gemini"\nbase_url = "https://x.example/v1"', "providers.teacher.type"),
    ('type = "openai"\nbase_url = "api.openai.com/v1"', "providers.teacher.base_url"),
    ('type = "openai"\nbase_url = "https://api.openai.com/v1"\napi_key_env = "EL_TEST_UNSET_KEY"',
     "providers.teacher.api_key_env"),
    ('type = "openai"\nbase_url = "https://x.example/v1"\nkey = "sk-inline"', "providers.teacher.key"),
])
def test_bad_provider_entries_name_the_provider_and_the_key(tmp_path, monkeypatch, entry, named):
    monkeypatch.delenv("EL_TEST_UNSET_KEY", raising=False)
    path = tmp_path / "edgelearn.toml"
    path.write_text(f"[providers.teacher]\n{entry}\n")
    with pytest.raises(ConfigError) as bad:
        load_settings(path, environ={})
    assert named in str(bad.value)


def test_reserved_provider_names_are_refused(tmp_path):
    path = tmp_path / "edgelearn.toml"
    path.write_text('[providers.ollama]\ntype = "openai"\nbase_url = "http://127.0.0.1:11434/v1"\n')
    with pytest.raises(ConfigError, match="ollama"):
        load_settings(path, environ={})


def test_a_good_provider_keeps_the_variable_name_only(tmp_path, monkeypatch):
    monkeypatch.setenv("EL_TEST_KEY", "sk-secret-value")
    path = tmp_path / "edgelearn.toml"
    path.write_text('[providers.openrouter]\ntype = "openai"\nbase_url = "https://openrouter.ai/api/v1/"\n'
                    'api_key_env = "EL_TEST_KEY"\nheaders = {"HTTP-Referer" = "https://example.org"}\n'
                    '[providers.openrouter.prices."openai/gpt-4.1-mini"]\ninput = 0.4\noutput = 1.6\n'
                    '[roles.coder]\napply_prompt_variants = true\n')
    settings = load_settings(path, environ={})
    provider = settings.providers["openrouter"]
    assert provider.base_url == "https://openrouter.ai/api/v1" and provider.max_retries == 2
    assert provider.prices["openai/gpt-4.1-mini"].output == 1.6 and settings.roles["coder"].apply_prompt_variants
    assert "sk-secret-value" not in settings.model_dump_json()


def test_a_bad_provider_edit_is_refused_on_hot_reload(home, monkeypatch):
    from edgelearn.runtime import Runtime

    monkeypatch.delenv("EL_TEST_UNSET_KEY", raising=False)
    rt = Runtime(home=home, embed=False)
    try:
        (home / "edgelearn.toml").write_text('[providers.teacher]\ntype = "openai"\n'
                                             'base_url = "https://x.example/v1"\napi_key_env = "EL_TEST_UNSET_KEY"\n')
        assert rt.watcher.reload() is False
        assert rt.settings.providers == {}
    finally:
        rt.stop()
