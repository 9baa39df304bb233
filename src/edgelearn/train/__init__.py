"""LoRA training in a child process, GGUF export and the parity gate.

Public API (for the loop, the CLI and the HTTP layer; ``store`` is the runtime's Store)::

    from edgelearn.train import start_job, wait, cancel, get, list_jobs, recover

    job_id = start_job(store, settings, home, role="coder", dataset_dir=ds.path,
                       dataset_version=ds.version, evaluators=None)   # -> "job-018f...": str
    job = wait(store, job_id, timeout=None)     # -> store.jobs.Job once it ended (or at timeout)
    job = get(store, job_id)                    # -> Job now (a vanished process is settled first)
    job = cancel(store, job_id, grace_s=30)     # SIGTERM + store flag, SIGKILL after grace_s
    jobs = list_jobs(store, role=None, state=None, limit=50)
    settled = recover(store)                    # at runtime start: jobs whose process is gone

``start_job`` raises TrainingError before recording anything when the dataset directory,
the base model (missing, unsupported architecture) or the forced backend is unusable, or a
job of the same role is still active. ``evaluators`` maps a check kind to a
``"module:function"`` evaluator (``train.evaluate``; "taskpack" is built in).
``Job`` has ``state`` (queued | running | succeeded | failed | cancelled), ``stage``,
``progress`` (step, total_steps, epoch, loss, tokens_per_s, eta_s), ``metrics`` (training,
val_loss, parity, eval), ``artifact_dir`` and ``reason``. Every change is an event ``job.*``.

Files: ``<home>/jobs/<id>/`` holds spec.json, child.log and ``out/`` while it runs (and
report.json of a failed gate); a succeeded job's ``out/`` is renamed to
``<home>/artifacts/<id>/`` = ``peft/`` (adapter + tokenizer), ``adapter.gguf``,
``merged.gguf`` and ``report.json`` (keys: job_id, role, created_at, base_model {gguf, arch,
hf_dir}, dataset, backend, device, precision, train_config, training, val_loss {base,
adapter}, parity {adapter, merged, passed}, artifacts, samples, eval {kind: {base, adapter}},
timings). A job is published only when both GGUFs pass the parity gate (``gguf.parity``).

Modules: ``base`` (finding the base, dequantized cache), ``data`` (messages JSONL, split,
tokenization), ``backends`` (peft, unsloth), ``trainer`` (the loop), ``pipeline`` (one job
end to end), ``gate`` (llama.cpp parity and evaluation), ``evaluate`` (check evaluators),
``child`` (the process), ``jobs`` (this API).
"""

from edgelearn.train.jobs import cancel, get, list_jobs, recover, start_job, wait

__all__ = ["start_job", "wait", "get", "cancel", "list_jobs", "recover"]
