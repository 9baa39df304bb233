"""Training backends behind one small interface, and the choice between them.

A backend has one required method, ``prepare(hf_dir, cfg) -> Prepared``: load the base from a
Hugging Face directory and wrap it with LoRA. Everything after that (data, loop, saving,
export) is shared, so both backends train on the same tokens with the same loss.

- ``unsloth``: on a CUDA GPU when the ``[gpu]`` extra is installed (``import unsloth`` raises
  NotImplementedError on a machine without a GPU, and it patches transformers on import, so it
  is only ever imported in the training child).
- ``peft``: transformers + PEFT on CPU, or on CUDA / MPS when Unsloth is absent.

``train.backend = "auto"`` picks unsloth when a CUDA GPU is present and the package is
installed, else peft; naming one forces it (TrainingError when it cannot run here).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edgelearn.errors import TrainingError

log = logging.getLogger(__name__)

# every linear layer of the llama / qwen2 / gemma blocks; never embeddings or lm_head, which
# llama.cpp refuses in an adapter
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class Prepared:
    """A LoRA-wrapped model ready for the shared loop."""

    model: Any
    tokenizer: Any
    device: str
    pack: bool  # whether the model honours restarting position ids as separate sequences
    autocast: Any = None  # torch dtype of mixed-precision compute, None for plain float32


class TrainBackend(Protocol):
    """A way to load the base model for LoRA training (PEFT on the CPU, Unsloth on CUDA)."""

    name: str

    def prepare(self, hf_dir: Path, cfg) -> Prepared: ...


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def use_bfloat16(precision: str, device: str) -> bool:
    """Whether to train in bfloat16 mixed precision: forced, or ``auto`` where it is fast
    (a GPU with bf16, or a CPU with native bf16 instructions: about 2x float32 matmuls on AVX512-BF16)."""
    import torch

    if precision != "auto":
        return precision == "bfloat16"
    if device == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device == "cpu":
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


class PeftBackend:
    """transformers + PEFT on CPU, CUDA or MPS.

    In bfloat16 mode the frozen base is held in bfloat16 (what autocast would cast it to on every
    step anyway) while the LoRA weights, their gradients and the optimizer stay float32; the
    parity reference is later made with the float32 base, the one the GGUFs carry.
    """

    name = "peft"

    def prepare(self, hf_dir: Path, cfg) -> Prepared:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
        bf16 = use_bfloat16(cfg.precision, device)
        dtype = torch.bfloat16 if bf16 else torch.float32
        tokenizer = AutoTokenizer.from_pretrained(hf_dir)
        # On the CPU the eager attention (two matmuls over the block-diagonal mask of packed rows)
        # trains faster than SDPA's flash kernel, whose backward pass is slow there; both keep
        # packed examples apart (bench/RESULTS.md, "Measurements behind choices in the code").
        attn = "eager" if device == "cpu" else "sdpa"
        model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=dtype, attn_implementation=attn).to(device)
        torch.manual_seed(cfg.seed)  # LoRA A matrices are initialized randomly
        lora = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, bias="none",
                          target_modules=TARGET_MODULES, task_type="CAUSAL_LM")
        # autocast_adapter_dtype keeps the LoRA weights float32 over a bfloat16 base
        peft_model = get_peft_model(model, lora, autocast_adapter_dtype=True)
        return Prepared(peft_model, tokenizer, device, pack=True, autocast=dtype if bf16 else None)


class UnslothBackend:
    """Unsloth's fast kernels on a CUDA GPU; same LoRA targets and loop as peft."""

    name = "unsloth"

    @staticmethod
    def check() -> None:
        """TrainingError with what to do when Unsloth cannot run on this machine."""
        if not unsloth_installed():
            raise TrainingError("train.backend is 'unsloth' but Unsloth is not installed: pip install "
                                "'edgelearn[gpu]' on a machine with a CUDA GPU, or use train.backend = 'peft'")
        if not cuda_available():
            raise TrainingError("train.backend is 'unsloth' but no CUDA GPU is visible; "
                                "Unsloth needs one (use train.backend = 'peft' or 'auto')")

    def prepare(self, hf_dir: Path, cfg) -> Prepared:
        self.check()
        try:
            import unsloth  # noqa: F401 - must be imported before transformers to patch it
            from unsloth import FastLanguageModel
        except (ImportError, NotImplementedError, RuntimeError) as exc:
            raise TrainingError(f"Unsloth failed to import ({type(exc).__name__}: {exc}); "
                                "use train.backend = 'peft'") from exc
        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=str(hf_dir), max_seq_length=cfg.max_seq_len, dtype=None, load_in_4bit=False)
        model = FastLanguageModel.get_peft_model(
            model, r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, bias="none",
            target_modules=TARGET_MODULES, use_gradient_checkpointing="unsloth", random_state=cfg.seed,
            use_rslora=False)
        import torch

        # Unsloth's attention kernels do not split a row at restarting position ids: one example per row
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return Prepared(model, tokenizer, "cuda", pack=False, autocast=dtype)


BACKENDS: dict[str, type] = {"peft": PeftBackend, "unsloth": UnslothBackend}


def choose_backend(name: str = "auto") -> str:
    """The backend a job will use: ``name`` itself when forced (checked), else unsloth on a CUDA GPU
    with Unsloth installed, else peft. Never imports Unsloth (safe in the runtime process)."""
    if name == "auto":
        return "unsloth" if cuda_available() and unsloth_installed() else "peft"
    if name not in BACKENDS:
        raise TrainingError(f"train.backend {name!r} is not one of auto, {', '.join(BACKENDS)}")
    if name == "unsloth":
        UnslothBackend.check()
    return name


def get_backend(name: str) -> TrainBackend:
    """An instance of the backend called ``name`` (see ``choose_backend``)."""
    return BACKENDS[name]()
