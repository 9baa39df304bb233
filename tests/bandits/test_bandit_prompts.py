"""Prompt variant files: the shipped ones, front matter, overrides, and what a bad file says."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelearn.bandits.prompts import load_prompts, packaged_dir, parse_prompt, prompt_dirs
from edgelearn.errors import ConfigError


def test_shipped_variants_cover_the_three_roles():
    prompts, errors = load_prompts([packaged_dir()])
    assert errors == []
    by_role: dict[str, list[str]] = {}
    for (role, variant), p in prompts.items():
        by_role.setdefault(role, []).append(variant)
        assert p.notes and len(p.text) > 200, f"{role}/{variant} needs notes and a real prompt"
    assert {r: len(v) >= 2 for r, v in by_role.items()} == {"coder": True, "fixer": True, "judge": True}


def test_front_matter_sets_id_notes_and_enabled():
    p = parse_prompt("---\nid: short\nnotes: 'terse'\nenabled: false\n---\nBe brief.\n", Path("x/coder/f.md"), "coder")
    assert (p.variant, p.notes, p.enabled, p.text) == ("short", "terse", False, "Be brief.")
    plain = parse_prompt("Just text.", Path("x/coder/plain.md"), "coder")
    assert (plain.variant, plain.notes, plain.enabled) == ("plain", None, None)


@pytest.mark.parametrize("raw,message", [
    ("---\nid: a\nBody", "never closed"),
    ("---\nauthor: me\n---\nBody", r"f.md:2: expected one of id, notes, enabled"),
    ("---\nid: a\n---\n   \n", "prompt text is empty"),
    ("---\nid: has space\n---\nBody", "must match"),
    ("---\nenabled: maybe\n---\nBody", "enabled must be true or false"),
])
def test_bad_files_name_the_file_and_the_problem(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_prompt(raw, Path("x/coder/f.md"), "coder")


def test_user_directory_overrides_and_adds(home, settings, tmp_path):
    user = tmp_path / "prompts"
    (user / "coder").mkdir(parents=True)
    (user / "coder" / "mine.md").write_text("---\nid: concise\n---\nMy own concise prompt.\n")
    (user / "coder" / "extra.md").write_text("An extra variant.\n")
    (user / "bad role!").mkdir()
    settings.bandit.prompts_dir = str(user)
    prompts, errors = load_prompts(prompt_dirs(settings, None))
    assert prompts[("coder", "concise")].text == "My own concise prompt."
    assert prompts[("coder", "extra")].path == user / "coder" / "extra.md"
    assert ("fixer", "minimal-patch") in prompts
    assert [str(e) for e in errors] == [f"{user / 'bad role!'}: not a valid role name"]
    # with no prompts_dir, prompts/ next to the config file is the user's place
    settings.bandit.prompts_dir = ""
    assert prompt_dirs(settings, home / "edgelearn.toml")[-1] == home / "prompts"


def test_sync_follows_the_files(rig, settings, tmp_path):
    user = tmp_path / "prompts"
    (user / "coder").mkdir(parents=True)
    extra = user / "coder" / "extra.md"
    extra.write_text("Version one.")
    (user / "coder" / "off.md").write_text("---\nenabled: false\n---\nShipped disabled.")
    (user / "coder" / "broken.md").write_text("---\nwho: me\n---\nx")
    settings.bandit.prompts_dir = str(user)
    report = rig.selector.sync_prompts()
    assert "coder/prompt/extra" in report.added and len(report.errors) == 1
    assert "broken.md" in str(report.errors[0])
    arms = {a.variant: a for a in rig.store.arms.list("coder", "prompt")}
    assert arms["extra"].text == "Version one." and not arms["off"].enabled
    assert {a.variant for a in rig.store.arms.list("coder", "model")} == {"base"}
    # a user's disable survives a re-sync; an edit updates the text; a deleted file disables its arm
    rig.selector.set_enabled("coder/concise", False)
    extra.write_text("Version two.")
    report = rig.selector.sync_prompts()
    assert report.updated == ["coder/prompt/extra"] and report.added == []
    assert not rig.store.arms.resolve("coder/concise").enabled
    extra.unlink()
    report = rig.selector.sync_prompts()
    assert report.disabled == ["coder/prompt/extra"]
    assert rig.selector.sync_prompts().disabled == []  # already disabled: nothing new
    chosen = {rig.selector.decide("coder").prompt.arm.variant for _ in range(40)}
    assert chosen == {"stepwise", "tests-first"}
