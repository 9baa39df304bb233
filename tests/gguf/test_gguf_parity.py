"""The parity comparison and gate decision, driven by a scripted runner (llama.cpp runs in the slow tests)."""

from edgelearn.gguf.parity import Generation, check_parity, compare_prompt

EOT = 2


class ScriptedRunner:
    """Stands in for LlamaRunner: fixed teacher-forced tops/gaps and a fixed free-running output."""

    def __init__(self, tops, gaps, free):
        self.tops, self.gaps, self.free = tops, gaps, free
        self.greedy_calls = 0

    def forced(self, prompt, reference):
        return self.tops, self.gaps

    def greedy(self, prompt, max_tokens, stop_ids):
        self.greedy_calls += 1
        return self.free


def compare(ref, runner, **kw):
    args = dict(n_tokens=4, max_tokens=8, tie_margin=0.5, stop_ids=[EOT])
    args.update(kw)
    return compare_prompt(ref, runner, [1, 5], **args)


def test_identical_teacher_forced_run_needs_no_free_running_pass():
    ref = Generation([10, 11, 12, EOT], True)
    runner = ScriptedRunner([10, 11, 12, EOT], [0, 0, 0, 0], None)
    p = compare(ref, runner)
    assert p.exact and p.near_tie_only and p.stopped and p.stop_forced and p.agreement == 1.0
    assert runner.greedy_calls == 0


def test_near_tie_divergence_passes_match_but_not_exact():
    ref = Generation([10, 11, 12, EOT], True)
    runner = ScriptedRunner([10, 99, 12, EOT], [0, 0.2, 0, 0], Generation([10, 99, 7, EOT], True))
    p = compare(ref, runner)
    assert not p.exact and p.prefix == 1 and p.near_tie_only and p.agreement == 0.75 and p.max_gap == 0.2


def test_large_gap_is_a_mismatch_and_never_stopping_fails_stop():
    ref = Generation([10, 11, 12, EOT], True)
    runner = ScriptedRunner([10, 11, 12, 40], [0, 0, 0, 3.0], Generation([10, 11, 12, 40, 41, 42, 43, 44], False))
    p = compare(ref, runner)
    assert not p.exact and p.prefix == 3 and not p.near_tie_only and p.max_gap == 3.0
    assert not p.stopped and not p.stop_forced


def test_gate_reports_which_artifact_and_why():
    ref = Generation([10, 11, 12, EOT], True)
    good = ScriptedRunner([10, 11, 12, EOT], [0, 0, 0, 0], None)
    bad = ScriptedRunner([10, 50, 12, 40], [0, 2.5, 0, 4.0], Generation([10, 50, 51, 52, 53, 54, 55, 56], False))
    kw = dict(n_tokens=4, max_tokens=8, stop_ids=[EOT], tie_margin=0.5, min_match=0.95, min_stop=1.0)
    ok = check_parity("adapter", good, [[1]] * 3, [ref] * 3, **kw)
    assert ok.passed and ok.match == 1.0 and ok.exact_match == 1.0 and ok.stop_rate == 1.0 and ok.reason is None
    failed = check_parity("merged", bad, [[1]] * 3, [ref] * 3, **kw)
    assert not failed.passed and failed.match == 0.0 and failed.stop_rate == 0.0
    assert "merged: only 0% of prompts match" in failed.reason and "largest logit gap 4.00" in failed.reason
    assert "ends its turn where the trained model does on only 0%" in failed.reason
    assert "details" not in failed.summary()
