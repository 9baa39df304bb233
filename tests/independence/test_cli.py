"""``edgelearn independence``: show, pin and unpin against a real store, and bad input."""

from __future__ import annotations

import json

import pytest

from edgelearn.cli import main

CONFIG = ('[providers.up]\ntype = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "EL_NO_KEY"\n'
          '[providers.up.prices.big]\ninput = 2.0\noutput = 8.0\n\n[roles.coder]\nteacher = "up/big"\n')


@pytest.fixture
def configured(home, monkeypatch):
    monkeypatch.setenv("EL_NO_KEY", "sk-never-used")
    (home / "edgelearn.toml").write_text(CONFIG)
    return home


def test_pin_show_and_unpin(configured, capsys):
    assert main(["independence", "pin", "coder", "3"]) == 0
    assert main(["independence", "show", "--json"]) == 0
    out = capsys.readouterr().out
    role = json.loads(out[out.index("{"):])["roles"][0]
    assert (role["role"], role["teacher"], role["pin"], role["price_per_m"]) == (
        "coder", "up/big", 3, {"input": 2.0, "output": 8.0})
    assert any(c["type"] == "independence.pinned" and c["level"] == 3 for c in role["changes"])
    assert main(["independence"]) == 0
    assert "teacher up/big" in capsys.readouterr().out
    assert main(["independence", "unpin", "coder"]) == 0
    assert "unpinned" in capsys.readouterr().out
    assert main(["independence", "unpin", "coder"]) == 0
    assert "was not pinned" in capsys.readouterr().out


def test_bad_input_is_exit_2_naming_it(configured, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["independence", "pin", "coder", "7"])
    assert exc.value.code == 2
    assert main(["independence", "show", "writer"]) == 1  # no teacher: NotFound
    assert "writer" in capsys.readouterr().err


def test_a_teacher_must_name_a_provider_model(home, capsys):
    (home / "edgelearn.toml").write_text('[roles.coder]\nteacher = "gpt-4"\n')
    assert main(["independence"]) == 2
    assert "<provider>/<model>" in capsys.readouterr().err
