"""Job records: states and their events, cancellation, and settling jobs whose process is gone."""

import json
import subprocess
import sys

import pytest

from edgelearn.errors import InvalidInput, NotFound
from edgelearn.train import cancel, get, recover


def new_job(store, home, job_id="job-test1"):
    job_dir = home / "jobs" / job_id
    job_dir.mkdir(parents=True)
    return store.jobs.create(job_id, role="coder", base_model="base.gguf", dataset_dir=str(home / "ds"),
                             job_dir=str(job_dir), dataset_version="coder-ds1", config={"rank": 16})


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lifecycle_records_state_progress_and_events(store, home):
    job = new_job(store, home)
    assert (job.state, job.stage, job.config, job.cancel_requested) == ("queued", "queued", {"rank": 16}, False)
    assert store.jobs.start(job.id, pid=123, proc_start=None, backend="peft")
    store.jobs.report(job.id, stage="training", progress={"step": 3, "total_steps": 10, "loss": 1.5})
    store.jobs.report(job.id, progress={"step": 4, "total_steps": 10, "loss": 1.2})
    job = store.jobs.get(job.id)
    assert (job.state, job.stage, job.progress["step"], job.backend) == ("running", "training", 4, "peft")
    assert store.jobs.finish(job.id, "succeeded", metrics={"val_loss": {"base": 2.0, "adapter": 1.0}},
                             artifact_dir="/a")
    assert not store.jobs.finish(job.id, "failed", reason="late")  # an ended job stays ended
    job = store.jobs.get(job.id)
    assert (job.state, job.reason, job.artifact_dir, job.metrics["val_loss"]["adapter"]) == ("succeeded", None, "/a", 1.0)
    types = [e.type for e in store.events.list(subject=job.id, after_id=0)]
    assert types == ["job.queued", "job.started", "job.stage", "job.succeeded"]
    with pytest.raises(InvalidInput):
        store.jobs.finish(job.id, "done")
    with pytest.raises(NotFound, match="edgelearn jobs"):
        store.jobs.get("job-nope")


def test_cancelling_a_job_that_never_started(store, home):
    job = new_job(store, home)
    job = cancel(store, job.id)
    assert job.state == "cancelled" and job.reason == "cancelled before it started"
    assert not store.jobs.start(job.id, pid=1, proc_start=None, backend="peft")  # a late child does not revive it


def test_a_vanished_process_fails_the_job_and_removes_its_output(store, home):
    job = new_job(store, home)
    store.jobs.start(job.id, pid=dead_pid(), proc_start=None, backend="peft")
    out = home / "jobs" / job.id / "out"
    out.mkdir()
    (out / "merged.gguf.tmp").write_bytes(b"half")
    job = get(store, job.id)
    assert job.state == "failed" and "vanished" in job.reason and not out.exists()


def test_recover_settles_a_job_that_published_before_it_died(store, home):
    job = new_job(store, home)
    store.jobs.start(job.id, pid=dead_pid(), proc_start=None, backend="peft")
    (home / "jobs" / job.id / "spec.json").write_text(json.dumps({
        "job_id": job.id, "role": "coder", "home": str(home), "store_path": str(store.path),
        "dataset_dir": "x", "dataset_version": None, "base_model": "", "backend": "peft",
        "backend_requested": "auto", "train": {}}))
    artifact = home / "artifacts" / job.id
    artifact.mkdir(parents=True)
    (artifact / "report.json").write_text(json.dumps({"val_loss": {"base": 2.0, "adapter": 0.5}}))
    other = new_job(store, home, "job-test2")
    store.jobs.start(other.id, pid=dead_pid(), proc_start=None, backend="peft")
    assert sorted(recover(store)) == [job.id, other.id]
    assert store.jobs.get(job.id).state == "succeeded" and store.jobs.get(job.id).artifact_dir == str(artifact)
    assert store.jobs.get(other.id).state == "failed"
    assert store.jobs.fail_orphans(lambda j: False) == []  # nothing active is left


def test_jobs_http_api(server, home):
    store = server.runtime.store
    new_job(store, home)
    listed = server.client.get("/v1/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == ["job-test1"] and listed[0]["state"] == "queued"
    assert server.client.get("/v1/jobs", params={"state": "bogus"}).status_code == 422
    assert server.client.get("/v1/jobs/job-nope").status_code == 404
    cancelled = server.client.post("/v1/jobs/job-test1/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert server.client.get("/v1/jobs/job-test1").json()["reason"] == "cancelled before it started"


def test_one_active_job_per_role(store, settings, home, convention_dataset):
    import os

    from edgelearn.errors import TrainingError
    from edgelearn.train import start_job
    from edgelearn.train.proc import process_start

    job = new_job(store, home)
    store.jobs.start(job.id, pid=os.getpid(), proc_start=process_start(os.getpid()), backend="peft")  # alive
    with pytest.raises(TrainingError, match="job-test1 is still training role 'coder'"):
        start_job(store, settings, home, role="coder", dataset_dir=convention_dataset)
    assert [j.id for j in store.jobs.list()] == ["job-test1"]


def test_cancel_never_signals_a_process_that_is_not_the_job(store, home):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        job = new_job(store, home)
        store.jobs.start(job.id, pid=bystander.pid, proc_start=None, backend="peft")  # e.g. a recycled pid
        job = cancel(store, job.id, grace_s=0.5)
        assert job.state == "cancelled" and "killed after" in job.reason
        assert bystander.poll() is None  # still running: it was never signalled
    finally:
        bystander.kill()
        bystander.wait()
