"""Train / validation split by a hash of the run id.

A run's side depends on its id and ``val_fraction`` alone, never on which other runs are in
the dataset: when new runs arrive, a validation run stays in validation (no leak of evaluated
examples into training), and a training run stays in training.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def split_of(run_id: str, val_fraction: float) -> str:
    """``"val"`` or ``"train"`` for this run id."""
    digest = hashlib.sha256(b"edgelearn-split\x00" + run_id.encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / _SCALE < val_fraction else "train"
