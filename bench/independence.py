"""Independence bench: how fast good clusters move to the local model, and whether bad ones ever do.

    .venv/bin/python bench/independence.py [--runs 1000] [--out bench/results/independence.md]

Known truths. Each seeded run has 8 task clusters of one role, each a stream of ``--horizon``
requests (20,000). The teacher's reward is Beta with mean 0.8 and sd 0.15 everywhere; the
local champion is as good (0.8) on 4 clusters and worse on the other 4 (0.7 in the headline,
0.76 = twice max_gap below in a sensitivity row). Per request: at level 0 the teacher answers
and, on ``shadow_share`` of them, the local model answers in the background (a shadow sample
from the local distribution); at level L >= 1 the local model answers ``share(L)`` of them.

Three policies over the same streams:

* **sequential**: the library's rule at the default settings. The advance test is
  ``evidence.non_inferiority_log_e`` (decision.py's mSPRT shifted by ``max_gap``) evaluated at
  every sample of an epoch at once (numpy arrays), the fall-back is drift.py's CUSUM with the
  detector's own constants (``RewardDriftDetector``'s k, h, clip, adjusted baseline) in closed
  form (``S_t = C_t - min(0, min_s C_s)``). ``--check`` replays a few runs through
  ``state.observe`` one reward at a time and asserts the same level changes at the same requests.
* **thresholds**: the seed's rule without a sequential test: advance once both sides have
  ``min_samples`` runs and the running mean gap is within ``max_gap``, looked at after every
  run; fall back on "mean of the last 20 local runs >= 5 % below the teacher's mean at the step up".
* **thresholds + CUSUM**: those advance thresholds with the library's drift detector, which
  isolates what the sequential test itself adds.
* **fixed 10 %**: today's challenger split: the local model answers 10 % of every cluster, always.

"Served badly": requests on the worse clusters answered by the local model, and the reward
that cost (their count times the true gap), per 1,000 requests of the worse clusters.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from benchenv import cpu_model

from edgelearn.experiment.drift import RewardDriftDetector
from edgelearn.experiment.independence import state as rule
from edgelearn.experiment.independence.evidence import non_inferiority_log_e
from edgelearn.experiment.independence.levels import TOP, IndependenceConfig
from edgelearn.store.independence import ClusterState

TEACHER = 0.8
GOOD, BAD = 4, 4
NAIVE_WINDOW, NAIVE_DROP = 20, 0.05


def beta(rng: np.random.Generator, mean: float, sd: float, size: int) -> np.ndarray:
    kappa = mean * (1.0 - mean) / sd ** 2 - 1.0
    return rng.beta(mean * kappa, (1.0 - mean) * kappa, size)


@dataclass
class Stream:
    """Everything random about one cluster's requests, drawn up front so every policy sees the same."""

    route: np.ndarray    # uniform: local when below the level's share
    shadow: np.ndarray   # uniform: a shadow answer when below shadow_share
    teacher: np.ndarray
    local: np.ndarray
    gap: float           # true teacher mean - local mean

    @classmethod
    def draw(cls, rng, local_mean: float, sd: float, horizon: int) -> "Stream":
        return cls(rng.random(horizon), rng.random(horizon), beta(rng, TEACHER, sd, horizon),
                   beta(rng, local_mean, sd, horizon), TEACHER - local_mean)


def samples(stream: Stream, start: int, stop: int, level: int, config: IndependenceConfig):
    """(request index, is the local/shadow side, value) of every scored run in [start, stop), in order."""
    idx = np.arange(start, stop)
    if level == 0:  # the teacher's run, then (sometimes) the shadow answer of the same request
        extra = stream.shadow[start:stop] < config.shadow_share
        req = np.repeat(idx, 1 + extra)
        side = np.zeros(req.size, dtype=bool)
        side[np.cumsum(1 + extra)[extra] - 1] = True
        values = np.where(side, stream.local[req], stream.teacher[req])
        return req, side, values
    local = stream.route[start:stop] < config.share(level)
    return idx, local, np.where(local, stream.local[start:stop], stream.teacher[start:stop])


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


class Sequential:
    """The library's rule (see the module docstring)."""

    name = "sequential"

    def __init__(self, config: IndependenceConfig) -> None:
        self.config = config

    def first_event(self, side, values, level, detector):
        """(kind, sample index, teacher n, teacher mean, side std) of the first level change, or None."""
        c = self.config
        n_s, n_t = np.cumsum(side), np.cumsum(~side)
        v_s, v_t = np.where(side, values, 0.0), np.where(side, 0.0, values)
        s_s, s_t, q_s, q_t = np.cumsum(v_s), np.cumsum(v_t), np.cumsum(v_s * v_s), np.cumsum(v_t * v_t)
        up = None
        if level < TOP and (level > 0 or c.shadow_can_advance):
            valid = np.flatnonzero((n_s >= c.min_samples) & (n_t >= c.min_samples))
            if valid.size:
                log_e, _ = non_inferiority_log_e(n_s[valid], s_s[valid], np.minimum(q_s[valid], s_s[valid]),
                                                 n_t[valid], s_t[valid], np.minimum(q_t[valid], s_t[valid]),
                                                 c.max_gap, c.decision)
                hit = _first(log_e >= c.decision.log_threshold)
                up = None if hit is None else int(valid[hit])
        down = self.alarm(side, values, detector) if level > 0 else None
        if down is not None and (up is None or down <= up):
            return "fallback", down, None
        if up is None:
            return None
        n, m = n_s[up], s_s[up] / n_s[up]
        std = float(np.sqrt(max(0.0, (min(q_s[up], s_s[up]) - n * m * m) / (n - 1))))
        return "advance", up, (int(n_t[up]), float(s_t[up] / n_t[up]), std)

    @staticmethod
    def alarm(side, values, detector: RewardDriftDetector) -> int | None:
        """The sample at which ``detector`` would fire on this epoch's local rewards (closed form)."""
        pos = np.flatnonzero(side)
        if pos.size < detector.recent.maxlen:
            return None
        r = values[pos]
        steps = np.minimum((detector.baseline - r) / detector.sd, detector.clip) - detector.k
        c = np.cumsum(steps)
        cusum = c - np.minimum(np.minimum.accumulate(c), 0.0)
        w = detector.recent.maxlen
        cs = np.concatenate([[0.0], np.cumsum(r)])
        rolling = np.full(r.size, np.inf)
        rolling[w - 1:] = (cs[w:] - cs[:-w]) / w
        hit = _first((cusum >= detector.h) & (rolling <= (1.0 - detector.params["min_drop"]) * detector.baseline))
        return None if hit is None else int(pos[hit])

    def armed(self, teacher_n: int, teacher_mean: float, std: float) -> RewardDriftDetector:
        return RewardDriftDetector.from_dict(rule.drift_detector(teacher_mean, std, teacher_n, self.config))


class Thresholds(Sequential):
    """The seed's thresholds: point estimates checked after every run, the naive 20-run drop rule."""

    name = "thresholds"

    def first_event(self, side, values, level, detector):
        c = self.config
        n_s, n_t = np.cumsum(side), np.cumsum(~side)
        s_s, s_t = np.cumsum(np.where(side, values, 0.0)), np.cumsum(np.where(side, 0.0, values))
        up = None
        if level < TOP and (level > 0 or c.shadow_can_advance):
            ok = (n_s >= c.min_samples) & (n_t >= c.min_samples)
            with np.errstate(invalid="ignore", divide="ignore"):
                up = _first(ok & (s_s / n_s - s_t / n_t >= -c.max_gap))
        down = None
        if level > 0:
            pos = np.flatnonzero(side)
            if pos.size >= NAIVE_WINDOW:
                cs = np.concatenate([[0.0], np.cumsum(values[pos])])
                rolling = (cs[NAIVE_WINDOW:] - cs[:-NAIVE_WINDOW]) / NAIVE_WINDOW
                hit = _first(rolling < (1.0 - NAIVE_DROP) * detector)
                down = None if hit is None else int(pos[hit + NAIVE_WINDOW - 1])
        if down is not None and (up is None or down <= up):
            return "fallback", down, None
        if up is None:
            return None
        return "advance", up, (int(n_t[up]), float(s_t[up] / n_t[up]), 0.0)

    def armed(self, teacher_n, teacher_mean, std):
        return teacher_mean  # the baseline of the naive rule


class ThresholdsCusum(Sequential):
    """The seed's advance thresholds with the library's drift detector: what the sequential test adds."""

    name = "thresholds + CUSUM"

    def first_event(self, side, values, level, detector):
        c = self.config
        n_s, n_t = np.cumsum(side), np.cumsum(~side)
        v_s = np.where(side, values, 0.0)
        s_s, s_t, q_s = np.cumsum(v_s), np.cumsum(np.where(side, 0.0, values)), np.cumsum(v_s * v_s)
        up = None
        if level < TOP and (level > 0 or c.shadow_can_advance):
            ok = (n_s >= c.min_samples) & (n_t >= c.min_samples)
            with np.errstate(invalid="ignore", divide="ignore"):
                up = _first(ok & (s_s / n_s - s_t / n_t >= -c.max_gap))
        down = self.alarm(side, values, detector) if level > 0 else None
        if down is not None and (up is None or down <= up):
            return "fallback", down, None
        if up is None:
            return None
        n, m = n_s[up], s_s[up] / n_s[up]
        std = float(np.sqrt(max(0.0, (min(q_s[up], s_s[up]) - n * m * m) / (n - 1))))
        return "advance", up, (int(n_t[up]), float(s_t[up] / n_t[up]), std)


def run_cluster(stream: Stream, policy, config: IndependenceConfig) -> dict:
    """Walk one cluster through its horizon; returns its level history's figures."""
    horizon = stream.route.size
    level, start, detector, armed_at = 0, 0, None, {}
    local_served, ever_left, changes = 0, False, []
    while start < horizon:
        width = 512
        while True:  # most epochs end early: look a little ahead first, then further
            stop = min(horizon, start + width)
            req, side, values = samples(stream, start, stop, level, config)
            event = policy.first_event(side, values, level, detector)
            if event is not None or stop == horizon:
                break
            width *= 4
        end = int(req[event[1]]) + 1 if event else horizon
        if level > 0:
            local_served += int(side[: (event[1] + 1) if event else side.size].sum())
        if event is None:
            break
        kind, _, numbers = event
        if kind == "advance":
            level += 1
            detector = policy.armed(*numbers)
            armed_at.setdefault(level, end)
            ever_left = True
        else:
            level -= 1
            if level == 0:
                detector = None
            elif isinstance(detector, RewardDriftDetector):
                detector = RewardDriftDetector(**detector.params)
        changes.append((end - 1, level))
        start = end
    return {"level2": armed_at.get(2), "ever_left": ever_left, "local_served": local_served, "final": level,
            "changes": changes}


def fixed_split(stream: Stream, share: float = 0.1) -> dict:
    local = int((stream.route < share).sum())
    return {"level2": None, "ever_left": True, "local_served": local, "final": None, "changes": []}


def replay(stream: Stream, config: IndependenceConfig) -> list[tuple[int, int]]:
    """The same stream fed through ``state.observe`` one reward at a time: (request, new level) per change."""
    s = ClusterState("bench", 0)
    changes = []
    for i in range(stream.route.size):
        if s.level == 0:
            events = [rule.observe(s, "teacher", None, float(stream.teacher[i]), config)]
            if stream.shadow[i] < config.shadow_share:
                events.append(rule.observe(s, "shadow", None, float(stream.local[i]), config))
        elif stream.route[i] < config.share(s.level):
            events = [rule.observe(s, "local", None, float(stream.local[i]), config)]
        else:
            events = [rule.observe(s, "teacher", None, float(stream.teacher[i]), config)]
        changes += [(i, e.new) for e in events if e is not None]
    return changes


def simulate(runs: int, horizon: int, bad_mean: float, sd: float, config: IndependenceConfig, seed: int = 20):
    policies = (Sequential(config), ThresholdsCusum(config), Thresholds(config))
    out = {p.name: {"good": [], "bad": []} for p in policies} | {"fixed 10 %": {"good": [], "bad": []}}
    for run in range(runs):
        rng = np.random.default_rng([seed, run])
        for kind, mean, count in (("good", TEACHER, GOOD), ("bad", bad_mean, BAD)):
            for _ in range(count):
                stream = Stream.draw(rng, mean, sd, horizon)
                for p in policies:
                    out[p.name][kind].append(run_cluster(stream, p, config) | {"gap": stream.gap})
                out["fixed 10 %"][kind].append(fixed_split(stream) | {"gap": stream.gap})
    return out


def rows(results: dict, horizon: int, runs: int) -> list[str]:
    lines = []
    for name, r in results.items():
        good, bad = r["good"], r["bad"]
        reach = np.array([g["level2"] if g["level2"] is not None else np.nan for g in good], dtype=float)
        reached = np.isfinite(reach)
        med = f"{np.nanmedian(reach):,.0f}" if reached.any() else "–"
        p90 = f"{np.nanpercentile(reach, 90):,.0f}" if reached.mean() >= 0.9 else "–"
        share_good = np.mean([g["local_served"] for g in good]) / horizon
        left = np.mean([b["ever_left"] for b in bad])
        runs_left = sum(any(b["ever_left"] for b in bad[i * BAD:(i + 1) * BAD]) for i in range(runs))
        bad_local = np.array([b["local_served"] for b in bad], dtype=float)
        per_k = 1000.0 * bad_local.mean() / horizon
        lost = 1000.0 * np.mean([b["local_served"] * b["gap"] for b in bad]) / horizon
        if name == "fixed 10 %":
            med, p90, reached_text, left_text = "never", "–", "–", "– (always 10 %)"
        else:
            reached_text = f"{reached.mean():.1%}"
            left_text = f"{left:.2%} ({runs_left} of {runs} runs)"
        lines.append(f"| {name} | {med} | {p90} | {reached_text} | {share_good:.1%} | {left_text} | "
                     f"{per_k:.2f} | {lost:.3f} |")
    return lines


def check_against_library(config: IndependenceConfig, runs: int, horizon: int, sd: float) -> tuple[int, list[str]]:
    """Replay streams through state.observe and compare the level changes with the vectorized rule."""
    checked, mismatches = 0, []
    for run in range(runs):
        rng = np.random.default_rng([99, run])
        for mean in (TEACHER, TEACHER - 0.1, TEACHER - 0.04):
            stream = Stream.draw(rng, mean, sd, horizon)
            fast = run_cluster(stream, Sequential(config), config)["changes"]
            slow = replay(stream, config)
            checked += len(slow)
            if fast != slow:
                mismatches.append(f"run {run}, local mean {mean}: vectorized {fast} != state.observe {slow}")
    return checked, mismatches


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu_model()}; {os.cpu_count()} cores visible; load average {load} at start (shared machine); "
            f"Python {platform.python_version()}, numpy {np.__version__}, {platform.system()} {platform.release()}")


HEADER = ("| policy | requests to level 2, median | p90 | good clusters at level 2 by the end | "
          "local share, good clusters | a worse cluster ever left level 0 | worse-cluster requests served "
          "locally per 1k | reward lost per 1k |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--side-runs", type=int, default=200, help="runs for each sensitivity row")
    ap.add_argument("--horizon", type=int, default=20_000)
    ap.add_argument("--check", type=int, default=3, help="runs replayed through state.observe (0: none)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "independence.md")
    args = ap.parse_args(argv)
    config = IndependenceConfig()
    t0 = time.perf_counter()
    info = machine()
    checked, mismatches = check_against_library(config, args.check, args.horizon, 0.15) if args.check else (0, [])
    for line in mismatches:
        print("MISMATCH", line, file=sys.stderr)
    scenarios = [("headline: worse clusters at 0.70, reward sd 0.15", 0.70, 0.15, args.runs),
                 ("worse clusters at 0.76 (twice max_gap below), sd 0.15", 0.76, 0.15, args.side_runs),
                 ("worse clusters at 0.70, reward sd 0.10", 0.70, 0.10, args.side_runs),
                 ("worse clusters at 0.70, reward sd 0.20", 0.70, 0.20, args.side_runs)]
    sections = []
    for title, bad_mean, sd, runs in scenarios:
        s0 = time.perf_counter()
        results = simulate(runs, args.horizon, bad_mean, sd, config)
        sections.append((title, runs, rows(results, args.horizon, runs), time.perf_counter() - s0))
        print(f"{title}: {runs} runs in {time.perf_counter() - s0:.0f} s", file=sys.stderr)
    text = [
        "# Independence benchmark", "",
        f"Machine: {info}.",
        f"Run: `python bench/independence.py --runs {args.runs} --side-runs {args.side_runs} --horizon "
        f"{args.horizon}`, {time.perf_counter() - t0:.0f} s in all.", "",
        f"Each run: 8 clusters of {args.horizon:,} requests; the teacher's reward has mean {TEACHER} everywhere;"
        " the local champion matches it on 4 clusters and is worse on 4. Defaults: shares "
        f"{'/'.join(f'{s:.0%}' for s in config.shares)}, max_gap {config.max_gap}, confidence {config.confidence}, "
        f"min_samples {config.min_samples}, shadow_share {config.shadow_share}, drift window {config.drift_window} "
        f"and min_drop {config.drift_min_drop}. See the script's docstring for the policies.", "",
        f"Checked: {args.check} runs x 3 clusters (local 0.80, 0.70, 0.76) replayed through `state.observe` reward "
        f"by reward: {checked} level changes, {len(mismatches)} clusters whose changes differ from the vectorized "
        "rule's.", *mismatches, "",
    ]
    for title, runs, lines, secs in sections:
        text += [f"## {title} ({runs:,} runs, {secs:.0f} s)", "", HEADER, *lines, ""]
    args.out.write_text("\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
