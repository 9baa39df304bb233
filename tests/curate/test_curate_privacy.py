"""Planted PII and blocked patterns never reach a dataset's files, in any format."""

from __future__ import annotations

import orjson
import pytest

from edgelearn.config import PrivacySettings, Settings
from edgelearn.curate import export_dataset

PLANTED = {
    "EMAIL": "jane.doe@example.com",
    "PHONE": "+1 415-555-0134",
    "SSN": "123-45-6789",
    "CARD": "4111 1111 1111 1111",
    "API_KEY": "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4",
    "IP": "10.20.30.40",
    "BLOCKED": "ACME-778812",
}


def _runs() -> list[dict]:
    e, p, s, c, k, ip, b = PLANTED.values()
    chat = [{"role": "system", "content": f"Internal ticket {b}."},
            {"role": "user", "content": f"Email {e} when the deploy to {ip} ends."}]
    return [
        {"input": f"My card is {c} and my SSN {s}; fix the billing bug.", "task": f"fix billing for {e}",
         "output": f"def charge():\n    api_key = '{k}'\n    return call('{p}')\n", "reward": 0.9,
         "metadata": {"check": {"kind": "command", "cmd": f"curl -H 'X-Key: {k}' http://{ip}/health"}}},
        {"input": orjson.dumps(chat).decode(), "output": f"Sent to {e}; ticket {b} closed.", "reward": 0.8},
    ]


@pytest.mark.parametrize("fmt", ["messages", "alpaca", "completion"])
def test_planted_pii_never_reaches_the_files(fmt, store, home, add_runs):
    settings = Settings(privacy=PrivacySettings(blocked_patterns=[r"ACME-\d{6}"]))
    add_runs(_runs())  # stored raw: as if recorded before the pattern was blocked
    ds = export_dataset(store, settings, home, "coder", format=fmt, cluster_cap=1.0)
    assert ds.counts["examples"] == 2
    blob = b"".join((ds.path / name).read_bytes() for name in ("train.jsonl", "val.jsonl", "manifest.json"))
    for kind, value in PLANTED.items():
        assert value.encode() not in blob, kind
    assert b"[REDACTED:EMAIL]" in blob and b"[REDACTED:BLOCKED]" in blob and b"[REDACTED:API_KEY]" in blob
    redactions = ds.manifest["redactions"]
    assert {"EMAIL", "BLOCKED", "API_KEY", "CARD", "SSN"} <= set(redactions)
    assert ds.manifest["settings"]["privacy"] == {"redact": True, "blocked_patterns": 1}
    # the stored manifest never carries the patterns themselves
    assert "ACME" not in orjson.dumps(ds.manifest).decode()


def test_a_bad_blocked_pattern_is_a_config_error(store, home, add_runs):
    from edgelearn.errors import ConfigError

    add_runs(_runs())
    with pytest.raises(ConfigError, match="privacy.blocked_patterns"):
        export_dataset(store, Settings(privacy=PrivacySettings(blocked_patterns=["(unclosed"])), home, "coder")
    assert not (home / "datasets").exists() or not any((home / "datasets").iterdir())
