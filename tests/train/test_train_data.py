"""The messages format, the deterministic split, tokenization with assistant-only labels, step plans."""

import json

import pytest

from edgelearn.errors import TrainingError
from edgelearn.train import data as D
from edgelearn.train.split import split_of


def write_lines(path, lines):
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


@pytest.mark.parametrize("line,message", [
    ("{not json", r"bad\.jsonl:2: not JSON"),
    ({"messages": []}, r"bad\.jsonl:2: expected an object with a non-empty 'messages' list"),
    ({"messages": [{"role": "robot", "content": "x"}]}, r"messages\[0\] needs a role"),
    ({"messages": [{"role": "user", "content": "x"}]}, "the last message must be the assistant's answer"),
])
def test_bad_lines_name_file_and_line(tmp_path, convention, line, message):
    path = write_lines(tmp_path / "bad.jsonl", [convention.lines()[0], line])
    with pytest.raises(TrainingError, match=message):
        D.read_examples(path)


def test_split_is_deterministic_order_independent_and_never_empty(tmp_path, convention):
    lines = convention.lines()
    a = D.split_file(write_lines(tmp_path / "a.jsonl", lines), tmp_path / "A", 0.2)
    b = D.split_file(write_lines(tmp_path / "b.jsonl", lines[::-1]), tmp_path / "B", 0.2)
    val_a = {json.loads(x)["run_id"] for x in (tmp_path / "A" / "val.jsonl").read_text().splitlines()}
    val_b = {json.loads(x)["run_id"] for x in (tmp_path / "B" / "val.jsonl").read_text().splitlines()}
    assert a == b and val_a == val_b and 0 < len(val_a) < len(lines)
    assert val_a == {x["run_id"] for x in lines if D.is_validation(x, 0.2)}
    assert val_a == {x["run_id"] for x in lines if split_of(x["run_id"], 0.2) == "val"}  # as in a curated dataset
    tiny = D.split_file(write_lines(tmp_path / "t.jsonl", lines[:2]), tmp_path / "T", 0.2)
    assert tiny == {"train": 1, "val": 1}
    with pytest.raises(TrainingError, match="at least 2 examples"):
        D.split_file(write_lines(tmp_path / "one.jsonl", lines[:1]), tmp_path / "O", 0.2)


def test_labels_cover_the_final_answer_and_its_end_of_turn_only(smol_tokenizer):
    tok = smol_tokenizer
    eot = D.end_of_turn_ids(tok)
    assert tok.convert_ids_to_tokens(eot[0]) == "<|im_end|>"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello there"}, {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "Goodbye"}]
    enc = D.encode(tok, messages, 1024, eot)
    labelled = tok.decode([t for t, lab in zip(enc.ids, enc.labels) if lab])
    assert labelled == "Goodbye<|im_end|>"  # earlier turns are the agent's history, not the run's answer
    # the tokens before the last answer are exactly the inference prompt (generation prompt included)
    prompt = D.prompt_ids(tok, messages[:-1])
    assert enc.ids[:len(prompt)] == prompt
    assert prompt == tok.apply_chat_template(messages[:-1], add_generation_prompt=True)["input_ids"]
    assert tok.decode(enc.ids) == tok.apply_chat_template(messages, tokenize=False).rstrip("\n") + "\n"


def test_truncation_that_cuts_every_answer_drops_the_example(smol_tokenizer, convention):
    tok = smol_tokenizer
    eot = D.end_of_turn_ids(tok)
    kept, dropped = D.encode_all(tok, convention.lines()[:3], 10, eot)  # the system prompt alone is longer
    assert kept == [] and dropped == 3


def test_step_plan_covers_each_epoch_and_rows_respect_the_limit():
    steps = D.plan_steps([5] * 7, batch_size=2, epochs=2, seed=3)
    flat = [i for s in steps for i in s]
    assert len(flat) == 14 and sorted(flat) == sorted(list(range(7)) * 2) and len(steps) == 7
    assert steps == D.plan_steps([5] * 7, batch_size=2, epochs=2, seed=3)
    rows = D.pack_rows([0, 1, 2, 3], [60, 50, 30, 20], max_row=80)
    assert sorted(i for r in rows for i in r) == [0, 1, 2, 3]
    assert all(sum([60, 50, 30, 20][i] for i in r) <= 80 for r in rows) and len(rows) == 2


def test_examples_that_begin_alike_pack_by_what_follows_their_shared_prefix():
    prefix = list(range(100, 160))  # an agent's system prompt and tools: 60 tokens
    seqs = [prefix + [1] * 10, prefix + [2] * 12, prefix + [3] * 8, [7] * 40]
    lengths = [len(s) for s in seqs]
    assert D.row_width(seqs[:3]) == 60 + 10 + 12 + 8 and D.row_width([seqs[0], seqs[3]]) == 70 + 40
    assert D.pack_rows([0, 1, 2, 3], lengths, max_row=100) == [[1], [0], [2], [3]]  # by length, none fit together
    rows = D.pack_rows([0, 1, 2, 3], lengths, max_row=100, seqs=seqs)
    assert rows == [[1, 0, 2], [3]]  # the three agent examples in one row of 90 positions
    assert all(D.row_width([seqs[i] for i in r]) <= 100 for r in rows)
    # a row wider than max_row only while it computes no more attention than separate rows would
    assert D.pack_rows([0, 1, 2], lengths[:3], max_row=75, seqs=seqs, wide_row=100) == [[1, 0, 2]]
    assert D.pack_rows([0, 3], lengths, max_row=75, seqs=seqs, wide_row=200) == [[0], [3]]  # 110² > 70² + 40²


def test_steps_take_examples_that_begin_alike_together():
    groups = ["agent"] * 9 + ["code"] * 5  # 9 agent turns behind one prefix, 5 short code examples
    steps = D.plan_steps([5] * 14, batch_size=4, epochs=2.5, seed=1, groups=groups)
    flat = [i for s in steps for i in s]
    assert len(flat) == 35 and steps == D.plan_steps([5] * 14, batch_size=4, epochs=2.5, seed=1, groups=groups)
    first = steps[:4]  # one epoch: 2 agent steps, 1 code step, 1 of both groups' remainders
    assert sorted(i for s in first for i in s) == list(range(14))
    assert sorted(len({groups[i] for i in s}) for s in first) == [1, 1, 1, 2]
    assert sorted(flat) == sorted(list(range(14)) * 2 + flat[28:]) and len(set(flat[28:])) == 7
    mixed = D.plan_steps([5] * 14, batch_size=4, epochs=2.5, seed=1, groups=list(range(14)))
    assert sorted(i for s in mixed[:4] for i in s) == list(range(14))  # every example its own group


def test_parity_prompts_take_validation_first_then_distinct_training_prompts_that_fit():
    from edgelearn.train.reference import pick_prompts

    validation = [[1, 2], [3] * 9, [4, 5]]  # [3]*9 is longer than max_len
    training = [[1, 2], [6], [7, 8], [9]]
    read: list[list[int]] = []

    def lazily(prompts):
        for p in prompts:
            read.append(p)
            yield p

    assert pick_prompts(validation, training, limit=4, max_len=8) == ([[1, 2], [4, 5], [6], [7, 8]], 2)
    assert pick_prompts(validation, lazily(training), limit=2, max_len=8) == ([[1, 2], [4, 5]], 2)
    assert read == []  # validation was enough: no training prompt was tokenized
    assert pick_prompts(validation, lazily(training), limit=3, max_len=8) == ([[1, 2], [4, 5], [6]], 2)
    assert read == [[1, 2], [6]]  # reading stops at the limit
    assert pick_prompts([], training, limit=10, max_len=1) == ([[6], [9]], 0)
