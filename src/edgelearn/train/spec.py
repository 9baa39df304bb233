"""What a training job is asked to do: written by the parent as ``spec.json``, read by the child."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class JobSpec:
    """Everything the training child needs; plain JSON so any process can start a job."""

    job_id: str
    role: str
    home: str
    store_path: str
    dataset_dir: str
    dataset_version: str | None
    base_model: str  # train.base_model as configured ("" = default)
    backend: str  # the backend chosen by the parent
    backend_requested: str  # train.backend ("auto" lets the child fall back to peft)
    train: dict[str, Any]  # TrainSettings as a dict
    merged_quant: str = "q8_0"
    eval_max_tokens: int = 256  # deploy.max_tokens: answer limit of check-based evaluation
    evaluators: dict[str, str] = field(default_factory=dict)

    @property
    def job_dir(self) -> Path:
        return Path(self.home) / "jobs" / self.job_id

    @property
    def out_dir(self) -> Path:
        """Where the artifacts are made before they are published."""
        return self.job_dir / "out"

    @property
    def artifact_dir(self) -> Path:
        return Path(self.home) / "artifacts" / self.job_id

    def save(self) -> Path:
        path = self.job_dir / "spec.json"
        self.job_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, job_dir: Path) -> "JobSpec":
        return cls(**json.loads((job_dir / "spec.json").read_text(encoding="utf-8")))
