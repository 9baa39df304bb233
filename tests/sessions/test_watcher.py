"""The workspace watcher picks up results the repository's tools write, on a real file system."""

import json
import shutil
import time

import pytest
from elsupport import start_server, wait_for

from edgelearn.runtime import Runtime
from edgelearn.sessions.watcher import read_result, result_kind

JUNIT = ('<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="pytest" tests="3" failures="1">'
         '<testcase classname="t" name="a"/><testcase classname="t" name="b"/>'
         '<testcase classname="t" name="c"><failure message="boom">trace</failure></testcase>'
         '</testsuite></testsuites>\n')
SARIF = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "ruff"}}, "results": [
    {"ruleId": "F401", "message": {"text": "unused"}}, {"ruleId": "E711", "message": {"text": "x"}}]}]}


@pytest.fixture
def watched(home, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (home / "edgelearn.toml").write_text(f'[watch]\npaths = ["{repo}"]\ndebounce_s = 0.2\n')
    rt = Runtime(home=home, embed=False)
    live, stop = start_server(rt)
    yield live, repo
    stop()


def outcomes(live, session):
    return live.client.get(f"/v1/sessions/{session}").json()["signals"]


def test_a_junit_file_written_in_two_chunks_gives_one_tests_signal(watched):
    live, repo = watched
    rid = live.client.post("/v1/runs", json={"role": "coder", "output": "x", "session": "w1",
                                             "project": str(repo / "sub")}).json()["id"]
    report = repo / "build" / "junit.xml"
    report.parent.mkdir()
    half = len(JUNIT) // 2
    with report.open("w") as fh:
        fh.write(JUNIT[:half])
        fh.flush()
        time.sleep(0.6)  # past the quiet time: the watcher reads the half file (and must wait for more)
        fh.write(JUNIT[half:])
    signals = wait_for(lambda: outcomes(live, "w1"))
    assert [(s["kind"], s["raw"], s["source"]) for s in signals] == [
        ("tests", {"passed": 2, "total": 3}, "watch:junit")]
    assert live.client.get(f"/v1/runs/{rid}").json()["reward"] == pytest.approx(2 / 3)
    report.touch()  # the same content again is not a new result
    time.sleep(0.6)
    assert len(outcomes(live, "w1")) == 1


def test_sarif_and_lastfailed_and_a_deleted_folder(watched):
    live, repo = watched
    live.client.post("/v1/runs", json={"role": "coder", "output": "x", "session": "w2", "project": str(repo)})
    gone = repo / "tmpout"
    gone.mkdir()
    (gone / "report.xml").write_text("<testsuite")
    shutil.rmtree(gone)  # deleted before it settled: logged, not fatal
    (repo / "lint.sarif").write_text(json.dumps(SARIF))
    wait_for(lambda: len(outcomes(live, "w2")) == 1)
    cache = repo / ".pytest_cache" / "v" / "cache"
    cache.mkdir(parents=True)
    (cache / "lastfailed").write_text(json.dumps({"tests/test_a.py::test_b": True}))
    signals = wait_for(lambda: outcomes(live, "w2") if len(outcomes(live, "w2")) == 2 else None)
    assert [(s["kind"], s["raw"]) for s in signals] == [("errors", 2), ("tests", {"passed": 0, "total": 1})]


def test_result_files_are_recognised_and_partial_ones_wait(tmp_path):
    assert result_kind(tmp_path / ".pytest_cache" / "v" / "cache" / "lastfailed") == "lastfailed"
    assert result_kind(tmp_path / "out.sarif") == "sarif" and result_kind(tmp_path / "a.py") is None
    f = tmp_path / "r.xml"
    f.write_text(JUNIT[:40])
    assert read_result(f, "junit") is None
    f.write_text("<project><modelVersion/></project>")  # an XML file that is no test report
    assert read_result(f, "junit") is None
    f.write_text(JUNIT)
    assert read_result(f, "junit") == {"tests": {"passed": 2, "total": 3}}
