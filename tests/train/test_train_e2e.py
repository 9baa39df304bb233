"""Real training on the default base (SmolLM2-135M Q4_1) in a child process, exported GGUFs run in
llama.cpp. Training happens once per module; the kill test reuses its dequantized-base cache."""

import os
import signal

import gguf
import pytest
import transformers

from edgelearn.config import Settings
from edgelearn.train import start_job, wait
from edgelearn.train.base import default_base_path

pytestmark = pytest.mark.slow


def fast_settings(**train) -> Settings:
    settings = Settings()
    # one thread: the cores are shared, and OpenMP with two threads on a busy machine stalls
    settings.train.threads = 1
    settings.train.learning_rate = 1e-3
    settings.train.parity_prompts = 8  # 6 validation prompts, topped up with 2 training ones
    for key, value in train.items():
        setattr(settings.train, key, value)
    return settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory, convention):
    from edgelearn.store import Store

    home = tmp_path_factory.mktemp("trainhome")
    store = Store(home / "edgelearn.db")
    dataset = convention.write(home / "dataset")
    job_id = start_job(store, fast_settings(), home, role="coder", dataset_dir=dataset, dataset_version="coder-ds1")
    job = wait(store, job_id, timeout=1200)
    yield home, store, job
    store.close()


def chat(model_path, question, lora_path=None) -> str:
    """The serving path: llama-cpp-python formats the prompt with the GGUF's own chat template."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), lora_path=str(lora_path) if lora_path else None, n_ctx=512,
                n_threads=1, n_threads_batch=1, verbose=False)
    try:
        out = llm.create_chat_completion([{"role": "user", "content": question}], temperature=0.0, max_tokens=48)
    finally:
        llm.close()
    return out["choices"][0]


def test_trained_adapter_passes_parity_and_shows_the_convention(trained, convention):
    import json

    home, store, job = trained
    assert job.state == "succeeded", job.reason
    art = home / "artifacts" / job.id
    assert job.artifact_dir == str(art)
    assert {p.name for p in art.iterdir()} == {"peft", "adapter.gguf", "merged.gguf", "report.json"}
    assert not (home / "jobs" / job.id / "out").exists()
    report = json.loads((art / "report.json").read_text())
    for name in ("adapter", "merged"):
        parity = report["parity"][name]
        assert parity["prompts"] == 8 and parity["passed"]
        assert parity["exact_match"] >= 0.95 and parity["match"] >= 0.95 and parity["stop_rate"] == 1.0
    assert report["val_loss"]["adapter"] < report["val_loss"]["base"] / 4
    assert report["dataset"] == {"version": "coder-ds1", "dir": str(home / "dataset"), "train_examples": 16,
                                 "copy_variants": 0, "val_examples": 6, "dropped_too_long": 0,
                                 "parity_prompts": {"validation": 6, "training": 2}}
    assert report["training"]["steps"] == 24 and report["training"]["tokens_per_s"] > 0
    assert job.progress["step"] == job.progress["total_steps"] == 24
    # the convention is in the trained model's and both artifacts' answers, never in the base's
    samples = report["samples"]
    assert all(convention.word in s["trained"] and convention.word in s["adapter"] and convention.word in s["merged"]
               for s in samples)
    assert not any(convention.word in s["base"] for s in samples)
    question = convention.questions[7]  # a validation question
    merged = chat(art / "merged.gguf", question)
    assert convention.word in merged["message"]["content"] and merged["finish_reason"] == "stop"
    adapter = chat(default_base_path(), question, lora_path=art / "adapter.gguf")
    assert convention.word in adapter["message"]["content"] and adapter["finish_reason"] == "stop"
    assert convention.word not in chat(default_base_path(), question)["message"]["content"]
    events = [e.type for e in store.events.list(subject=job.id, after_id=0)]
    assert events[:2] == ["job.queued", "job.started"] and events[-1] == "job.succeeded"
    assert {"job.stage"} == set(events[2:-1])


def test_references_generated_in_one_batch_equal_those_generated_one_at_a_time(trained, convention):
    import torch

    from edgelearn.train import data as D
    from edgelearn.train.reference import greedy, greedy_forks, reference_model

    home, _, job = trained
    peft = home / "artifacts" / job.id / "peft"
    model = reference_model(next((home / "cache").glob("hf-*")), peft, "cpu")
    tok = transformers.AutoTokenizer.from_pretrained(peft)
    eot = D.end_of_turn_ids(tok)
    examples = D.read_examples(home / "dataset" / "val.jsonl")
    prompts = [D.prompt_ids(tok, ex["messages"][:-1]) for ex in examples[:3]]
    prompts.append(D.prompt_ids(tok, [{"role": "user", "content": "Hi."}]))  # much shorter: padded on the left
    batched, forks = greedy_forks(model, prompts, 40, eot, "cpu")
    alone = greedy(model, prompts, 40, eot, "cpu", batch=1)
    assert len({len(p) for p in prompts}) > 1
    assert [(g.tokens, g.stopped) for g in batched] == [(g.tokens, g.stopped) for g in alone]
    # each fork is the runner-up of the teacher-forced answer, and the answer's lead over it
    for prompt, answer, fork in zip(prompts, batched, forks):
        assert len(fork) == len(answer.tokens)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + answer.tokens])).logits[0, len(prompt) - 1:-1]
        top = torch.log_softmax(logits.float(), dim=-1).topk(2, dim=-1)
        assert top.indices[:, 0].tolist() == answer.tokens
        assert [alt for alt, _ in fork] == top.indices[:, 1].tolist()
        assert [gap for _, gap in fork] == pytest.approx((top.values[:, 0] - top.values[:, 1]).tolist(), abs=1e-3)
    assert all(g.stopped and g.tokens[-1] in eot for g in alone[:3])
    assert all(convention.word in tok.decode(g.tokens) for g in alone[:3])


def test_merged_gguf_keeps_every_metadata_field_of_the_real_base(trained):
    home, _, job = trained
    base = gguf.GGUFReader(default_base_path())
    merged = gguf.GGUFReader(home / "artifacts" / job.id / "merged.gguf")
    raw = lambda f: b"".join(p.tobytes() for p in f.parts)  # noqa: E731
    assert list(base.fields) == list(merged.fields)
    for key, field in base.fields.items():
        assert raw(field) == raw(merged.fields[key]), key
    types = {t.name: t.tensor_type.name for t in merged.tensors}
    assert sum(t == "Q8_0" for t in types.values()) == 211  # 210 merged + token_embd
    assert types["blk.0.attn_norm.weight"] == "F32"


def test_sigkill_of_the_training_child_fails_the_job_and_the_runtime_keeps_serving(trained, server, convention):
    import time

    trained_home = trained[0]
    home = server.runtime.home
    (home / "cache").symlink_to(trained_home / "cache")  # the dequantized base made by the first job
    store = server.runtime.store
    dataset = convention.write(home / "dataset")
    job_id = start_job(store, fast_settings(epochs=50.0), home, role="coder", dataset_dir=dataset)
    deadline = time.monotonic() + 600
    while True:  # a bounded wait until training is under way
        job = store.jobs.get(job_id)
        if job.stage == "training" and job.progress.get("step", 0) >= 1 or not job.active:
            break
        assert time.monotonic() < deadline, f"training did not start: {job}"
        time.sleep(0.2)
    assert job.state == "running", job.reason
    os.kill(job.pid, signal.SIGKILL)
    job = wait(store, job_id, timeout=60)
    assert job.state == "failed" and "killed by SIGKILL" in job.reason
    assert not (home / "artifacts" / job_id).exists() and not (home / "jobs" / job_id / "out").exists()
    assert [e.type for e in store.events.list(subject=job_id, after_id=0)][-1] == "job.failed"
    # the runtime never noticed: it still answers and records
    assert server.client.get("/healthz").status_code == 200
    created = server.client.post("/v1/runs", json={"role": "coder", "task": "t", "output": "print(1)"})
    assert created.status_code == 201
    assert store.runs.get(created.json()["id"]) is not None
