"""Base model and backend checks happen before any work: a clear TrainingError, no job recorded."""

import json

import numpy as np
import pytest

from edgelearn.errors import TrainingError
from edgelearn.train import backends
from edgelearn.train.base import default_base_path, resolve_base


def tiny_gguf(path, arch):
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_uint32(f"{arch}.block_count", 1)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_default_base_is_the_bundled_smollm2_llama():
    base = resolve_base("")
    assert base.gguf == default_base_path() and base.gguf.is_file()
    assert base.arch == "llama" and base.hf_dir is None


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "missing.gguf", "does not exist"),
    (lambda p: tiny_gguf(p / "gpt2.gguf", "gpt2"), "architecture 'gpt2'; supported: gemma, gemma2, gemma3, llama, qwen2"),
    (lambda p: (p / "junk.gguf").write_bytes(b"not a gguf") and p / "junk.gguf", "not a readable GGUF"),
])
def test_unusable_gguf_bases(tmp_path, make, message):
    with pytest.raises(TrainingError, match=message):
        resolve_base(str(make(tmp_path)))


def test_model_directories(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    with pytest.raises(TrainingError, match="no config.json"):
        resolve_base(str(d))
    (d / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(TrainingError, match="model_type 'bert'"):
        resolve_base(str(d))
    (d / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(TrainingError, match="needs exactly one .gguf"):
        resolve_base(str(d))
    tiny_gguf(d / "m.gguf", "llama")
    with pytest.raises(TrainingError, match="is a llama model but"):
        resolve_base(str(d))
    (d / "m.gguf").unlink()
    tiny_gguf(d / "m.gguf", "qwen2")
    base = resolve_base(str(d))
    assert base.arch == "qwen2" and base.hf_dir == d and base.gguf == d / "m.gguf"


def test_start_job_refuses_before_recording_anything(store, settings, home, convention_dataset):
    from edgelearn.train import start_job

    settings.train.base_model = str(home / "nowhere.gguf")
    with pytest.raises(TrainingError, match="nowhere.gguf does not exist"):
        start_job(store, settings, home, role="coder", dataset_dir=convention_dataset)
    settings.train.base_model = ""
    with pytest.raises(TrainingError, match="has no examples in val.jsonl"):
        (convention_dataset / "val.jsonl").write_text("")
        start_job(store, settings, home, role="coder", dataset_dir=convention_dataset)
    assert store.jobs.list() == [] and not (home / "jobs").exists()


def test_backend_choice(monkeypatch):
    monkeypatch.setattr(backends, "cuda_available", lambda: False)
    monkeypatch.setattr(backends, "unsloth_installed", lambda: True)
    assert backends.choose_backend("auto") == "peft"
    with pytest.raises(TrainingError, match="no CUDA GPU is visible; Unsloth needs one"):
        backends.choose_backend("unsloth")
    monkeypatch.setattr(backends, "cuda_available", lambda: True)
    assert backends.choose_backend("auto") == "unsloth"
    assert backends.choose_backend("peft") == "peft"
    monkeypatch.setattr(backends, "unsloth_installed", lambda: False)
    assert backends.choose_backend("auto") == "peft"
    with pytest.raises(TrainingError, match=r"Unsloth is not installed: pip install 'edgelearn\[gpu\]'"):
        backends.choose_backend("unsloth")
    with pytest.raises(TrainingError, match="not one of auto, peft, unsloth"):
        backends.choose_backend("deepspeed")


def test_unsloth_import_failure_is_a_training_error(monkeypatch):
    """On a machine without a GPU ``import unsloth`` raises NotImplementedError; that must read clearly."""
    import builtins

    monkeypatch.setattr(backends, "cuda_available", lambda: True)
    monkeypatch.setattr(backends, "unsloth_installed", lambda: True)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "unsloth":
            raise NotImplementedError("Unsloth currently only works on NVIDIA, AMD and Intel GPUs.")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(TrainingError, match="Unsloth failed to import .NotImplementedError.*train.backend = 'peft'"):
        backends.UnslothBackend().prepare(None, None)
