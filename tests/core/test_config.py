"""Settings: defaults, file, environment, hot reload, invalid edits, the documented default file."""

import subprocess
import sys
from pathlib import Path

import pytest
from elsupport import wait_for

from edgelearn.config import Settings, load_settings, render_default_toml, set_config_value
from edgelearn.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_defaults_match_design_table():
    s = Settings()
    assert s.rewards.weights.model_dump() == {"compile": 0.25, "tests": 0.25, "errors": 0.25, "human": 0.25}
    assert (s.export.min_runs, s.export.min_reward, s.export.max_examples) == (100, 0.7, 1000)
    assert (s.train.min_examples, s.train.rank, s.train.epochs, s.train.batch_size, s.train.learning_rate) == (
        500, 16, 3, 2, 2e-4)
    assert s.export.val_fraction == 0.2 and s.bandit.epsilon == 0.1 and s.bandit.policy == "thompson"
    assert (s.experiments.challenger_traffic, s.experiments.min_samples, s.experiments.min_improvement) == (
        0.1, 100, 0.05)
    assert (s.drift.min_drop, s.drift.window, s.train.cooldown_hours) == (0.05, 20, 24)
    assert s.privacy.redact and s.privacy.retention_days == 90
    assert s.server.host == "127.0.0.1"


def test_file_then_environment(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server]\nport = 9001\n[train]\nauto_train = false\nrank = 8\n")
    s = load_settings(cfg, environ={"EDGELEARN_TRAIN__RANK": "4", "EDGELEARN_PRIVACY__BLOCKED_PATTERNS": '["acme-\\\\d+"]'})
    assert s.server.port == 9001 and s.train.auto_train is False
    assert s.train.rank == 4
    assert s.privacy.blocked_patterns == ["acme-\\d+"]


@pytest.mark.parametrize("text, names", [
    ("[server]\nport = 'x'\n", "server.port"),
    ("[train]\nbogus = 1\n", "train.bogus"),
    ("[server\n", "not valid TOML"),
])
def test_invalid_file_names_file_and_key(tmp_path, text, names):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert str(cfg) in str(err.value) and names in str(err.value)


def test_invalid_environment_is_named(tmp_path):
    with pytest.raises(ConfigError, match="EDGELEARN_.*bandit.epsilon"):
        load_settings(tmp_path / "none.toml", environ={"EDGELEARN_BANDIT__EPSILON": "2"})


def test_hot_reload_and_invalid_edit_keeps_previous(tmp_path, runtime):
    cfg = runtime.config_file
    cfg.write_text("[train]\nauto_train = true\n")
    runtime.watcher.reload()
    runtime.watcher.start()
    try:
        cfg.write_text("[train]\nauto_train = false\n")
        wait_for(lambda: runtime.settings.train.auto_train is False)
        cfg.write_text("[train]\nauto_train = 'maybe'\n")
        wait_for(lambda: runtime.store.events.count("config.rejected") >= 1)
        assert runtime.settings.train.auto_train is False
        ev = runtime.store.events.list(type="config.rejected")[0]
        assert "train.auto_train" in ev.payload["reason"] and str(cfg) in ev.payload["file"]
        assert runtime.store.events.count("config.reloaded") >= 1
    finally:
        runtime.watcher.stop()


def test_set_config_value_keeps_other_lines(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("# mine\n[server]\nport = 9001\n\n[train]\nrank = 8\n")
    set_config_value(cfg, "train.auto_train", False)
    set_config_value(cfg, "deploy.auto_deploy", False)
    set_config_value(cfg, "train.rank", 4)
    s = load_settings(cfg, environ={})
    assert (s.server.port, s.train.rank, s.train.auto_train, s.deploy.auto_deploy) == (9001, 4, False, False)
    assert cfg.read_text().startswith("# mine")
    with pytest.raises(ConfigError, match="no such setting"):
        set_config_value(cfg, "train.nope", 1)


def test_documented_default_file_is_complete_and_current():
    text = (REPO / "config" / "edgelearn.toml").read_text()
    assert text == render_default_toml(), "run: edgelearn config defaults > config/edgelearn.toml"
    import tomllib

    assert Settings.model_validate(tomllib.loads(text)) == Settings()
    for section in Settings.model_fields.values():
        if not hasattr(section.annotation, "model_fields"):
            continue  # providers, roles: tables of named entries (commented examples)
        for name, field in section.annotation.model_fields.items():
            assert field.description, f"{name} has no docstring"


def test_invalid_config_at_start_exits_2(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[server]\nport = -1\n")
    env = {"EDGELEARN_HOME": str(tmp_path / "h"), "EDGELEARN_CONFIG": str(cfg), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "edgelearn", "serve"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "server.port" in proc.stderr and str(cfg) in proc.stderr
    assert "Traceback" not in proc.stderr
