"""What a selection returns: the chosen arms with their scores, and a sentence saying why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgelearn.store.arms import Arm


@dataclass(frozen=True)
class ArmPick:
    """One arm chosen among ``candidates`` enabled arms, with the policy's score of each."""

    arm: Arm
    scores: dict[str, float | None]  # variant → score (None: never tried)
    stats: str  # "global" or "cluster N": whose statistics decided
    candidates: int


@dataclass(frozen=True)
class BanditDecision:
    """The bandit's choice for one request of ``role``: a prompt arm (if the role has any) and a model arm."""

    role: str
    prompt: ArmPick | None
    model: ArmPick
    cluster: int | None
    policy: str
    max_cost_per_1k: float | None = None


@dataclass(frozen=True)
class Selected:
    """A stored decision: record a run with ``run_id`` to close the loop."""

    run_id: str
    decision: BanditDecision
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        d, model = self.decision, self.decision.model.arm
        prompt = d.prompt.arm if d.prompt else None
        return {"run_id": self.run_id,
                "prompt": {"id": prompt.variant, "text": prompt.text} if prompt else None,
                "model": {"id": model.variant, "backend": model.backend, "name": model.model_name or model.variant},
                "policy": d.policy, "explanation": self.explanation}


def pick_payload(p: ArmPick | None) -> dict[str, Any] | None:
    """A pick as the ``bandit.select`` event stores it."""
    if p is None:
        return None
    return {"arm": p.arm.id, "variant": p.arm.variant, "stats": p.stats, "scores": p.scores}


def explain(d: BanditDecision) -> str:
    """One sentence saying what was chosen and why."""
    parts = []
    for label, p in (("prompt", d.prompt), ("model", d.model)):
        if p is None:
            parts.append("no prompt variant (the role has none enabled)")
            continue
        mine = p.scores.get(p.arm.variant)
        others = sorted(((v, k) for k, v in p.scores.items() if k != p.arm.variant and v is not None), reverse=True)
        if mine is None:
            why = "never tried yet"
        elif others:
            why = f"score {mine:.3f} vs {others[0][0]:.3f} for {others[0][1]!r}"
        else:
            why = f"score {mine:.3f}" if p.candidates > 1 else "the only candidate"
        parts.append(f"{label} {p.arm.variant!r} ({why}; {p.candidates} candidates, {p.stats} statistics)")
    limit = f" under {d.max_cost_per_1k:g} per 1k tokens" if d.max_cost_per_1k is not None else ""
    return f"{d.policy} chose " + " and ".join(parts) + limit
