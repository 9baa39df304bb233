"""Build bench/RESULTS.md from the per-benchmark files under bench/results/ (each names its machine)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["efficacy", "hook", "hook_wave2", "hook_embed", "gateway", "gateway_prefix", "proxy", "memory", "sessions",
         "independence", "train", "export", "bandits", "experiment", "tui"]

SUMMARY = """# Benchmark results

Every benchmark compares side by side in one run (ours beside the floor or the baseline) and
names its machine. All were taken on this project's machine kind: 2 shared cores (AMD EPYC),
24 GiB, no GPU, Python 3.11.7. Hook was re-measured on 2026-11-22 at 00:19 UTC on the final
code (per-run calls answered before FastAPI's routing, the /v1/ping floor too; since ee8afc5
only whole checkpoints restart the WAL), with `--against a89f77f` (before that change)
alternating fresh servers of both trees (the run before, 2026-11-21 21:59 against 1625f2e,
gave 1,000/s medians 1.60 over 6 servers and 1.59 vs 1.46 alternating);
efficacy on 2026-11-21 at 18:54 (after the parity gate's change to 20 prompts); hook --embed at 20:18, before
the guard's fast path, with `--against e04c3f0` (the embedder in a server thread) alternating
fresh servers of both trees (a run at 19:43 that warmed the new tree's model in the server
instead of its child gave 50/s medians 1.38 vs 2.52); train at 12:00-12:45 (load average 0.7-1.5);
proxy earlier that day (08:53-10:08, load 0.4-2, its /v1/ping floor still through FastAPI); the others were taken before, while other
jobs shared the cores (load average 4-8), so their absolute times are context and ratios within
one run are the figures. The cores are shared with other machines' work: the same request cost 220 µs of server
CPU in one hook run and 320 µs in the next, so each section compares its arms inside one run
(alternating blocks, interleaved steps) and, where one run's ratio swings, shows the repeats.
Regenerate this file with `python bench/collect.py` after running `bench/<name>.py`.
"""


def main() -> None:
    parts = [SUMMARY]
    files = {p.stem: p for p in (HERE / "results").glob("*.md")}
    for name in ORDER + sorted(set(files) - set(ORDER)):
        if name in files:
            text = files[name].read_text().strip()
            parts.append(text.replace("\n# ", "\n## ").replace("# ", "## ", 1) if text.startswith("# ") else text)
    (HERE / "RESULTS.md").write_text("\n\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
