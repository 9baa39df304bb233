"""Redaction measured on a labeled corpus, and PII kept out of the database file itself."""

from __future__ import annotations

from pii_corpus import NEGATIVES, POSITIVES

from edgelearn.privacy import Redactor

KINDS = {"EMAIL", "PHONE", "SSN", "CARD", "IP", "API_KEY", "JWT", "BEARER", "PRIVATE_KEY"}


def test_corpus_is_labeled_and_large_enough():
    assert len(POSITIVES) >= 40 and len(NEGATIVES) >= 40
    assert {kind for kind, _, _ in POSITIVES} == KINDS
    for kind, text, pii in POSITIVES:
        assert pii in text, (kind, text)
    assert len(set(NEGATIVES)) == len(NEGATIVES)


def measure(redactor: Redactor) -> tuple[float, float, list[str], list[str]]:
    """(precision, recall, misses, false positives) of ``redactor.text`` on the corpus."""
    misses = [f"{kind}: {text!r}" for kind, text, pii in POSITIVES if pii in redactor.text(text)]
    false_pos = [f"{text!r} -> {redactor.text(text)!r}" for text in NEGATIVES if redactor.text(text) != text]
    caught = len(POSITIVES) - len(misses)
    precision = caught / (caught + len(false_pos)) if caught else 0.0
    return precision, caught / len(POSITIVES), misses, false_pos


def test_precision_and_recall_on_the_corpus():
    precision, recall, misses, false_pos = measure(Redactor())
    print(f"\nredaction: precision {precision:.3f}, recall {recall:.3f} "
          f"({len(POSITIVES)} positives, {len(NEGATIVES)} negatives)")
    assert recall >= 0.95, "missed:\n" + "\n".join(misses)
    assert precision >= 0.95, "false positives:\n" + "\n".join(false_pos)


def test_each_catch_is_labeled_with_its_kind():
    redactor = Redactor()
    for kind, text, pii in POSITIVES:
        out = redactor.text(text)
        if pii not in out:
            assert f"[REDACTED:{kind}]" in out, (text, out)


def test_blocked_patterns_and_cache_do_not_leak_between_redactors():
    plain, blocked = Redactor(), Redactor([r"acme-\d+"])
    text = "ticket acme-42 for jane.doe@example.com"
    assert plain.text(text) == "ticket acme-42 for [REDACTED:EMAIL]"
    assert blocked.text(text) == "ticket [REDACTED:BLOCKED] for [REDACTED:EMAIL]"
    assert plain.text(text) == "ticket acme-42 for [REDACTED:EMAIL]"  # a cached answer stays per redactor


def test_pii_never_reaches_the_database_file(server):
    redactor = Redactor()
    # every corpus item the redactor catches on its own, sent in every field that is redacted
    items = [(text, pii) for _, text, pii in POSITIVES if pii not in redactor.text(text)]
    texts = [text for text, _ in items]
    blob = "\n".join(texts)
    body = {
        "role": "coder", "task": blob, "output": blob,
        "input": [{"role": "system", "content": texts[0]}, {"role": "user", "content": blob}],
        "signals": {"compile": True, "tests": {"passed": 3, "total": 4, "log": blob}},
        "metadata": {"env": {"notes": texts, "last": texts[-1]}},
    }
    resp = server.client.post("/v1/runs", json=body)
    assert resp.status_code == 201, resp.text
    run_id = resp.json()["id"]
    resp = server.client.post(f"/v1/runs/{run_id}/signals",
                              json={"signals": {"tests": {"passed": 4, "total": 4, "log": blob}}})
    assert resp.status_code == 200, resp.text
    resp = server.client.post(f"/v1/runs/{run_id}/feedback", json={"kind": "score", "value": 4, "comment": blob[:3900]})
    assert resp.status_code == 200, resp.text

    db = server.runtime.store.path
    data = b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    assert b"[REDACTED:EMAIL]" in data  # the run is in the bytes read
    leaked = [pii for _, pii in items if pii.encode() in data]
    assert not leaked, f"{len(leaked)} PII items found in the database file: {leaked[:3]}"
    stored = server.client.get(f"/v1/runs/{run_id}").json()
    assert all(pii not in str(stored) for _, pii in items)
