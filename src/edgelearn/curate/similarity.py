"""How alike two outputs are, for near-duplicate detection.

Two runs are near duplicates only when their tasks are nearly the same (embedding cosine)
AND their outputs are nearly the same: two different answers to similar tasks are both
worth training on. Output similarity is the Jaccard index of the sets of token bigrams of
the whitespace-normalized outputs: bigrams keep some order (``a - b`` vs ``a + b`` differ),
and a set comparison costs microseconds where ``difflib`` costs a millisecond on long code.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

# tokens: identifiers and numbers, or single punctuation characters
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WS = re.compile(r"\s+")
MAX_COMPARE_CHARS = 8000  # long outputs are compared on their beginning: bounded cost and memory


def normalize(text: str) -> str:
    """Whitespace collapsed and trimmed (the same normalization as the content hash)."""
    return _WS.sub(" ", text).strip()


class OutputShape:
    """What an output is compared by: a digest of its normalized text and its token bigrams
    (as a sorted array of 64-bit hashes: a tenth of the memory of a set of tuples)."""

    __slots__ = ("digest", "grams")

    def __init__(self, text: str) -> None:
        norm = normalize(text[:MAX_COMPARE_CHARS])
        self.digest = hashlib.blake2b(norm.encode(), digest_size=8).digest()
        tokens = _TOKEN.findall(norm)
        grams = zip(tokens, tokens[1:]) if len(tokens) > 1 else tokens
        self.grams = np.fromiter(set(map(hash, grams)), dtype=np.int64)  # distinct; order does not matter


def similarity(a: OutputShape, b: OutputShape) -> float:
    """Jaccard index of the two outputs' token bigrams; 1.0 for equal normalized text."""
    if a.digest == b.digest:
        return 1.0
    if not len(a.grams) and not len(b.grams):
        return 1.0
    inter = len(set(a.grams.tolist()).intersection(b.grams.tolist()))  # faster than numpy on small sets
    return inter / (len(a.grams) + len(b.grams) - inter)
