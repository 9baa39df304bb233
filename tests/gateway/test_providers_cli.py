"""``edgelearn providers`` and the doctor's provider checks, against a stand-in provider."""

from __future__ import annotations

import json

from standin import StandIn

from edgelearn.cli import main


def _config(home, provider: StandIn, env: str = "EL_CLI_KEY") -> None:
    (home / "edgelearn.toml").write_text(
        f'[providers.up]\ntype = "openai"\nbase_url = "{provider.openai_base}"\napi_key_env = "{env}"\n'
        f'[providers.claude]\ntype = "anthropic"\nbase_url = "{provider.url}"\napi_key_env = "{env}"\n'
        f'models = ["sonnet"]\n')


def test_providers_check_lists_models_and_never_prints_the_key(home, monkeypatch, capsys):
    monkeypatch.setenv("EL_CLI_KEY", "sk-cli-secret-42")
    with StandIn(key="sk-cli-secret-42", models=("m1", "m2")) as provider:
        _config(home, provider)
        assert main(["providers", "--check", "--json"]) == 0
        out = capsys.readouterr().out
        rows = {r["name"]: r for r in json.loads(out)}
        assert rows["up"]["check"]["status"] == "ok" and rows["up"]["models"] == ["up/m1", "up/m2"]
        assert rows["claude"]["models"] == ["claude/sonnet"] and rows["up"]["key"] == "EL_CLI_KEY (set)"
        assert main(["providers"]) == 0
        out += capsys.readouterr().out
        assert "sk-cli-secret-42" not in out

        monkeypatch.setenv("EL_CLI_KEY", "sk-wrong")
        assert main(["providers", "--check", "--json"]) == 1
        rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
        assert rows["up"]["check"]["status"] == "fail" and "refused (401)" in rows["up"]["check"]["detail"]


def test_doctor_checks_each_provider(home, monkeypatch):
    from edgelearn.config import load_settings
    from edgelearn.doctor import _check_providers

    monkeypatch.setenv("EL_CLI_KEY", "sk-doctor-secret")
    with StandIn(key="sk-doctor-secret") as provider:
        _config(home, provider)
        checks = {c.name: c for c in _check_providers(load_settings(home / "edgelearn.toml"))}
    assert checks["provider up"].status == "ok" and "key accepted" in checks["provider up"].detail
    assert checks["provider claude"].status == "ok"
    checks = {c.name: c for c in _check_providers(load_settings(home / "edgelearn.toml"))}  # stand-in gone
    assert checks["provider up"].status == "fail" and "unreachable" in checks["provider up"].detail
    assert all("sk-doctor-secret" not in c.detail for c in checks.values())


def test_a_missing_key_variable_stops_the_cli_with_exit_2(home, monkeypatch, capsys):
    monkeypatch.delenv("EL_CLI_KEY", raising=False)
    with StandIn() as provider:
        _config(home, provider)
        assert main(["providers"]) == 2
    err = capsys.readouterr().err
    assert "providers.up.api_key_env" in err and "EL_CLI_KEY" in err
