"""``edgelearn demo --headless``, the README's main job, run whole as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.timeout(1500)  # 12 to 16 minutes on 2 cores, by the CPU behind the machine (training alone 400-520 s)
def test_demo_runs_one_whole_cycle_and_reports_before_and_after(home):
    env = dict(os.environ, EDGELEARN_HOME=str(home))
    # 60 independence requests: a cluster reaches level 1 on shadow evidence about 10 requests after the promotion
    proc = subprocess.run([sys.executable, "-m", "edgelearn", "demo", "--headless", "--json", "--eval-limit", "8",
                           "--independence-requests", "60"], env=env, capture_output=True, text=True, timeout=1400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "before: " in out and " → after: " in out
    result = json.loads(out[out.index("{\n"):])
    assert result["heldout"] == 8 and result["champion"] == "coder-v1"
    assert result["before"] <= 0.25 and result["after"] >= 0.5 and result["after"] > result["before"]
    events = result["events"]
    for earlier, later in [("loop.triggered", "dataset.created"), ("dataset.created", "job.succeeded"),
                           ("job.succeeded", "experiment.started"), ("experiment.started", "experiment.promoted")]:
        assert events.index(earlier) < events.index(later)
    # the teacher is a provider over HTTP: it answered every training task, and the experiment (fed by
    # shadow answers while the level was 0) promoted before any level moved
    assert result["teacher_requests"] >= 98
    assert events.index("experiment.promoted") < events.index("independence.advanced")
    indep = result["independence"]
    assert max(indep["levels"].values()) >= 1 and indep["changes"]
    assert 0 < indep["local"] < indep["requests"] and indep["local_share"] > 0
    assert indep["cost_saved"] > 0 and indep["report"]["price_per_m"] == {"input": 3.0, "output": 15.0}
    assert "local share " in out and "cost saved $" in out
    # every held-out answer was checked, for the base and for the promoted adapter
    assert [a["model"] for a in result["answers"]] == ["base"] * 8 + ["coder-v1"] * 8
    # the tool-use family (on by default) was trained in the same cycle: every held-out tool task was
    # asked through the gateway with the house tools, before and after
    assert result["tools_heldout"] == 20 and len(result["tool_answers"]) == 40
    assert result["tools_before"] <= 0.1 and result["tools_after"] >= 0.5
    assert "; tool calls before: " in out
    # the job trained copy variants of the tool rows, and no held-out word was swapped in
    report = json.loads(next((home / "demo" / "artifacts").glob("*/report.json")).read_text())
    assert report["dataset"]["copy_variants"] >= 60 and report["train_config"]["copy_variants"] == 2
    from edgelearn.demo.tool_pack import NAMES

    held = {name for _, heldout in NAMES.values() for name in heldout if " " not in name}
    assert "payments" in held and held <= set(report["train_config"]["copy_exclude"])
    # the demo ran in its own home inside the user's: the user's store is untouched
    assert (home / "demo" / "edgelearn.db").exists() and not (home / "edgelearn.db").exists()
