"""Redaction measured on a labeled corpus, and PII kept out of the database file itself."""

from __future__ import annotations

import random

from pii_corpus import NEGATIVES, POSITIVES

from edgelearn.record.privacy import _DETECTORS, Redactor, _first_wins

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


def _every_detector_everywhere(text: str) -> list[tuple[int, int, str]]:
    """The reference: every detector over the whole text, with no gate or digit-run filtering."""
    found = []
    for prio, det in enumerate(_DETECTORS):
        if det.finder is not None:
            found += [(s, prio, e, det.kind) for s, e in det.finder(text)]
        else:
            found += [(m.start(), prio, m.end(), det.kind) for m in det.regex.finditer(text)
                      if det.accept is None or det.accept(m)]
    return _first_wins(found)


def test_gates_and_digit_runs_never_hide_a_match():
    # for speed a detector runs only where its gate passes, and the numeric kinds only search runs of
    # digit-like characters: that must find what every detector over the whole text finds
    texts = [text for _, text, _ in POSITIVES] + list(NEGATIVES) + [
        "k-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
        "fe80::1:2:3:4 and 1:2:3:4:5:6:7:8", "::1:2:3::4", "a:1:2:3::ff", "glpat-----BEGIN",
        "xoxb-12345678901234 eyJ.eyJ", "Bearer " + "a" * 30 + " 4111-1111-1111-1111@", "(415) 555-0132::",
    ]
    pieces = ["k", "-", "--", "-----BEGIN", "::", ":", "ab", "1", "12", "415", "555-0132", "@", "x.io", " ",
              ".", "(", ")", "+", "e", "yJ", "earer", "AKIA", "ox", "4111", "7", "0"]
    rng = random.Random(7)
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(3, 40))) for _ in range(3000)]
    texts += [a + b for a, b in zip(texts[:200], reversed(texts[:200]))]
    redactor = Redactor()
    wrong = [(t, redactor.findings(t)) for t in texts
             if redactor._spans(t) != _every_detector_everywhere(t)]
    assert not wrong, wrong[:3]
