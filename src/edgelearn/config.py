"""Typed settings: defaults, then the user's TOML file, then ``EDGELEARN_*`` variables.

``Settings`` is a pydantic-settings class with one field per section. ``Settings()`` is the
defaults (plus any sections passed in); :func:`load_settings` layers the file and the
environment on them. Environment variables name a key with ``__`` between section and field,
e.g. ``EDGELEARN_SERVER__PORT=9000`` or ``EDGELEARN_TRAIN__AUTO_TRAIN=false``; values are parsed
as TOML scalars (so ``true``, ``0.5`` and ``["a"]`` work) and fall back to plain strings.
Edits of the file that keep its comments live in ``edgelearn.config_toml``; hot reload in
``edgelearn.config_watch``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from edgelearn.config_providers import Providers, Roles
from edgelearn.config_wire import WireSettings
from edgelearn.errors import ConfigError

ENV_PREFIX = "EDGELEARN_"
ENV_NESTED_DELIMITER = "__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    """Address the HTTP hook listens on; loopback by default."""
    port: int = Field(8765, ge=0, le=65535)
    """TCP port of the HTTP hook (0 picks a free port)."""
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    """Largest request body accepted; bigger bodies get 413."""
    cors_origins: list[str] = []
    """Origins allowed by CORS; empty means no CORS headers at all."""
    allowed_hosts: list[str] = []
    """Extra Host header names accepted besides loopback names (DNS-rebinding guard)."""


class StoreSettings(_Section):
    path: str = ""
    """SQLite file; empty means edgelearn.db in the edgelearn home."""
    synchronous: Literal["normal", "full"] = "normal"
    """WAL sync level: normal survives a killed process, full also survives power loss."""
    max_batch: int = Field(512, ge=1)
    """Most write operations committed together by the writer thread."""
    embed: bool = True
    """Compute task embeddings in the background (all-MiniLM-L6-v2)."""
    embed_batch: int = Field(64, ge=1)
    """Runs embedded per background batch."""
    embed_idle_s: float = Field(60.0, ge=0)
    """Seconds without a batch after which the embedding process exits (~500 MB freed; it starts again, in ~15 s, when runs arrive); 0 keeps it running."""


class RewardWeights(_Section):
    compile: float = Field(0.25, ge=0)
    """Weight of the compile signal."""
    tests: float = Field(0.25, ge=0)
    """Weight of the tests signal (passed / total)."""
    errors: float = Field(0.25, ge=0)
    """Weight of the lint/type error signal."""
    human: float = Field(0.25, ge=0)
    """Weight of human feedback."""
    survival: float = Field(0.25, ge=0)
    """Weight of the share of the assistant's edits that survive into the next commit."""


class RewardSettings(_Section):
    weights: RewardWeights = RewardWeights()
    """Signal weights, renormalized over the signals present on a run."""
    errors_scale: float = Field(5.0, gt=0)
    """Error count mapped to 1 / (1 + n / errors_scale): 0 errors 1.0, errors_scale errors 0.5."""
    no_signal_reward: float | None = None
    """Reward of a run with no signal at all; none leaves it unscored."""


class BanditSettings(_Section):
    policy: Literal["thompson", "ucb", "epsilon"] = "thompson"
    """Selection policy for prompt and model arms."""
    epsilon: float = Field(0.1, ge=0, le=1)
    """Exploration rate of epsilon-greedy."""
    ucb_c: float = Field(1.0, gt=0)
    """Exploration constant of UCB1 (scales the confidence radius)."""
    discount: float = Field(1.0, gt=0, le=1)
    """Per-update decay of past evidence for drifting rewards (0.998 re-finds a new best arm within a few hundred pulls); 1 keeps everything."""
    window: int = Field(0, ge=0)
    """Sliding window: only the role's last N rewards (all arms together) count; 0 uses all of them."""
    contextual: bool = False
    """Keep per-cluster statistics over task embeddings."""
    clusters: int = Field(8, ge=2)
    """Number of task-embedding clusters for the contextual policy."""
    min_cluster_pulls: int = Field(20, ge=0)
    """Pulls a cluster needs before its own statistics replace the role's."""
    prompts_dir: str = ""
    """Directory of prompt variants (<role>/<variant>.md) added to and overriding the packaged ones; empty means prompts/ next to the config file."""
    recluster_s: float = Field(300.0, gt=0)
    """Seconds between background checks that re-fit the task clusters (contextual only)."""


class ExportSettings(_Section):
    auto_export: bool = True
    """Curate a dataset automatically when enough good runs exist."""
    min_runs: int = Field(100, ge=1)
    """Good runs since the last export that trigger a new one."""
    min_reward: float = Field(0.7, ge=0, le=1)
    """Lowest reward of a run that may become a training example."""
    max_examples: int = Field(1000, ge=1)
    """Most examples in one dataset."""
    dedup_threshold: float = Field(0.95, ge=0, le=1)
    """Task cosine similarity above which two runs may be near duplicates."""
    output_similarity: float = Field(0.9, ge=0, le=1)
    """Output similarity (token-bigram Jaccard) from which two runs with near-identical tasks are duplicates."""
    cluster_similarity: float = Field(0.9, ge=0, le=1)
    """Task cosine similarity that puts a run in the cluster of its nearest kept run (for cluster_cap)."""
    cluster_cap: float = Field(0.2, gt=0, le=1)
    """Largest share of a dataset one embedding cluster may take."""
    rehearsal: float = Field(0.1, ge=0, lt=1)
    """Share of examples mixed back in from earlier datasets."""
    format: Literal["messages", "alpaca", "completion"] = "messages"
    """Dataset file format."""
    val_fraction: float = Field(0.2, gt=0, lt=1)
    """Share of runs in validation, chosen by a hash of the run id."""
    tool_min_reward: dict[str, float] = Field(default_factory=dict)
    """Per tool name: the lowest reward of a run calling that tool (above min_reward) to become an example."""


class TrainSettings(_Section):
    auto_train: bool = True
    """Train an adapter automatically when a dataset is large enough."""
    min_examples: int = Field(500, ge=1)
    """Examples a dataset needs before training starts."""
    backend: Literal["auto", "unsloth", "peft"] = "auto"
    """Training backend; auto picks unsloth on a CUDA GPU when installed, else peft."""
    base_model: str = ""
    """Base model: a GGUF file or HF model directory; empty means the bundled SmolLM2-135M-Instruct."""
    rank: int = Field(16, ge=1)
    """LoRA rank."""
    alpha: float = Field(32.0, gt=0)
    """LoRA alpha."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """LoRA dropout."""
    epochs: float = Field(3.0, gt=0)
    """Passes over the training set."""
    batch_size: int = Field(2, ge=1)
    """Sequences per optimizer step."""
    learning_rate: float = Field(2e-4, gt=0)
    """Peak learning rate."""
    max_seq_len: int = Field(1024, ge=32)
    """Longest training sequence in tokens; longer examples are truncated."""
    copy_variants: int = Field(2, ge=0)
    """Extra training rows per tool-call example that copies a name (one word) of its request into an
    argument: the name swapped, in request and call alike, for one another example copies or a word
    the base splits when written without a space (``train.augment``). A small base learns to copy
    and spell names it has not seen instead of recalling the ones it was shown. 0: none."""
    copy_phrases: bool = False
    """Copy variants of tool-call examples that copy a phrase (a ticket's title) too: the phrase swapped
    for one another call of the same tool copies, so the call's other arguments must follow from the
    request's wording, not from the phrase. Off: measured, not shown to raise the held-out rate
    (bench/results/tools_efficacy.md, session 8)."""
    copy_words: int = Field(2000, ge=0)
    """Words of the base's vocabulary that copy variants may swap in for a one-word name (0: only
    names the dataset's examples copy)."""
    copy_exclude: list[str] = []
    """Words never swapped in (a benchmark's held-out names, so they stay unseen in training)."""
    seed: int = 0
    """Random seed of training."""
    threads: int = Field(0, ge=0)
    """CPU threads for training; 0 uses all cores."""
    cooldown_hours: float = Field(24.0, ge=0)
    """Least time between two automatic trainings of a role."""
    schedule_hours: float = Field(0.0, ge=0)
    """Retrain every N hours when new data exists; 0 disables the schedule trigger."""
    cache_base: bool = True
    """Keep a dequantized copy of a GGUF base under <home>/cache (loads in <1 s instead of ~15 s)."""
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    """Training compute precision; auto uses bfloat16 mixed precision where the CPU or GPU runs it fast."""
    parity_prompts: int = Field(20, ge=1)
    """Prompts on which exported GGUFs are compared with the trained model: validation first, topped up
    from training; below 20, a parity_min_match of 0.95 allows no mismatching prompt."""
    parity_tokens: int = Field(32, ge=1)
    """Leading generated tokens that must match the trained model's."""
    parity_max_tokens: int = Field(96, ge=1)
    """Generation limit within which an artifact must end its turn where the trained model does."""
    parity_min_match: float = Field(0.95, ge=0, le=1)
    """Least share of prompts whose leading tokens match (differences only at near-ties)."""
    parity_min_tool_match: float = Field(0.85, ge=0, le=1)
    """Least share of tool-call examples (8) whose calls, served through each artifact, equal the trained
    model's, near-ties included: one may differ. The trained model is least sure spelling names it has
    not seen, and there a quantized export may take the other spelling; a wrong chat template or an
    adapter not applied gets none of them right."""
    parity_min_stop: float = Field(1.0, ge=0, le=1)
    """Least share of prompts on which an artifact ends its turn where the trained model does."""
    parity_tie_margin: float = Field(0.5, ge=0)
    """Logit gap under which a differing top token counts as a quantization near-tie, not a mismatch."""
    eval_tasks: int = Field(20, ge=0)
    """Most validation examples with a replayable check evaluated for base vs adapter success."""


class DeploySettings(_Section):
    auto_deploy: bool = True
    """Register a gated adapter and start an experiment automatically."""
    backend: Literal["auto", "embedded", "ollama"] = "auto"
    """Serving backend; auto uses Ollama when it answers, else embedded llama.cpp."""
    ollama_url: str = "http://127.0.0.1:11434"
    """Ollama server address."""
    ollama_adapter_route: bool = False
    """On Ollama <= 0.33, register adapters (from + adapters) instead of merged GGUFs."""
    merged_quant: Literal["q8_0", "f16"] = "q8_0"
    """Quantization of the merged GGUF made for Ollama."""
    cache_size: int = Field(2, ge=1)
    """Most llama.cpp models kept loaded at once."""
    threads: int = Field(0, ge=0)
    """llama.cpp threads; 0 uses half the cores (oversubscribed llama.cpp threads spin and slow to a crawl)."""
    n_ctx: int = Field(0, ge=0)
    """llama.cpp context length; 0 uses the model's trained context (GGUF `context_length`, 8,192 for SmolLM2)."""
    max_tokens: int = Field(256, ge=1)
    """Default completion limit when a request gives none."""
    unload_idle_s: float = Field(300.0, ge=0)
    """Seconds unused after which a llama.cpp model is unloaded (loaded again by the next request); 0 keeps it loaded."""
    external_cost_per_1k: float = Field(0.01, ge=0)
    """Price per 1k tokens of the external model, for the cost-saved figure."""


class ExperimentSettings(_Section):
    challenger_traffic: float = Field(0.1, gt=0, lt=1)
    """Share of a role's requests sent to the challenger."""
    min_samples: int = Field(100, ge=1)
    """Samples each variant needs before a decision."""
    min_improvement: float = Field(0.05, ge=0)
    """Relative reward gain the challenger needs to be promoted."""
    confidence: float = Field(0.95, gt=0.5, lt=1)
    """Posterior probability needed to promote (or to retire the challenger)."""
    max_duration_hours: float = Field(72.0, gt=0)
    """An experiment still undecided after this long ends; the champion stays."""
    latency_guard: float = Field(3.0, ge=1)
    """The challenger loses if its mean latency exceeds the champion's by this factor (runtime LoRA costs ~2.5x per token on CPU)."""
    cost_guard: float = Field(1.5, ge=1)
    """The challenger loses if its mean cost exceeds the champion's by this factor."""


class DriftSettings(_Section):
    window: int = Field(20, ge=2)
    """Recent runs of the champion compared with its baseline."""
    min_drop: float = Field(0.05, ge=0, le=1)
    """Relative drop of the rolling reward that rolls back."""
    input_psi: float = Field(0.2, ge=0)
    """Population stability index of task distances above which input drift is reported."""
    retrain_on_input_drift: bool = False
    """Let input drift trigger retraining."""


class LoopSettings(_Section):
    interval_s: float = Field(30.0, gt=0)
    """Seconds between trigger checks."""
    quality_drop: float = Field(0.1, ge=0, le=1)
    """Rolling reward below its baseline by this share triggers retraining."""
    error_rate: float = Field(0.3, ge=0, le=1)
    """Share of negative feedback in recent runs that triggers retraining."""


class PrivacySettings(_Section):
    redact: bool = True
    """Redact PII (emails, phones, SSNs, cards, IPs, keys) before anything is stored."""
    retention_days: int = Field(90, ge=0)
    """Runs older than this are purged; 0 keeps them forever."""
    blocked_patterns: list[str] = []
    """Extra regular expressions redacted like PII."""


DEFAULT_SHARES = (0.2, 0.5, 0.8, 0.95)


class IndependenceSettings(_Section):

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
    shadow_idle_load: float = Field(0.5, gt=0)
    """Shadow answers run only while the 1-minute load average per core is under this (the machine counts as idle)."""
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


class SessionSettings(_Section):
    credit: Literal["session", "last_run"] = "session"
    """Runs an outcome applies to: every run of the session recorded before it arrived, or only the last."""
    max_output_bytes: int = Field(1_048_576, ge=1024)
    """Largest command output (stdout, stderr, error) a hook payload may carry; larger ones are refused."""
    review_budget: int = Field(20, ge=0)
    """Sessions the review queue offers per day (verdicts given today count against it)."""
    failure_below: float = Field(0.5, ge=0, le=1)
    """A session whose reward is below this failed (failure patterns, review priority)."""


class WatchSettings(_Section):
    paths: list[str] = []
    """Repositories watched for JUnit XML, SARIF and .pytest_cache results; empty turns the watcher off."""
    debounce_s: float = Field(1.0, gt=0)
    """Quiet time after a result file's last change before it is read."""


class Settings(BaseSettings):
    """Every section; ``Settings()`` is the defaults, :func:`load_settings` adds the file and the environment.

    A new section is one more field here (and its class above).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED_DELIMITER,
                                      extra="forbid", validate_assignment=True, use_attribute_docstrings=True)

    server: ServerSettings = ServerSettings()
    """HTTP hook."""
    store: StoreSettings = StoreSettings()
    """SQLite store."""
    rewards: RewardSettings = RewardSettings()
    """Signals to reward."""
    bandit: BanditSettings = BanditSettings()
    """Prompt and model selection."""
    export: ExportSettings = ExportSettings()
    """Dataset curation."""
    train: TrainSettings = TrainSettings()
    """LoRA training."""
    deploy: DeploySettings = DeploySettings()
    """Registration and serving."""
    experiments: ExperimentSettings = ExperimentSettings()
    """Champion vs challenger."""
    drift: DriftSettings = DriftSettings()
    """Rollback on drift."""
    loop: LoopSettings = LoopSettings()
    """Trigger checks."""
    privacy: PrivacySettings = PrivacySettings()
    """PII and retention."""
    independence: IndependenceSettings = IndependenceSettings()
    """Teacher to local, level by level, per task cluster."""
    sessions: SessionSettings = SessionSettings()
    """Sessions and the credit rule of their outcomes."""
    watch: WatchSettings = WatchSettings()
    """Workspace watcher."""
    wire: WireSettings = WireSettings()
    """Anthropic Messages, OpenAI Responses and completions beside chat completions."""
    providers: Providers = {}
    """Model providers behind the gateway, by name: ``[providers.<name>]`` (see config_providers.py)."""
    roles: Roles = {}
    """Per-role gateway settings: ``[roles.<role>]`` apply_prompt_variants."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the arguments: a bare Settings() must not depend on who runs it (tests, the demo's
        # home); load_settings names the file and the environment explicitly.
        return (init_settings,)


def home_dir() -> Path:
    """The edgelearn home: ``$EDGELEARN_HOME`` or the platform's user data directory."""
    env = os.environ.get("EDGELEARN_HOME")
    path = Path(env).expanduser() if env else Path(platformdirs.user_data_dir("edgelearn"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_path() -> Path:
    """The user's config file: ``$EDGELEARN_CONFIG`` or ``edgelearn.toml`` in the home."""
    env = os.environ.get("EDGELEARN_CONFIG")
    return Path(env).expanduser() if env else home_dir() / "edgelearn.toml"


def parse_env_value(raw: str) -> Any:
    """An environment value as a TOML scalar (``true``, ``0.5``, ``["a"]``), else the plain string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


class TomlScalarEnvSource(EnvSettingsSource):
    """``EDGELEARN_<SECTION>__<KEY>`` variables of ``environ``, each value parsed by :func:`parse_env_value`.

    Only names with the nested delimiter count, so ``EDGELEARN_HOME`` and ``EDGELEARN_CONFIG``
    are never taken for a section.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, Any]:
        prefix = self.env_prefix.lower()
        return {name.lower(): parse_env_value(value) for name, value in self._environ.items()
                if name.lower().startswith(prefix) and ENV_NESTED_DELIMITER in name[len(prefix):]}

    def decode_complex_value(self, field_name: str, field: Any, value: Any) -> Any:
        return value  # already parsed as TOML; a string left here is reported by validation


def describe_errors(exc: ValidationError) -> str:
    """Each error of ``exc`` as ``section.key: reason``, joined by semicolons."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _build(*sources: PydanticBaseSettingsSource) -> Settings:
    return Settings(_build_sources=(sources, {}))


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from defaults, the TOML file (if it exists) and the environment.

    Raises ``ConfigError`` naming the file, the key and the reason when anything is invalid.
    """
    path = config_path() if path is None else path
    environ = os.environ if environ is None else environ
    try:
        file_source = TomlConfigSettingsSource(Settings, toml_file=path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", path=path) from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}", path=path) from exc
    # the file alone first, so that its errors name the file and not the environment
    try:
        settings = _build(file_source)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_errors(exc)}", path=path) from exc
    env_source = TomlScalarEnvSource(Settings, environ)
    if not env_source.env_vars:
        return settings
    try:
        return _build(env_source, file_source)
    except ValidationError as exc:
        raise ConfigError(f"environment ({ENV_PREFIX}*): {describe_errors(exc)}", path=None) from exc
