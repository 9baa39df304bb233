"""The demo task pack: its shape, its split, and the checker that scores answers."""

from __future__ import annotations

import ast
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from edgelearn.demo import pack_build
from edgelearn.demo.pack import SYSTEM_PROMPT, Task, check, extract_code, library_dir, load_pack

TIDEKIT_FUNCTIONS = {
    "berth", "brine", "crest", "drift", "gauge", "hull", "levy", "moor", "ripple", "shoal",
    "spindle", "swell", "to_tu", "keel",
}


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return load_pack()


def _used_functions(task: Task) -> set[str]:
    tree = ast.parse(task.reference)
    return {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "tidekit"
            for a in n.names}


def test_pack_loads_with_the_expected_shape(tasks):
    assert 120 <= len(tasks) <= 150
    assert {t.split for t in tasks} == {"train", "heldout"}
    held = [t for t in tasks if t.split == "heldout"]
    assert len(held) >= 30
    assert 0.25 <= len(held) / len(tasks) <= 0.30
    assert all(t.entry == "solve" for t in tasks)


def test_ids_are_unique(tasks):
    assert len({t.id for t in tasks}) == len(tasks)


def test_library_dir_holds_tidekit():
    assert (library_dir() / "tidekit" / "__init__.py").is_file()
    assert "tidekit" in SYSTEM_PROMPT


def test_pack_file_matches_the_builder(tasks):
    built = pack_build.build_tasks()
    assert [json.dumps(t, sort_keys=True) for t in built] == [
        json.dumps(t.__dict__, sort_keys=True) for t in tasks
    ]


def test_tests_never_import_the_reference(tasks):
    for task in tasks:
        assert "import" not in task.tests
        assert all(line.startswith("assert solve(") for line in task.tests.splitlines())


def test_every_reference_passes_all_its_tests(tasks):
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda t: check(t, f"```python\n{t.reference}```"), tasks))
    failures = [(t.id, r) for t, r in zip(tasks, results) if not r.ok]
    assert not failures
    assert all(r.total == 3 for r in results)


def test_every_reference_calls_tidekit(tasks):
    for task in tasks:
        used = _used_functions(task)
        assert used and used <= TIDEKIT_FUNCTIONS
    assert set().union(*(_used_functions(t) for t in tasks)) == TIDEKIT_FUNCTIONS


def test_a_wrong_answer_fails(tasks):
    task = tasks[0]
    result = check(task, "```python\ndef solve(text):\n    return sum(map(ord, text))\n```")
    assert result.compiled and result.passed < result.total and not result.ok
    assert result.error


def test_a_guessed_import_fails(tasks):
    result = check(tasks[0], "```python\nfrom tidekit import checksum\n\ndef solve(text):\n    return checksum(text)\n```")
    assert result.compiled and result.passed == 0
    assert "ImportError" in result.error


def test_a_syntax_error_does_not_compile(tasks):
    result = check(tasks[0], "```python\ndef solve(text)\n    return 1\n```")
    assert result.compiled is False and result.passed == 0 and result.total == 3


def test_an_infinite_loop_times_out(tasks):
    result = check(tasks[0], "def solve(text):\n    while True:\n        pass\n", timeout_s=1.0)
    assert result.error == "timeout" and result.passed == 0
    assert result.duration_s < 5


def test_partial_answers_count_each_assert(tasks):
    task = next(t for t in tasks if t.reference.strip().endswith("return ripple(text)"))
    first = ast.literal_eval(task.tests.splitlines()[0].split("solve(", 1)[1].split(") ==", 1)[0])
    answer = f"from tidekit import ripple\n\ndef solve(text):\n    return ripple(text) if text == {first!r} else -1\n"
    result = check(task, answer)
    assert (result.passed, result.total) == (1, 3)


def test_extract_code_takes_the_first_block():
    text = "Here:\n```python\nx = 1\n```\nand\n```python\ny = 2\n```"
    assert extract_code(text) == "x = 1\n"
    assert extract_code("x = 3") == "x = 3\n"
    assert extract_code("```\nz = 4\n```") == "z = 4\n"
    assert extract_code("```python\nunterminated = 5") == "unterminated = 5\n"


def test_train_and_heldout_are_disjoint(tasks):
    train = [t for t in tasks if t.split == "train"]
    held = [t for t in tasks if t.split == "heldout"]
    assert not {t.id for t in train} & {t.id for t in held}
    assert not {t.prompt for t in train} & {t.prompt for t in held}
    assert not {t.reference for t in train} & {t.reference for t in held}


def test_heldout_functions_are_taught_by_train(tasks):
    taught = set().union(*(_used_functions(t) for t in tasks if t.split == "train"))
    for task in tasks:
        if task.split == "heldout":
            assert _used_functions(task) <= taught, task.id
