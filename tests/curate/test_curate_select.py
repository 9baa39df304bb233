"""Selection: thresholds, exact and near duplicates (real embeddings), cluster cap, max_examples."""

from __future__ import annotations

import numpy as np
import pytest

from edgelearn.curate import export_dataset
from edgelearn.embed.encode import embed_texts

REVERSE = "def reverse(s: str) -> str:\n    return s[::-1]\n"
REVERSE_LOOP = ("def reverse(s: str) -> str:\n    out = []\n    for ch in s:\n        out.insert(0, ch)\n"
                "    return ''.join(out)\n")
DISTINCT = [
    ("Parse an ISO 8601 date string into a datetime object.", "from datetime import datetime\n"
     "def parse(s):\n    return datetime.fromisoformat(s)\n"),
    ("Compute the SHA-256 digest of a file in chunks.", "import hashlib\ndef digest(path):\n"
     "    h = hashlib.sha256()\n    with open(path, 'rb') as f:\n        for b in iter(lambda: f.read(65536), b''):\n"
     "            h.update(b)\n    return h.hexdigest()\n"),
    ("Merge two sorted lists into one sorted list.",
     "import heapq\ndef merge(a, b):\n    return list(heapq.merge(a, b))\n"),
    ("Implement binary search over a sorted array.",
     "import bisect\ndef find(a, x):\n    i = bisect.bisect_left(a, x)\n"
     "    return i if i < len(a) and a[i] == x else -1\n"),
    ("Count the words in a text file.",
     "def count(path):\n    with open(path) as f:\n        return len(f.read().split())\n"),
    ("Flatten a nested list of integers.", "def flatten(xs):\n    out = []\n    for x in xs:\n"
     "        out.extend(flatten(x) if isinstance(x, list) else [x])\n    return out\n"),
    ("Return the n-th Fibonacci number iteratively.", "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n"
     "        a, b = b, a + b\n    return a\n"),
    ("Check whether a string is a valid IPv4 dotted quad without regex.", "def valid(s):\n    parts = s.split('.')\n"
     "    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)\n"),
    ("Read a CSV file and return the rows as dictionaries.", "import csv\ndef rows(path):\n"
     "    with open(path, newline='') as f:\n        return list(csv.DictReader(f))\n"),
    ("Retry an HTTP request with exponential backoff.", "import time\ndef retry(fn, tries=5):\n"
     "    for i in range(tries):\n        try:\n            return fn()\n        except OSError:\n"
     "            time.sleep(2 ** i)\n    return fn()\n"),
]


def _report_adds_up(ds) -> None:
    assert ds.counts["candidates"] == ds.counts["examples"] + sum(ds.rejections.values())


def _kept(ds, examples) -> set[str]:
    return {e["run_id"] for e in examples(ds)}


def test_reward_and_status_thresholds(store, settings, home, add_runs, examples):
    ids = add_runs([
        {"input": "a", "output": "A", "reward": 0.69},
        {"input": "b", "output": "B", "reward": 0.7},
        {"input": "c", "output": "C", "reward": 0.95},
        {"input": "d", "output": "D", "reward": None},
        {"input": "e", "output": "E", "reward": 1.0, "status": "error"},
        {"input": "f", "output": "F", "reward": 1.0, "role": "fixer"},
        {"input": "g", "output": "   ", "reward": 1.0},
        {"input": None, "output": "H", "reward": 1.0},
    ])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert _kept(ds, examples) == {ids[1], ids[2]}
    assert ds.rejections == {"status_not_ok": 1, "unscored": 1, "below_min_reward": 1, "unusable": 2,
                             "exact_duplicate": 0, "near_duplicate": 0, "cluster_cap": 0, "invalid": 0,
                             "tool_call_invalid_json": 0, "tool_not_offered": 0, "tool_call_failed": 0,
                             "too_long": 0, "below_tool_min_reward": 0, "over_max_examples": 0}
    assert ds.counts["candidates"] == 7  # the fixer run is another role's
    _report_adds_up(ds)
    higher = export_dataset(store, settings, home, "coder", min_reward=0.9, cluster_cap=1.0)
    assert _kept(higher, examples) == {ids[2]}
    _report_adds_up(higher)


def test_exact_duplicates_keep_the_better_run(store, settings, home, add_runs, examples):
    ids = add_runs([
        {"input": "Reverse a string.", "output": REVERSE, "reward": 0.8},
        {"input": "Reverse   a string. ", "output": REVERSE.replace("\n", "\n\n"), "reward": 0.9},
        {"input": "Reverse a string.", "output": REVERSE, "reward": 0.9},
        {"input": "Reverse a string.", "output": REVERSE_LOOP, "reward": 0.75},
    ])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    # equal rewards: the newer run ranks first
    assert _kept(ds, examples) == {ids[2], ids[3]}
    assert ds.rejections["exact_duplicate"] == 2
    _report_adds_up(ds)


def test_near_duplicates_with_real_embeddings(store, settings, home, add_runs, examples):
    tasks = ["Write a Python function that reverses a string.", "Write a Python function which reverses a string.",
             "Write a python function that reverses a string"]
    vecs = embed_texts(tasks)
    assert float(vecs[0] @ vecs[1]) >= 0.95 and float(vecs[0] @ vecs[2]) >= 0.95  # the premise
    ids = add_runs([
        {"task": tasks[0], "input": tasks[0], "output": REVERSE_LOOP, "reward": 0.8},
        # same task in other words, same answer with a comment added: a near duplicate, better rewarded
        {"task": tasks[1], "input": tasks[1], "output": REVERSE_LOOP + "# reversed\n", "reward": 0.95},
        # same task again, a different answer: both answers stay
        {"task": tasks[2], "input": tasks[2], "output": REVERSE, "reward": 0.85},
        # a different task with the same answer text: stays (the tasks differ)
        {"task": "Mirror the characters of a word.", "input": "Mirror the characters of a word.",
         "output": REVERSE_LOOP, "reward": 0.7},
    ])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert _kept(ds, examples) == {ids[1], ids[2], ids[3]}
    assert ds.rejections["near_duplicate"] == 1
    assert ds.manifest["embedding"]["embedded_now"] == 4
    assert store.runs.embedding(ids[0]) is not None  # embeddings computed at export are kept
    _report_adds_up(ds)


def test_cluster_cap_holds_a_repeated_task_to_its_share(store, settings, home, add_runs, examples):
    repeated = "Write a Python function that reverses a string."
    rep_ids = add_runs([{"task": repeated, "input": repeated, "reward": 0.9,
                         "output": f"def reverse_{i}(s):\n    return s[::-{1 + i % 2}]  # variant {i} {'x' * i}\n"}
                        for i in range(10)])
    other_ids = add_runs([{"task": t, "input": t, "output": o, "reward": 0.8} for t, o in DISTINCT])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=0.2)
    kept = _kept(ds, examples)
    assert set(other_ids) <= kept
    kept_repeated = kept & set(rep_ids)
    assert 1 <= len(kept_repeated) <= 0.2 * len(kept)
    assert ds.rejections["cluster_cap"] == 10 - len(kept_repeated)
    _report_adds_up(ds)
    uncapped = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert _kept(uncapped, examples) == set(rep_ids) | set(other_ids)


def test_max_examples_takes_the_best_and_stops_reading(store, settings, home, add_runs, examples, monkeypatch):
    import edgelearn.curate.select as select

    monkeypatch.setattr(select, "PAGE", 7)  # several keyset pages
    rewards = [0.7 + 0.3 * ((i * 37) % 60) / 60 for i in range(60)]
    ids = add_runs([{"input": f"item {i}", "output": f"answer {i}", "reward": r} for i, r in enumerate(rewards)])
    ds = export_dataset(store, settings, home, "coder", max_examples=10, cluster_cap=1.0, dedup_threshold=1.0)
    best = {ids[i] for i in np.argsort(rewards)[::-1][:10]}
    assert _kept(ds, examples) == best
    assert ds.rejections["over_max_examples"] == 50
    assert ds.manifest["embedding"]["embedded_now"] <= 14  # two pages at most, not all 60 runs
    _report_adds_up(ds)


def test_duplicates_across_page_boundaries(store, settings, home, add_runs, examples, monkeypatch):
    import edgelearn.curate.select as select

    monkeypatch.setattr(select, "PAGE", 3)
    ids = add_runs([{"input": f"job {i % 4}", "output": f"done {i % 4}", "reward": 0.9} for i in range(12)])
    ds = export_dataset(store, settings, home, "coder", cluster_cap=1.0)
    assert _kept(ds, examples) == set(ids[-4:])  # newest first among equal rewards
    assert ds.rejections["exact_duplicate"] == 8
    _report_adds_up(ds)


@pytest.mark.parametrize("override,field", [({"format": "parquet"}, "format"), ({"max_examples": 0}, "max_examples"),
                                            ({"shuffle": True}, "shuffle")])
def test_bad_overrides_name_the_field(store, settings, home, override, field):
    from edgelearn.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        export_dataset(store, settings, home, "coder", **override)
    assert err.value.field == field
