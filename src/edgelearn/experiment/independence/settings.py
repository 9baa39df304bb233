"""The ``[independence]`` settings section (added to ``Settings`` in config.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_SHARES = (0.2, 0.5, 0.8, 0.95)


class IndependenceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)

    enabled: bool = True
    """Route roles that have a teacher through the independence levels; off sends everything to the teacher."""
    shares: list[float] = Field(default_factory=lambda: list(DEFAULT_SHARES))
    """Local share of eligible requests at levels 1, 2, 3 and 4 (level 0 is always 0): four values in (0, 1], non-decreasing."""
    max_gap: float = Field(0.02, ge=0, lt=1)
    """A cluster advances when the local reward is not worse than the teacher's by more than this (absolute)."""
    confidence: float = Field(0.95, gt=0.5, lt=1)
    """Confidence of the always-valid non-inferiority test that advances a level."""
    min_samples: int = Field(100, ge=2)
    """Scored runs each side (local or shadow, and teacher) needs at a level before the test may advance it."""
    shadow_share: float = Field(0.1, ge=0, le=1)
    """Share of teacher-served requests the local champion also answers in the background while idle (never returned)."""
    shadow_can_advance: bool = True
    """Whether shadow answers alone may advance a cluster from level 0 to 1 (without live local traffic)."""
    min_confidence: float = Field(0.5, ge=0, le=1)
    """A request goes local only when the local model's confidence on it (when known) reaches this."""

    @field_validator("shares")
    @classmethod
    def _four_shares(cls, value: list[float]) -> list[float]:
        if len(value) != 4:
            raise ValueError(f"needs 4 values (levels 1-4), got {len(value)}")
        if any(not 0.0 < s <= 1.0 for s in value):
            raise ValueError(f"every share must lie in (0, 1], got {value}")
        if any(b < a for a, b in zip(value, value[1:])):
            raise ValueError(f"shares must not decrease from level 1 to 4, got {value}")
        return value
