"""Build bench/RESULTS.md from the per-benchmark files under bench/results/ (each names its machine)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["efficacy", "hook", "hook_wave2", "hook_embed", "gateway_stream_end", "gateway", "gateway_prefix", "proxy", "memory", "sessions",
         "independence", "demo_independence", "train", "train_mixed", "gate", "export", "bandits", "experiment", "tui"]

SUMMARY = """# Benchmark results

Every benchmark compares side by side in one run (ours beside the floor or the baseline) and
names its machine. All were taken on this project's machine kind: 2 shared cores, 24 GiB, no GPU,
Python 3.11.7. Two CPUs have stood behind that kind:

- **Intel Xeon (advertises AMX), 2026-12-07**: gateway_stream_end, the gateway's latest figures,
  on a quiet machine (load 0.2-0.5), this tree beside 97bbd8d (before a stream's run was
  recorded after its last bytes) in every block; efficacy (07:00-07:16, quiet, 4 epochs with copy
  variants) and train_mixed (grouped steps beside ungrouped), later that day; gate (the parity
  gate now beside before, on a demo job) and efficacy's run 22, session 6, 10:00-10:20.
- **Intel Xeon (advertises AMX), 2026-12-06**, this wave: gateway, gateway_prefix, hook_wave2,
  memory, sessions, independence. Most of these ran while other jobs shared the two cores (load
  average 2-8, said in each section): compare the arms inside one run (alternating blocks), not
  absolute times across sections. hook_wave2 serves this wave's tree and the one before it
  (29b0e31) alternately, at 200/s.
- **AMD EPYC (AVX512-BF16, no AMX), 2026-12-07**, session 8: tools_efficacy's runs 30 and later
  (titles varied in copy variants, beside the names-only baseline, each pair on this machine). It
  trains 1.37× slower than the Xeon (510-527 s where the Xeon took 382 s for the same 272 steps).
- **AMD EPYC, 2026-11**: hook, hook_embed, proxy, train, export, bandits, experiment,
  tui, as measured by the first wave (their sections keep their own dates and conditions).
  Hook was re-measured on 2026-11-22 at 00:19 UTC with `--against a89f77f`.

The cores are shared with other machines' work: the same request cost 220 µs of server CPU in
one hook run and 320 µs in the next, so each section compares its arms inside one run and, where
one run's ratio swings, shows the repeats.
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
