"""Settings: defaults, file, environment, hot reload, invalid edits, the documented default file."""

import subprocess
import sys
from pathlib import Path

import pytest
from elsupport import wait_for

from edgelearn.config import Settings, load_settings
from edgelearn.config_toml import render_default_toml, set_config_value, write_settings
from edgelearn.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_defaults_match_design_table():
    s = Settings()
    assert s.rewards.weights.model_dump() == {"compile": 0.25, "tests": 0.25, "errors": 0.25, "human": 0.25,
                                          "survival": 0.25}
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


USER_FILE = """# my edgelearn settings: written by hand
[server]
port = 9001   # the port my agent knows

# smaller adapters on this laptop
[train]
rank = 8
  # an indented note
auto_train = true # flipped by the TUI
"""


def test_edits_keep_the_users_comments_and_layout(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(USER_FILE)
    set_config_value(cfg, "train.auto_train", False)
    set_config_value(cfg, "rewards.weights.human", 0.5)
    text = cfg.read_text()
    assert text.startswith(USER_FILE.replace("auto_train = true # flipped", "auto_train = false # flipped"))
    assert "[rewards.weights]\nhuman = 0.5" in text
    s = load_settings(cfg, environ={})
    assert (s.server.port, s.train.rank, s.train.auto_train, s.rewards.weights.human) == (9001, 8, False, 0.5)

    settings = s.model_copy(update={"server": s.server.model_copy(update={"port": 9002})})
    write_settings(settings, cfg)
    text = cfg.read_text()
    for line in ("# my edgelearn settings: written by hand", "port = 9002   # the port my agent knows",
                 "# smaller adapters on this laptop", "  # an indented note", "auto_train = false # flipped by the TUI"):
        assert line in text
    assert text.index("[server]") < text.index("[train]") < text.index("[store]")  # the user's order first
    assert load_settings(cfg, environ={}) == settings


def test_an_edit_the_settings_refuse_is_not_written(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(USER_FILE)
    with pytest.raises(ConfigError, match="train.rank"):
        set_config_value(cfg, "train.rank", "big")
    with pytest.raises(ConfigError, match="train.nope: no such setting"):
        set_config_value(cfg, "train.nope", 1)
    with pytest.raises(ConfigError, match="no such setting"):
        set_config_value(cfg, "rewards.weights", 1)
    assert cfg.read_text() == USER_FILE
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]


@pytest.mark.parametrize("raw, key, value", [
    ("false", "train.auto_train", False),
    ("0.5", "rewards.weights.human", 0.5),
    ("4", "train.rank", 4),
    ('["a", "b"]', "server.cors_origins", ["a", "b"]),
    ("['single', 'quotes']", "privacy.blocked_patterns", ["single", "quotes"]),
    ("localhost", "server.host", "localhost"),  # not TOML: the plain string
    ('"quoted"', "server.host", "quoted"),  # a TOML string: its quotes go
    ("0.998", "bandit.discount", 0.998),
])
def test_environment_values_are_toml_scalars(tmp_path, raw, key, value):
    section, _, name = key.rpartition(".")
    env = f"EDGELEARN_{section.upper().replace('.', '__')}__{name.upper()}"
    s = load_settings(tmp_path / "none.toml", environ={env: raw})
    node = s
    for part in key.split("."):
        node = getattr(node, part)
    assert node == value and type(node) is type(value)


def test_environment_beats_file_and_other_variables_are_ignored(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server]\nport = 9001\nhost = '127.0.0.2'\n")
    env = {"EDGELEARN_SERVER__PORT": "9100", "EDGELEARN_HOME": str(tmp_path), "EDGELEARN_CONFIG": str(cfg),
           "edgelearn_train__rank": "2", "OTHER__PORT": "1"}
    s = load_settings(cfg, environ=env)
    assert (s.server.port, s.server.host, s.train.rank) == (9100, "127.0.0.2", 2)
    with pytest.raises(ConfigError, match=r"environment \(EDGELEARN_\*\): train.bogus"):
        load_settings(cfg, environ={"EDGELEARN_TRAIN__BOGUS": "1"})
    monkeypatch.setenv("EDGELEARN_SERVER__PORT", "9200")
    assert load_settings(cfg).server.port == 9200  # os.environ by default
    assert Settings().server.port == 8765  # a bare Settings() is the defaults, whatever the environment


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
