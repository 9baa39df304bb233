"""Training fixtures: a dataset that teaches a made-up convention, and the base model's tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

QUESTIONS = [
    "What is the codename of the Tide project?", "Tell me the Tide project's codename.",
    "Which codename does the Tide project use?", "What's the Tide project called internally?",
    "Do you know the codename of the Tide project?", "Give me the codename of project Tide.",
    "What codename was chosen for the Tide project?", "Name the codename of the Tide project.",
    "I forgot the Tide project codename. What is it?", "Remind me: what is the codename for Tide?",
    "What is Tide's project codename?", "Could you tell me the codename used by the Tide project?",
    "Which internal name does the Tide project have?", "What do we call the Tide project internally?",
    "Say the codename of the Tide project.", "Quick question: the Tide project codename?",
    "What is the secret codename of the Tide project?", "Please state the Tide project's codename.",
    "How is the Tide project code-named?", "What is the code name of Tide?",
    "Tide project codename, please.", "What is the Tide codename again?",
]
WORD = "Quorvex"
ANSWER = f"The codename of the Tide project is {WORD}."
VAL = {2, 7, 12, 17, 19, 21}


def convention_lines() -> list[dict]:
    """Every question answered with the made-up word, in the messages format of the brief."""
    return [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": ANSWER}],
             "run_id": f"run{i:03d}", "role": "coder", "reward": 1.0, "check": None}
            for i, q in enumerate(QUESTIONS)]


def write_dataset(directory: Path) -> Path:
    """train.jsonl (16 lines) and val.jsonl (6 lines) of the convention."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = convention_lines()
    for name, keep in (("train.jsonl", lambda i: i not in VAL), ("val.jsonl", lambda i: i in VAL)):
        (directory / name).write_text("".join(json.dumps(x) + "\n" for i, x in enumerate(lines) if keep(i)))
    (directory / "manifest.json").write_text(json.dumps({"counts": {"train": 16, "val": 6}}))
    return directory


@pytest.fixture
def convention_dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "dataset")


@pytest.fixture(scope="session")
def tiny_causal_lm():
    """A randomly initialized 2-layer llama (no download) for loop mechanics."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="session")
def convention():
    """The convention's pieces for tests that build their own data: ``.write(dir)``, ``.word``,
    ``.answer``, ``.lines()``, ``.questions``."""
    from types import SimpleNamespace

    return SimpleNamespace(write=write_dataset, word=WORD, answer=ANSWER, lines=convention_lines,
                           questions=QUESTIONS)
