"""Keeping the garbage collector's full passes short in a long-running process.

A full (generation 2) collection walks every tracked object while holding the GIL. With torch
and the embedding model loaded that is about half a million objects and a quarter of a second
(bench/RESULTS.md, "Measurements behind choices in the code"), during which the event loop serves nothing. Objects that
live as long as the process (modules, the app, a loaded model) are moved to the permanent
generation once they exist, so later full passes only walk what was created since.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect what is garbage now, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()
