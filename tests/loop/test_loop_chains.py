"""The loop's chains up to the training step (and after it, from a job that had already ended):
what each toggle and threshold does, manual triggers, and what a restart does with a chain left
running. Chains are driven by ``tick()``; nothing trains."""

from __future__ import annotations

import os

import pytest
from elsupport import wait_for

from edgelearn.errors import InvalidInput
from edgelearn.loop.status import learning_status


def only_chain(runtime, role: str = "coder"):
    chains = runtime.store.experiments.chains(role)
    assert len(chains) == 1, chains
    return chains[0]


def chain_events(runtime, chain) -> list[str]:
    return [e.type for e in reversed(runtime.store.events.list(subject=str(chain.id)))]


def test_with_auto_train_off_a_triggered_chain_curates_and_ends_done(make_runtime, record, fake_embeddings):
    rt = make_runtime(export={"min_runs": 20}, train={"auto_train": False})
    record(rt, [1.0] * 20)
    loop = rt.services["loop"]
    loop.tick()
    chain = only_chain(rt)
    assert (chain.trigger, chain.state, chain.stage) == ("sample_count", "done", "done")
    assert chain.dataset_version == "coder-ds1" and chain.job_id is None
    assert chain.reason == "dataset coder-ds1 exported; train.auto_train is off"
    dataset = rt.store.datasets.get("coder-ds1")
    assert dataset.counts["examples"] == 20
    assert chain_events(rt, chain) == ["loop.triggered", "loop.done"]
    progress = learning_status(rt)["roles"]["coder"]["progress"]
    assert progress == {"export": {"have": 0, "need": 20}, "train": {"have": dataset.counts["train"], "need": 500}}
    assert rt.store.jobs.list() == []
    loop.tick()  # the runs are in a dataset now: nothing new to learn from
    assert len(rt.store.experiments.chains("coder")) == 1


def test_a_dataset_under_min_examples_ends_the_chain_before_training(make_runtime, record, fake_embeddings):
    rt = make_runtime(export={"min_runs": 20}, train={"min_examples": 500})
    record(rt, [1.0] * 20)
    rt.services["loop"].tick()
    chain = only_chain(rt)
    assert (chain.state, chain.stage, chain.job_id) == ("done", "done", None)
    counts = rt.store.datasets.get(chain.dataset_version).counts
    train_n = counts["train"]
    assert train_n == 20 - counts["val"]  # each run's side follows from its random id: any count can come
    assert chain.reason == (f"dataset {chain.dataset_version} has {train_n} training examples; "
                            f"training needs 500 (train.min_examples)")
    assert rt.store.jobs.list() == []
    assert rt.store.experiments.last_training_start("coder") is None  # no cooldown without training


def test_a_dataset_without_validation_examples_ends_the_chain_before_training(make_runtime, record, fake_embeddings):
    rt = make_runtime(export={"min_runs": 20, "val_fraction": 1e-12}, train={"min_examples": 5})
    record(rt, [1.0] * 20)
    rt.services["loop"].tick()
    chain = only_chain(rt)
    assert (chain.state, chain.stage, chain.job_id) == ("done", "done", None)
    assert rt.store.datasets.get(chain.dataset_version).counts["val"] == 0
    assert chain.reason == (f"dataset {chain.dataset_version} has no validation examples yet "
                            f"(export.val_fraction=1e-12); training waits for more runs")
    assert rt.store.jobs.list() == []


def test_nothing_happens_when_no_trigger_is_due(make_runtime, record):
    rt = make_runtime(export={"min_runs": 20})
    record(rt, [1.0] * 19)
    rt.services["loop"].tick()
    assert rt.store.experiments.chains() == []


def test_a_manual_trigger_is_skipped_while_an_experiment_runs(make_runtime, record, register_model):
    rt = make_runtime(export={"min_runs": 5})
    record(rt, [1.0] * 10)  # a sample_count trigger would be due too
    exp_id = rt.services["experiments"].start_experiment("coder", register_model(rt))
    loop = rt.services["loop"]
    loop.trigger("coder", "asked by the test")
    loop.tick()
    skipped = rt.store.events.list(type="loop.skipped")
    assert [(e.role, e.payload) for e in skipped] == [
        ("coder", {"reason": "an experiment is running", "trigger": "asked by the test"})]
    assert rt.store.experiments.chains() == []
    assert rt.store.experiments.get(exp_id).state == "running"
    loop.tick()  # the manual trigger was used up, the automatic one waits for the experiment
    assert len(rt.store.events.list(type="loop.skipped")) == 1 and rt.store.experiments.chains() == []


def test_a_manual_trigger_ignores_thresholds_and_a_failing_stage_fails_the_chain(make_runtime):
    rt = make_runtime()
    loop = rt.services["loop"]
    loop.trigger("fixer", "nothing recorded yet")
    loop.tick()
    chain = only_chain(rt, "fixer")
    assert (chain.trigger, chain.state, chain.stage) == ("manual", "failed", "curate")
    assert chain.reason.startswith("no example for role 'fixer'") and chain.dataset_version is None
    assert chain_events(rt, chain) == ["loop.triggered", "loop.failed"]
    failed = rt.store.events.list(type="loop.failed")[0]
    assert failed.payload == {"chain": chain.id, "stage": "curate", "reason": chain.reason}


def test_trigger_refuses_a_bad_role_name(make_runtime):
    loop = make_runtime().services["loop"]
    with pytest.raises(InvalidInput, match="role"):
        loop.trigger("no spaces allowed")


# restart ------------------------------------------------------------------------------------------
def leave_chain_running(runtime, stage: str, **fields) -> int:
    """A chain as a process that died at ``stage`` left it."""
    store = runtime.store

    def fn(conn):
        chain_id = store.experiments.start_chain_in(conn, "coder", "sample_count", {"good_runs": 20})
        store.experiments.update_chain_in(conn, chain_id, stage=stage, **fields)
        return chain_id

    return store.write(fn)


def leave_job_running(runtime, tmp_path, job_id: str = "job-vanished") -> str:
    """A running training job whose process is not there any more (same pid, another start marker)."""
    store = runtime.store
    store.jobs.create(job_id, role="coder", base_model="stand-in", dataset_dir=str(tmp_path / "dataset"),
                      job_dir=str(tmp_path / "jobs" / job_id), dataset_version="coder-ds1", config={})
    assert store.jobs.start(job_id, pid=os.getpid(), proc_start="not-this-process", backend="peft")
    return job_id


def test_after_a_restart_a_chain_whose_training_process_is_gone_fails_with_the_reason(make_runtime, tmp_path):
    before = make_runtime()
    job_id = leave_job_running(before, tmp_path)
    chain_id = leave_chain_running(before, "train", dataset_version="coder-ds1", job_id=job_id)
    before.stop()

    after = make_runtime()
    loop = after.services["loop"]
    loop.start()  # settles orphaned jobs, then ticks at once
    wait_for(lambda: after.store.experiments.chain(chain_id).state != "running", timeout=20)
    loop.stop()
    chain = after.store.experiments.chain(chain_id)
    job = after.store.jobs.get(job_id)
    assert job.state == "failed" and job.reason == "the training process vanished (runtime restart or crash)"
    assert (chain.state, chain.stage) == ("failed", "train")
    assert chain.reason == f"training job {job_id} failed: the training process vanished (runtime restart or crash)"
    assert chain_events(after, chain) == ["loop.triggered", "loop.resumed", "loop.failed"]
    assert after.store.events.list(type="loop.resumed")[0].payload == {"chain": chain_id, "stage": "train"}
    assert after.store.models.list() == []


def test_a_chain_left_at_curate_resumes_on_the_next_tick(make_runtime, record, fake_embeddings):
    before = make_runtime()
    record(before, [1.0] * 20)
    chain_id = leave_chain_running(before, "curate")
    before.stop()

    after = make_runtime(train={"auto_train": False})
    after.services["loop"].tick()
    chain = after.store.experiments.chain(chain_id)
    assert (chain.state, chain.dataset_version) == ("done", "coder-ds1")
    assert chain.reason == "dataset coder-ds1 exported; train.auto_train is off"
    assert chain_events(after, chain) == ["loop.triggered", "loop.resumed", "loop.done"]
    assert len(after.store.experiments.chains()) == 1  # resumed, not started again
    assert after.store.datasets.get("coder-ds1").counts["examples"] == 20


@pytest.mark.parametrize("auto_deploy", [True, False])
def test_a_job_that_ended_while_the_runtime_was_down_resumes_at_registration(
        make_runtime, tmp_path, artifacts, auto_deploy):
    before = make_runtime()
    job_id = leave_job_running(before, tmp_path, "job-finished")
    chain_id = leave_chain_running(before, "train", dataset_version="coder-ds1", job_id=job_id)
    artifacts(before.home / "artifacts" / job_id)  # published, then the process died before recording it
    before.stop()

    after = make_runtime(deploy={"auto_deploy": auto_deploy})
    after.services["loop"].tick()
    chain = after.store.experiments.chain(chain_id)
    assert after.store.jobs.get(job_id).state == "succeeded"
    assert (chain.state, chain.stage, chain.model_id) == ("done", "done", "coder-v1")
    model = after.store.models.get("coder-v1")
    assert (model.job_id, model.dataset_version) == (job_id, "coder-ds1")
    if auto_deploy:
        exp = after.store.experiments.running("coder")[0]
        assert (exp.champion, exp.challenger, model.state) == ("base", "coder-v1", "challenger")
        assert chain.experiment_id == exp.id
        assert chain.reason == f"coder-v1 is racing the champion in {exp.id}"
    else:
        assert after.store.experiments.running() == [] and model.state == "candidate"
        assert chain.reason == "coder-v1 registered as a candidate; deploy.auto_deploy is off"
