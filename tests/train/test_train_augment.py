"""Copy augmentation (train.augment): which span an example copies, and the variants built from it."""

from __future__ import annotations

import json

from edgelearn.train.augment import copied_span, copy_variants


def _row(user: str, name: str, arguments: dict) -> dict:
    return {"messages": [{"role": "system", "content": "You are quill's agent."}, {"role": "user", "content": user},
                         {"role": "assistant", "content": "", "tool_calls": [
                             {"id": "c1", "type": "function",
                              "function": {"name": name, "arguments": json.dumps(arguments)}}]}],
            "tools": [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}]}


def _call(row: dict) -> tuple[str, dict]:
    fn = row["messages"][-1]["tool_calls"][0]["function"]
    return fn["name"], json.loads(fn["arguments"])


def test_the_copied_span_is_the_longest_run_of_words_inside_an_argument():
    assert copied_span(_row("Deploy gateway to staging.", "ship", {"target": "gateway@stg"})) == "gateway"
    # "stg" is in the argument too, but three characters are a convention, not a name
    assert copied_span(_row("Try gateway out on stg.", "ship", {"target": "gateway@stg"})) == "gateway"
    assert copied_span(_row("File a bug: export drops the last row", "ticket",
                            {"queue": "QB", "title": "export drops the last row"})) == "export drops the last row"
    assert copied_span(_row("Read src/app/main.py please", "read", {"path": "src/app/main.py"})) == "src/app/main.py"


def test_an_example_that_copies_nothing_has_no_span():
    assert copied_span(_row("Run every test.", "test", {"suite": "all"})) is None
    text = {"messages": [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello."}]}
    assert copied_span(text) is None
    unparsable = _row("Deploy gateway.", "ship", {})
    unparsable["messages"][-1]["tool_calls"][0]["function"]["arguments"] = "{not json"
    assert copied_span(unparsable) is None


def test_variants_swap_a_copied_name_in_the_request_and_the_call_alike():
    rows = [_row("Deploy gateway to staging.", "ship", {"target": "gateway@stg"}),
            _row("Run the lexer tests.", "test", {"suite": "qk-lexer"}),
            _row("Open the code of mailer.", "read", {"path": "src/quill/mailer/core.py"}),
            _row("File a bug: export drops the last row", "ticket", {"queue": "QB", "title": "export drops the last row"}),
            _row("Request a feature: dark mode", "ticket", {"queue": "QF", "title": "dark mode"}),
            {"messages": [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello."}]}]
    variants = copy_variants(rows, 2, seed=0)
    # every row that copies a name gets 2 donors of the other names; a title is a phrase: not varied
    assert len(variants) == 3 * 2
    for v in variants:
        user = v["messages"][1]["content"]
        name, arguments = _call(v)
        span = copied_span(v)
        assert span and span in user, (user, arguments)
        if name == "ship":
            assert arguments == {"target": f"{span}@stg"} and user == f"Deploy {span} to staging."
        if name == "test":
            assert arguments == {"suite": f"qk-{span}"} and span in ("gateway", "mailer")
        assert name != "ticket"
    assert rows[0]["messages"][1]["content"] == "Deploy gateway to staging."  # the originals are not touched
    assert copy_variants(rows, 2, seed=0) == variants and copy_variants(rows, 0, seed=0) == []


def test_the_span_is_swapped_as_a_whole_word_in_the_request():
    rows = [_row("Deploy api to staging, the api team asks.", "ship", {"target": "apis@stg"}),
            _row("Test the chat module, not chatbot.", "test", {"suite": "qk-chat"}),
            _row("Test worker.", "test", {"suite": "qk-worker"})]
    variants = copy_variants(rows, 1, seed=1)
    chat = next(v for v in variants if "not chatbot" in v["messages"][1]["content"])
    assert chat["messages"][1]["content"] == "Test the worker module, not chatbot."
    assert _call(chat)[1] == {"suite": "qk-worker"}


def test_a_trajectory_is_swapped_everywhere_and_a_span_of_the_setup_is_left_alone():
    history = _row("Fix the failing test in planner.", "read", {"path": "src/planner.py"})
    history["messages"][-1:] = [
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c0", "type": "function", "function": {"name": "test", "arguments": '{"suite": "planner"}'}}]},
        {"role": "tool", "tool_call_id": "c0", "content": "FAILED test_planner.py::test_planner_order"},
        {"role": "user", "content": "Now read planner."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "read", "arguments": '{"path": "src/planner.py"}'}}]}]
    setup = _row("Read the ledger.", "read", {"path": "src/ledger.py"})
    setup["messages"][0]["content"] += " The ledger module holds the accounts."
    rows = [history, setup, _row("Read mailer.", "read", {"path": "src/mailer.py"})]
    variants = copy_variants(rows, 1, seed=0)
    assert len(variants) == 2  # the ledger row names its span in the system turn: not swapped, not a donor
    swapped = next(v for v in variants if v["messages"][2]["tool_calls"][0]["id"] == "c0")
    contents = [m["content"] for m in swapped["messages"]]
    assert contents[1] == "Fix the failing test in mailer." and contents[4] == "Now read mailer."
    assert contents[3] == "FAILED test_planner.py::test_planner_order"  # not a whole word there
    assert json.loads(swapped["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"suite": "mailer"}
    assert _call(swapped)[1] == {"path": "src/mailer.py"}


def test_vocabulary_words_are_donors_for_one_word_names_except_the_excluded(smol_tokenizer):
    from edgelearn.train.augment import spelled_words

    words = spelled_words(smol_tokenizer, 50, exclude=frozenset({"payments"}))
    assert len(words) == 50 and "payments" not in words
    for w in words:  # one token after a space, several without: the spelling a copy has to learn
        assert len(smol_tokenizer.encode(" " + w, add_special_tokens=False)) == 1
        assert len(smol_tokenizer.encode(w, add_special_tokens=False)) > 1
    assert "payments" in spelled_words(smol_tokenizer, 10 ** 6)
    rows = [_row("Deploy gateway to staging.", "ship", {"target": "gateway@stg"}),
            _row("File a bug: export drops the last row", "ticket", {"queue": "QB", "title": "export drops the last row"})]
    variants = copy_variants(rows, 3, seed=0, words=words)
    ship = [_call(v)[1]["target"] for v in variants if _call(v)[0] == "ship"]
    assert len(ship) == 3 and all(t.removesuffix("@stg") in words for t in ship)
    assert not [v for v in variants if _call(v)[0] == "ticket"]  # a title is a phrase: not varied


def test_a_long_request_and_an_earlier_call_that_is_not_json():
    long = _row(" ".join(["please"] * 3000) + " then read the ledger module.", "read", {"path": "src/ledger/core.py"})
    assert copied_span(long) == "ledger"
    long["messages"][-1:] = [
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c0", "type": "function", "function": {"name": "read", "arguments": "ledger {oops"}}]},
        {"role": "tool", "tool_call_id": "c0", "content": "error: arguments are not JSON"},
        {"role": "user", "content": "Read the ledger module."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "read", "arguments": {"path": "src/ledger/core.py"}}}]}]
    variants = copy_variants([long, _row("Read mailer.", "read", {"path": "src/mailer.py"})], 1, seed=0)
    swapped = next(v for v in variants if len(v["messages"]) > 3)
    assert swapped["messages"][2]["tool_calls"][0]["function"]["arguments"] == "mailer {oops"
    assert swapped["messages"][-1]["tool_calls"][0]["function"]["arguments"] == {"path": "src/mailer/core.py"}


def test_phrase_variants_swap_a_title_among_calls_of_the_same_tool_only():
    rows = [_row("Deploy gateway to staging.", "ship", {"target": "gateway@stg"}),
            _row("Run the lexer tests.", "test", {"suite": "qk-lexer"}),
            _row("File a bug: export drops the last row", "ticket", {"queue": "QB", "title": "export drops the last row"}),
            _row("This is broken, ticket it: search ignores accents", "ticket",
                 {"queue": "QB", "title": "search ignores accents"}),
            _row("Request a feature: dark mode for the dashboard", "ticket",
                 {"queue": "QF", "title": "dark mode for the dashboard"}),
            _row("Commit with the message: fix the parser", "commit", {"message": "fix the parser"})]
    names_only = copy_variants(rows, 2, seed=0)
    variants = copy_variants(rows, 2, seed=0, phrases=True)
    assert variants[:len(names_only)] == names_only  # the name variants are drawn as before
    phrased = variants[len(names_only):]
    titles = {"export drops the last row", "search ignores accents", "dark mode for the dashboard"}
    # each ticket gets the 2 other tickets' titles; the commit message has no donor of its own tool
    assert len(phrased) == 3 * 2
    for original, v in zip([r for r in rows[2:5] for _ in range(2)], phrased):
        name, arguments = _call(v)
        _, before = _call(original)
        assert name == "ticket" and arguments["queue"] == before["queue"]  # the queue follows the wording
        assert arguments["title"] in titles - {before["title"]}
        prefix = original["messages"][1]["content"].removesuffix(before["title"])
        assert v["messages"][1]["content"] == prefix + arguments["title"]
    assert "fix the parser" not in json.dumps(phrased)
