"""``edgelearn train`` and ``edgelearn jobs`` (training itself runs in the slow tests)."""

import json

from edgelearn.cli import main


def test_train_from_a_file_splits_it_and_refuses_a_missing_base(home, tmp_path, convention, monkeypatch, capsys):
    source = tmp_path / "runs.jsonl"
    source.write_text("".join(json.dumps(x) + "\n" for x in convention.lines()))
    monkeypatch.setenv("EDGELEARN_TRAIN__BASE_MODEL", str(tmp_path / "absent.gguf"))
    assert main(["train", "--dataset", str(source)]) == 1
    assert "absent.gguf does not exist" in capsys.readouterr().err
    (split,) = (home / "cache" / "datasets").iterdir()
    train = (split / "train.jsonl").read_text().splitlines()
    val = (split / "val.jsonl").read_text().splitlines()
    assert len(train) + len(val) == len(convention.lines()) and val
    assert main(["jobs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_unknown_dataset_version_is_bad_input(home, capsys):
    assert main(["train", "--dataset", "coder-ds99"]) == 2
    assert "neither a file nor a dataset version" in capsys.readouterr().err


def test_jobs_list_show_and_cancel(home, capsys):
    from edgelearn.store import Store

    store = Store(home / "edgelearn.db")
    (home / "jobs" / "job-cli1").mkdir(parents=True)
    store.jobs.create("job-cli1", role="fixer", base_model="b", dataset_dir="d", job_dir=str(home / "jobs" / "job-cli1"),
                      dataset_version="fixer-ds1", config={})
    store.close()
    assert main(["jobs", "--json", "--role", "fixer"]) == 0
    assert [j["id"] for j in json.loads(capsys.readouterr().out)] == ["job-cli1"]
    assert main(["jobs"]) == 0
    assert "job-cli1" in capsys.readouterr().out
    assert main(["jobs", "cancel", "job-cli1"]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert main(["jobs", "show", "job-cli1"]) == 0
    assert "cancelled before it started" in capsys.readouterr().out
    assert main(["jobs", "show", "job-nope"]) == 1
