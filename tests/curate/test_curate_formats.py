"""Every format loads with HF datasets and renders with the base model's chat template."""

from __future__ import annotations

import orjson
import pytest

from edgelearn.curate import export_dataset
from edgelearn.curate.formats import NotAnExample, conversation
from edgelearn.train.split import split_of

SYSTEM = "You are a careful Python programmer."


def _mixed_runs() -> list[dict]:
    chat = [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Write add(a, b)."},
            {"role": "assistant", "content": "Which types?"},
            {"role": "user", "content": [{"type": "text", "text": "Integers."}]}]
    return [
        {"input": "Write a function that doubles a number.", "output": "def double(x):\n    return 2 * x\n",
         "reward": 0.9, "metadata": {"check": {"kind": "taskpack", "task_id": "tk-001"}}},
        {"input": orjson.dumps(chat).decode(), "output": "def add(a: int, b: int) -> int:\n    return a + b\n",
         "reward": 0.8, "metadata": {"check": {"kind": "command", "cmd": "pytest -q tests/test_add.py"}}},
        {"input": None, "task": "Return the larger of two numbers.",
         "output": "def bigger(a, b):\n    return max(a, b)\n",
         "reward": 0.95},
        {"input": orjson.dumps([{"role": "developer", "content": SYSTEM},
                                {"role": "user", "content": "Run the tests."},
                                {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
                                {"role": "tool", "content": "3 passed"}]).decode(),
         "output": "All 3 tests pass.", "reward": 0.85, "metadata": {"check": "not an object"}},
    ]


def _as_chat(fmt: str, row: dict) -> list[dict]:
    if fmt == "messages":
        return row["messages"]
    if fmt == "alpaca":
        user = row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")
        system = [{"role": "system", "content": row["system"]}] if row["system"] else []
        return [*system, {"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]
    return [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]


def _ids_with_splits(wanted: list[str], val_fraction: float) -> list[str]:
    """Run ids (time-sortable like real ones) that fall on the wanted sides of the split."""
    out, n = [], 0
    for side in wanted:
        while split_of(f"{0x18f000000000 + n:012x}{n:012x}", val_fraction) != side:
            n += 1
        out.append(f"{0x18f000000000 + n:012x}{n:012x}")
        n += 1
    return out


@pytest.mark.parametrize("fmt", ["messages", "alpaca", "completion"])
def test_format_loads_and_renders(fmt, store, settings, home, add_runs, base_tokenizer, tmp_path):
    from datasets import load_dataset

    # both splits hold a run with a check and one without
    ids = _ids_with_splits(["train", "val", "val", "train"], 0.5)
    add_runs([{**spec, "id": run_id} for spec, run_id in zip(_mixed_runs(), ids)])
    ds = export_dataset(store, settings, home, "coder", format=fmt, cluster_cap=1.0, val_fraction=0.5)
    assert ds.counts["train"] == 2 and ds.counts["val"] == 2
    # each split file on its own: HF infers a column's type per file, and a field that is null
    # throughout one split cannot be cast to the other's type (see the two-split test below)
    rows = []
    for name in ("train", "val"):
        loaded = load_dataset("json", data_files=str(ds.path / f"{name}.jsonl"), cache_dir=str(tmp_path / "hf"))
        assert loaded["train"].num_rows == 2
        rows += list(loaded["train"])
    assert sorted(r["run_id"] for r in rows) == sorted(ids)
    by_id = {r["run_id"]: r for r in rows}
    assert by_id[ids[0]]["check"]["task_id"] == "tk-001"
    assert by_id[ids[1]]["check"]["cmd"] == "pytest -q tests/test_add.py"
    assert by_id[ids[1]]["check"]["task_id"] is None  # every check has every key: one column type
    assert by_id[ids[2]]["check"] is None and by_id[ids[3]]["check"] is None
    for row in rows:
        assert row["role"] == "coder" and 0.7 <= row["reward"] <= 1
        text = base_tokenizer.apply_chat_template(_as_chat(fmt, row), tokenize=False)
        assert text.count("<|im_start|>assistant") >= 1 and text.rstrip().endswith("<|im_end|>")
        assert len(base_tokenizer(text)["input_ids"]) > 10
    chat = _as_chat(fmt, by_id[ids[1]])
    rendered = base_tokenizer.apply_chat_template(chat, tokenize=False)
    assert "return a + b" in rendered and "Integers." in rendered
    if fmt != "completion":
        assert f"<|im_start|>system\n{SYSTEM}" in rendered


@pytest.mark.parametrize("fmt", ["messages", "alpaca", "completion"])
def test_both_splits_load_together(fmt, store, settings, home, add_runs, tmp_path):
    from datasets import load_dataset

    add_runs([{"input": f"Write helper {i}.", "output": f"def helper_{i}():\n    return {i * 31 % 17}\n",
               "reward": 0.9, "metadata": {"check": {"kind": "taskpack", "task_id": f"tk-{i:03d}"}}}
              for i in range(30)])
    ds = export_dataset(store, settings, home, "coder", format=fmt, cluster_cap=1.0)
    files = {"train": str(ds.path / "train.jsonl"), "validation": str(ds.path / "val.jsonl")}
    loaded = load_dataset("json", data_files=files, cache_dir=str(tmp_path / "hf"))
    assert loaded["train"].num_rows == ds.counts["train"] and loaded["validation"].num_rows == ds.counts["val"]
    assert loaded["validation"].num_rows > 0
    assert all(row["check"]["kind"] == "taskpack" for row in loaded["validation"])


def test_messages_keep_the_conversation():
    chat = orjson.dumps([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"}]).decode()
    assert conversation(chat, None, "Hello") == [
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"}]
    assert conversation("plain [text] input", None, "ok") == [
        {"role": "user", "content": "plain [text] input"}, {"role": "assistant", "content": "ok"}]
    assert conversation("[not json", None, "ok")[0] == {"role": "user", "content": "[not json"}
    tools = orjson.dumps([{"role": "developer", "content": "rules"}, {"role": "user", "content": "go"},
                          {"role": "assistant", "content": None}, {"role": "tool", "content": "done"}]).decode()
    assert [m["role"] for m in conversation(tools, None, "fine")] == ["system", "user", "user", "assistant"]


@pytest.mark.parametrize("input_raw,task,output", [("q", None, "  \n"), (None, None, "a"), ("[]", "", "a"),
                                                   (orjson.dumps([{"role": "system", "content": "s"}]).decode(),
                                                    None, "a")])
def test_runs_that_are_not_examples(input_raw, task, output):
    with pytest.raises(NotAnExample):
        conversation(input_raw, task, output)
