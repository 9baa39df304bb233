"""Choosing a role's examples from its runs: best first, deduplicated, capped per cluster.

The selector streams eligible runs (status ok, reward >= min_reward) best first in pages of
keys, so memory depends on ``max_examples`` and the page size, never on how many runs are
stored: per examined run it keeps an 8-byte content-hash key (exact duplicates), and per
kept run a pick, its 384-d vector and the shape of its output. It stops as soon as
``max_examples`` runs are kept; everything after that point is "over_max_examples".

For each run, in order: an exact duplicate (same content hash and tool calls as a run already
examined) is dropped; a run without output or input is "unusable"; a run whose task embedding has cosine
>= ``dedup_threshold`` with a kept run AND whose output is near-identical to that run's
(``similarity`` of text and tool calls) is a near duplicate (the kept run ranks higher, so the better-rewarded run
stays); a run joins the cluster of its most similar kept run when that cosine reaches
``cluster_similarity`` (else it starts a cluster), and is dropped when its cluster is full.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from edgelearn.curate.similarity import OutputShape, similarity
from edgelearn.curate.tools import answer_text, calls_key
from edgelearn.embed.encode import EMBED_DIM, task_text

PAGE = 4096  # keys per query; vectors of a page are read together (vec0 lookups close in seq are cheaper)
BLOCK = 512  # candidates compared with the kept runs in one matrix product
MAX_COMPARE = 64  # outputs compared per candidate: its most similar kept runs

Progress = Callable[[int, int], None]
Encoder = Callable[[Sequence[str]], np.ndarray]
_EMPTY = np.empty(0, dtype=np.float32)


@dataclass(slots=True)
class DatasetPick:
    """A run chosen for the dataset."""

    seq: int
    id: str
    reward: float
    cluster: int
    source: str = "fresh"  # fresh | rehearsal


def hash_key(content_hash: str, calls_json: str | None = None) -> int:
    """64 bits of the content hash (mixed with the answer's tool calls when it made any: the stored hash
    covers input and text only): enough to tell runs apart, a fraction of the string's memory."""
    if calls_json:
        digest = hashlib.blake2b(f"{content_hash}\x00{calls_key(calls_json)}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")
    return int(content_hash[:16], 16)


class Kept:
    """The runs kept so far, in rank order, with their vectors, clusters and output shapes."""

    def __init__(self) -> None:
        self.picks: list[DatasetPick] = []
        self.vecs = np.empty((256, EMBED_DIM), dtype=np.float32)
        self.cluster_sizes: Counter[int] = Counter()
        self.shapes: dict[int, OutputShape] = {}

    def __len__(self) -> int:
        return len(self.picks)

    def push(self, pick: DatasetPick, vec: np.ndarray) -> None:
        n = len(self.picks)
        if n == len(self.vecs):
            grown = np.empty((2 * n, EMBED_DIM), dtype=np.float32)
            grown[:n] = self.vecs[:n]
            self.vecs = grown
        self.vecs[n] = vec
        self.picks.append(pick)
        self.cluster_sizes[pick.cluster] += 1

    def pop(self) -> tuple[DatasetPick, np.ndarray]:
        pick = self.picks.pop()
        self.cluster_sizes[pick.cluster] -= 1
        self.shapes.pop(pick.seq, None)
        return pick, self.vecs[len(self.picks)].copy()

    def keep_only(self, indices: list[int]) -> None:
        self.vecs = self.vecs[indices].copy()
        self.picks = [self.picks[i] for i in indices]
        self.cluster_sizes = Counter(p.cluster for p in self.picks)
        seqs = {p.seq for p in self.picks}
        self.shapes = {s: v for s, v in self.shapes.items() if s in seqs}


class DatasetSelector:
    """One curation pass over one role (see the module docstring)."""

    def __init__(self, store, cfg, *, encode: Encoder | None = None, save_embeddings: bool = True) -> None:
        self.repo = store.datasets
        self.store = store
        self.cfg = cfg
        self._encode = encode
        self._save = save_embeddings
        self.target = cfg.max_examples
        self.cluster_limit = max(1, math.floor(cfg.cluster_cap * cfg.max_examples))
        self.kept = Kept()
        self._clusters = 0
        self.seen: set[int] = set()
        self.rejected: Counter[str] = Counter()
        self.examined = 0
        self.embedded_now = 0
        self.last_key: tuple[float, int] | None = None
        self.exhausted = False

    @property
    def picks(self) -> list[DatasetPick]:
        return self.kept.picks

    # --- the scan -------------------------------------------------------------------------------
    def scan(self, role: str, watermark: int, eligible: int, progress: Progress | None = None) -> None:
        """Examine eligible runs best first until ``max_examples`` are kept or none are left."""
        after = None
        # the first page asks for little more than max_examples: most passes end in it
        limit = min(PAGE, self.target + 64)
        while len(self.kept) < self.target:
            keys = self.repo.candidate_keys(role, self.cfg.min_reward, watermark, after, limit)
            if keys:
                self._page(keys)
                after = (keys[-1][2], keys[-1][0])
                if progress:
                    progress(self.examined, eligible)
            if len(keys) < limit and len(self.kept) < self.target:
                self.exhausted = True
                break
            limit = PAGE
        if self.exhausted:
            self._final_cluster_cap()

    def _page(self, keys: list[tuple[int, str, float, str, bool, str | None]]) -> None:
        need, local = [], set()
        for seq, _, _, h, usable, calls in keys:
            k = hash_key(h, calls)
            if usable and k not in self.seen and k not in local:
                need.append(seq)
            local.add(k)
        vecs = self.vectors(need)
        rows = {seq: i for i, seq in enumerate(need)}
        for start in range(0, len(keys), BLOCK):
            if len(self.kept) >= self.target:
                return
            self._block(keys[start:start + BLOCK], vecs, rows)

    def _block(self, keys, vecs: np.ndarray, rows: dict[int, int]) -> None:
        n0 = len(self.kept)
        idx = [rows[k[0]] for k in keys if k[0] in rows]
        old = vecs[idx] @ self.kept.vecs[:n0].T if n0 and idx else None
        at = {row: j for j, row in enumerate(idx)}
        shapes: dict[int, OutputShape] = {}
        if old is not None:  # outputs to compare, fetched in one query per block
            best = old.max(axis=1)
            near = [k[0] for k in keys if k[0] in rows and best[at[rows[k[0]]]] >= self.cfg.dedup_threshold]
            if near:
                shapes = {s: OutputShape(answer_text(*a)) for s, a in self.repo.answers(near).items()}
        for seq, rid, reward, h, usable, calls in keys:
            if len(self.kept) >= self.target:
                return
            self.last_key = (reward, seq)
            if not self.first_sighting(h, calls):
                continue
            if not usable:
                self.rejected["unusable"] += 1
                continue
            vec = vecs[rows[seq]]
            sims = old[at[rows[seq]]] if old is not None else _EMPTY
            if len(self.kept) > n0:
                sims = np.concatenate([sims, self.kept.vecs[n0:len(self.kept)] @ vec])
            self.offer(DatasetPick(seq, rid, reward, -1), vec, sims, shapes.pop(seq, None))

    def first_sighting(self, content_hash: str, calls_json: str | None = None) -> bool:
        """Count a run as examined; False (counted as an exact duplicate) when its content was seen."""
        self.examined += 1
        k = hash_key(content_hash, calls_json)
        if k in self.seen:
            self.rejected["exact_duplicate"] += 1
            return False
        self.seen.add(k)
        return True

    def offer(self, pick: DatasetPick, vec: np.ndarray, sims: np.ndarray | None = None,
              shape: OutputShape | None = None) -> bool:
        """Keep ``pick`` unless it is a near duplicate of a kept run or its cluster is full."""
        if sims is None:
            sims = self.kept.vecs[:len(self.kept)] @ vec
        if self._near_duplicate(pick.seq, sims, shape):
            self.rejected["near_duplicate"] += 1
            return False
        best = int(sims.argmax()) if len(sims) else -1
        if best >= 0 and sims[best] >= self.cfg.cluster_similarity:
            pick.cluster = self.kept.picks[best].cluster
        else:
            pick.cluster = self._clusters
            self._clusters += 1
        if pick.source == "fresh" and self.kept.cluster_sizes[pick.cluster] >= self.cluster_limit:
            self.rejected["cluster_cap"] += 1
            return False
        self.kept.push(pick, vec)
        return True

    def pop_last(self, count: int) -> list[tuple[DatasetPick, np.ndarray]]:
        """Take the ``count`` lowest-ranked kept runs out again (best of them first)."""
        return [self.kept.pop() for _ in range(min(count, len(self.kept)))][::-1]

    def _final_cluster_cap(self) -> None:
        """With every run examined, hold each cluster to ``cluster_cap`` of the final size.

        The final size depends on what the cap drops, so iterate to the fixed point (it only
        shrinks); a cluster always keeps at least one run.
        """
        size = len(self.kept)
        while True:
            limit = max(1, math.floor(self.cfg.cluster_cap * size))
            new = sum(min(c, limit) for c in self.kept.cluster_sizes.values())
            if new == size:
                break
            size = new
        if size == len(self.kept):
            return
        taken: Counter[int] = Counter()
        keep = []
        for i, pick in enumerate(self.kept.picks):
            taken[pick.cluster] += 1
            if taken[pick.cluster] <= limit:
                keep.append(i)
        self.rejected["cluster_cap"] += len(self.kept) - len(keep)
        self.kept.keep_only(keep)

    # --- near duplicates --------------------------------------------------------------------------
    def _near_duplicate(self, seq: int, sims: np.ndarray, shape: OutputShape | None) -> bool:
        close = np.flatnonzero(sims >= self.cfg.dedup_threshold)
        if not len(close):
            return False
        close = close[np.argsort(-sims[close])][:MAX_COMPARE]
        others = [self.kept.picks[int(j)].seq for j in close]
        shapes = self.kept.shapes
        missing = [s for s in others if s not in shapes] + ([seq] if shape is None else [])
        if missing:
            for s, answer in self.repo.answers(missing).items():
                text = answer_text(*answer)
                if s == seq:
                    shape = OutputShape(text)
                else:
                    shapes[s] = OutputShape(text)  # kept until the run leaves the kept set
        if shape is None:
            return False
        return any(similarity(shape, shapes[s]) >= self.cfg.output_similarity for s in others if s in shapes)

    # --- embeddings -------------------------------------------------------------------------------
    def vectors(self, seqs: list[int]) -> np.ndarray:
        """Unit task vectors of ``seqs`` in that order; runs without one are embedded now."""
        out = np.empty((len(seqs), EMBED_DIM), dtype=np.float32)
        if not seqs:
            return out
        stored = self.repo.vectors(seqs)
        missing = [s for s in seqs if s not in stored]
        if missing:
            stored.update(self._embed(missing))
        for i, seq in enumerate(seqs):
            out[i] = np.frombuffer(stored[seq], dtype=np.float32)
        return out

    def _embed(self, seqs: list[int]) -> dict[int, bytes]:
        encode = self._encode
        if encode is None:
            from edgelearn.embed.encode import embed_texts as encode
        rows = self.repo.embed_inputs(seqs)
        vecs = np.asarray(encode([task_text(task, inp) for _, _, _, task, inp in rows]), dtype=np.float32)
        items = [(seq, role, project, vec.tobytes()) for (seq, role, project, _, _), vec in zip(rows, vecs)]
        if self._save and items:
            self.store.write(lambda c: self.store.runs.store_embeddings_in(c, items))
        self.embedded_now += len(items)
        return {seq: blob for seq, _, _, blob in items}
