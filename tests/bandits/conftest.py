"""Fixtures of the bandit tests: a real store with a recorder and an attached selector."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Rig:
    """A store, settings, a recorder and a selector wired like the runtime wires them."""

    path: Path
    settings: object
    store: object = None
    recorder: object = None
    selector: object = None

    def open(self, embed=None, seed: int = 0) -> "Rig":
        from edgelearn.bandits.selector import Selector
        from edgelearn.record.recorder import Recorder
        from edgelearn.store import Store

        self.store = Store(self.path)
        self.recorder = Recorder(self.store, lambda: self.settings)
        self.selector = Selector(self.store, lambda: self.settings, config_file=self.path.parent / "edgelearn.toml",
                                 embed=embed, seed=seed).attach()
        return self

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def add_prompts(self, role: str, *variants: str) -> None:
        for v in variants:
            self.selector.add_prompt_arm(role, v, f"You are variant {v}.")

    def record(self, selected, reward: float | None, task: str | None = None) -> str:
        """Record the run a selection announced, with a reward given as a test pass ratio."""
        from edgelearn.record.schemas import RecordIn

        signals = {} if reward is None else {"tests": reward}
        run_id, _ = self.recorder.record(RecordIn(role=selected.decision.role, output="answer", task=task,
                                                  run_id=selected.run_id, signals=signals))
        return run_id

    def stat(self, role: str, variant: str, kind: str = "prompt", cluster: int = -1):
        """(effective n, effective s, raw count) of one arm's row."""
        from edgelearn.bandits.ledger import decay

        snap = self.store.arms.snapshot(role)
        arm = next(a for a in snap.arms if a.kind == kind and a.variant == variant)
        st = snap.stats.get((arm.id, cluster))
        if st is None:
            return 0.0, 0.0, 0
        f = decay(snap.clock.discount, snap.clock.tick - st.tick)
        return st.n * f, st.s * f, st.count


@pytest.fixture
def rig(home, settings):
    r = Rig(home / "edgelearn.db", settings).open()
    yield r
    r.close()
