"""Saved llama.cpp contexts: kept when another agent's request would discard them, restored when they share more."""

from __future__ import annotations

from dataclasses import dataclass

from edgelearn.serve.prefix_cache import MIN_TOKENS, PrefixStates, common_prefix


@dataclass
class State:
    tokens: list[int]
    llama_state_size: int


class FakeLlama:
    """What PrefixStates uses of ``llama_cpp.Llama``: the live tokens, save_state and load_state."""

    def __init__(self) -> None:
        self.input_ids: list[int] = []
        self.n_tokens = 0

    def run(self, tokens: list[int]) -> None:  # what generate leaves behind
        self.input_ids, self.n_tokens = list(tokens), len(tokens)

    def save_state(self) -> State:
        return State(self.input_ids[:self.n_tokens], 10 * self.n_tokens)

    def load_state(self, state: State) -> None:
        self.run(state.tokens)


A = [1] * MIN_TOKENS * 2
B = [2] * MIN_TOKENS * 2


def test_an_interleaved_agent_gets_its_context_back():
    llm, states = FakeLlama(), PrefixStates(capacity_bytes=1 << 20)
    assert states.prepare(llm, A + [5]) == 0
    llm.run(A + [5, 6])
    assert states.prepare(llm, A + [5, 6, 7]) == len(A) + 2  # the same agent: the live cache, nothing saved
    assert states.saves == 0
    llm.run(A + [5, 6, 7])
    assert states.prepare(llm, B + [9]) == 0 and states.saves == 1  # A's context kept before B overwrites it
    llm.run(B + [9])
    assert states.prepare(llm, A + [5, 6, 7, 8]) == len(A) + 3  # A's restored, B's kept in turn
    assert states.restores == 1 and llm.input_ids == A + [5, 6, 7] and states.saves == 2


def test_short_contexts_are_not_kept_and_capacity_drops_the_oldest():
    llm, states = FakeLlama(), PrefixStates(capacity_bytes=10 * (len(A) + len(B)) - 1)
    llm.run([3] * (MIN_TOKENS - 1))
    states.prepare(llm, A)
    assert states.saves == 0
    llm.run(A)
    states.prepare(llm, B)
    llm.run(B)
    states.prepare(llm, [4] * 10)  # B saved; A, older, dropped to stay within capacity
    assert list(states.states) == [tuple(B)] and states.size_bytes <= states.capacity_bytes


def test_off_means_no_saves():
    llm, states = FakeLlama(), PrefixStates(capacity_bytes=0)
    llm.run(A)
    assert states.prepare(llm, B) == 0 and states.saves == 0 and common_prefix(A, A + [1]) == len(A)
