"""Keeping agents' long prompt prefixes processed in llama.cpp, across interleaved agents.

A loaded ``Llama`` keeps the KV cache of its last request, and ``Llama.generate`` skips the longest
common token prefix: one agent's follow-up call does not process its system prompt and tool schemas
again. A second agent (another role, another session) overwrites that cache, so before a request
throws away a long processed context, the context is saved (``Llama.save_state``), and a request
that shares a longer prefix with a saved context than with the live one gets it back
(``load_state``). Restoring costs a copy of the KV cells (about 23 kB a token for SmolLM2-135M);
processing them costs far more (bench/results/gateway_prefix.md).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

MIN_TOKENS = 256  # shorter contexts are cheaper to process again than to keep


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class PrefixStates:
    """Saved llama.cpp contexts of one loaded model, by their tokens, least recently used dropped first.

    Call ``prepare(llm, tokens)`` under the model's lock right before ``llm.generate(tokens)``.
    """

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self.states: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.saves = self.restores = 0

    @property
    def size_bytes(self) -> int:
        return sum(state.llama_state_size for state in self.states.values())

    def prepare(self, llm: Any, tokens: Sequence[int]) -> int:
        """Save the live context if this request would discard it, restore the best saved one if it shares
        more with ``tokens``; the number of prompt tokens llama.cpp can then skip."""
        if self.capacity_bytes <= 0:
            return common_prefix(llm.input_ids[:llm.n_tokens], tokens)
        live = tuple(int(t) for t in llm.input_ids[:llm.n_tokens])
        shared = common_prefix(live, tokens)
        best, best_shared = None, 0
        for key in self.states:
            n = common_prefix(key, tokens)
            if n > best_shared:
                best, best_shared = key, n
        restore = best is not None and best_shared >= shared + MIN_TOKENS
        if len(live) - shared >= MIN_TOKENS and live not in self.states:
            self._put(live, llm.save_state())
        if restore:
            llm.load_state(self.states[best])
            self.states.move_to_end(best)
            self.restores += 1
            return best_shared
        return shared

    def _put(self, key: tuple[int, ...], state: Any) -> None:
        if state.llama_state_size > self.capacity_bytes:
            return
        self.states[key] = state
        self.saves += 1
        while self.size_bytes > self.capacity_bytes:
            self.states.popitem(last=False)

    def clear(self) -> None:
        self.states.clear()
