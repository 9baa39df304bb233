"""Rehearsal: mixing examples of earlier datasets back in, so new runs do not crowd out old skills.

Only when a pass stopped at ``max_examples`` (newer or better runs filled it) does rehearsal
have anything to do: a share ``rehearsal`` of the slots goes to runs of the role's earlier
datasets that the pass did not reach (still eligible, not duplicates of kept runs). Which
ones is decided by a hash of the run id (a fair, repeatable sample across all earlier
datasets), streamed through a bounded heap. The lowest-ranked fresh runs give up their slots;
slots rehearsal cannot fill go back to them. Rehearsed runs are not held to the cluster cap
again (it applied when they were first chosen).
"""

from __future__ import annotations

import hashlib
import heapq
import math

from edgelearn.curate.select import DatasetPick, DatasetSelector

OVERSAMPLE = 4  # rehearsal candidates drawn per slot, since some turn out to be duplicates


def _order(run_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=8, person=b"rehearse").digest(), "big")


def rehearse(selector: DatasetSelector, role: str, watermark: int) -> int:
    """Swap up to ``rehearsal * max_examples`` of the weakest fresh picks for earlier examples.

    Returns how many rehearsal examples were added.
    """
    cfg = selector.cfg
    slots = math.floor(cfg.rehearsal * cfg.max_examples)
    if slots <= 0 or selector.exhausted or selector.last_key is None or len(selector.picks) < cfg.max_examples:
        return 0
    heap: list[tuple[int, int, str, float, str]] = []  # min-heap of negated keys: keeps the smallest keys
    for seq, rid, reward, h in selector.repo.earlier_members(role, cfg.min_reward, watermark, selector.last_key):
        item = (-_order(rid), seq, rid, reward, h)
        if len(heap) < slots * OVERSAMPLE:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)
    if not heap:
        return 0
    chosen = sorted(heap, reverse=True)  # smallest order key first
    given_up = selector.pop_last(slots)
    vecs = selector.vectors([seq for _, seq, _, _, _ in chosen])
    added = 0
    for (_, seq, rid, reward, h), vec in zip(chosen, vecs):
        if added == slots:
            break
        if not selector.first_sighting(h):
            continue
        if selector.offer(DatasetPick(seq, rid, reward, -1, source="rehearsal"), vec):
            added += 1
    for pick, vec in given_up[:slots - added]:
        selector.kept.push(pick, vec)
    return added
