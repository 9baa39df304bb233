"""Efficacy of one automatic learning cycle: held-out success of the base vs the promoted adapter,
for both families of the demo pack trained in the same cycle: code (tidekit) and tool calls (quill).

    .venv/bin/python bench/efficacy.py [--eval-limit N] [--epochs E]

Runs ``edgelearn demo`` headless in a fresh home: the base model answers the tidekit pack's
held-out tasks (never used in training) and the quill tool tasks' (through the gateway with the
house tools, scored on the exact tool and JSON arguments), teacher runs from the external
stand-in fill the store, the loop curates, trains on the CPU, exports, gates, registers and A/B tests the
adapter, and the promoted champion answers the same held-out tasks. Writes
bench/results/efficacy.md with the figures and the machine.

Targets (issues 7 and 19): base ≤ 10%, adapter ≥ 90% on both families, the cycle under 10 minutes
on CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from benchenv import cpu_model

from edgelearn.demo.runner import DemoOptions

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = cpu_model("unknown")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import torch

    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, torch {torch.__version__}, "
            f"load average {load:.1f} at the end")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-limit", type=int, default=None)
    # default: the demo's own (DemoOptions)
    parser.add_argument("--epochs", type=float, default=DemoOptions.epochs)
    parser.add_argument("--learning-rate", type=float, default=DemoOptions.learning_rate)
    parser.add_argument("--rank", type=int, default=DemoOptions.rank, help="LoRA rank (alpha is twice it)")
    parser.add_argument("--copy-variants", type=int, default=DemoOptions.copy_variants,
                        help="copy-augmented rows per tool example (train.copy_variants)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "efficacy.md"))
    parser.add_argument("--no-tools", action="store_true", help="the code family alone")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="edgelearn-efficacy-"))
    os.environ["EDGELEARN_HOME"] = str(home)
    from edgelearn.cli import main as cli

    started = time.monotonic()
    argv = ["demo", "--headless", "--json", "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate),
            "--rank", str(args.rank), "--copy-variants", str(args.copy_variants)]
    if args.eval_limit:
        argv += ["--eval-limit", str(args.eval_limit)]
    argv.append("--no-tools" if args.no_tools else "--tools")
    import contextlib
    import io
    import json

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli(argv)
    text = buf.getvalue()
    sys.stdout.write(text)
    if code != 0:
        print(f"demo failed with exit code {code}", file=sys.stderr)
        return code
    result = json.loads(text[text.index("{\n"):])
    wall = time.monotonic() - started
    reports = [json.loads(p.read_text()) for p in sorted((home / "demo" / "artifacts").glob("*/report.json"))]
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "efficacy.json").write_text(json.dumps({"result": result, "reports": reports}, indent=1))
    job = reports[-1] if reports else {}
    manifests = [json.loads(p.read_text()) for p in sorted((home / "demo" / "datasets").glob("*/manifest.json"))]
    tool_counts = (manifests[-1].get("tools") or {}) if manifests else {}
    parity = job.get("parity") or {}
    tool_parity = "; ".join(
        f"{name}: {tc['equal']} of {tc['cases']} calls equal, {tc.get('near_ties', 0)} near-ties"
        for name, tc in ((n, (parity.get(n) or {}).get("tool_calls")) for n in ("adapter", "merged")) if tc)
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in (job.get("timings") or {}).items() if isinstance(v, (int, float)))
    lines = [
        "# Efficacy: one automatic cycle (bench/efficacy.py)",
        "",
        f"Machine: {machine()}.",
        "",
        "| measure | result | target |",
        "| --- | --- | --- |",
        f"| held-out success, base SmolLM2-135M-Instruct Q4_1 | {result['before']:.0%} of {result['heldout']} | ≤ 10% |",
        f"| held-out success, promoted adapter ({result['champion']}) | {result['after']:.0%} of {result['heldout']} | ≥ 90% |",
        *([f"| held-out tool calls exactly right, base | {result['tools_before']:.0%} of {result['tools_heldout']} "
           "| ≤ 10% |",
           f"| held-out tool calls exactly right, promoted adapter | {result['tools_after']:.0%} of "
           f"{result['tools_heldout']} | ≥ 90% |"] if result.get("tools_after") is not None else []),
        f"| cycle: teacher runs → dataset → training → GGUF → parity → registration → experiment → promotion "
        f"| {result['cycle_s'] / 60:.1f} min | < 10 min |",
        f"| whole demo incl. both held-out evaluations | {wall / 60:.1f} min | |",
        "",
        f"Training job: {job.get('training', {}).get('steps', '?')} steps, {args.epochs:g} epochs, learning rate "
        f"{args.learning_rate:g}, LoRA rank {args.rank}, {job.get('dataset', {}).get('copy_variants', 0)} copy variants "
        f"(train.copy_variants {args.copy_variants}), backend {job.get('backend', '?')}, precision {job.get('precision', '?')}; "
        f"stages: {timings or 'not reported'}. Every answer is in bench/out/efficacy.json.",
        *([f"Dataset: {manifests[-1]['counts'].get('examples')} examples, tool examples per tool "
           f"{ {k: v['examples'] for k, v in tool_counts.items()} }; rejected "
           f"{ {k: v for k, v in manifests[-1]['rejections'].items() if v} }."] if manifests else []),
        *([f"Tool-call parity of the exported artifacts with the trained model: {tool_parity}."] if tool_parity else []),
        "",
        "Held-out tasks are tidekit tasks marked `heldout` in the pack; the loop only ever sees runs of the",
        "`train` split (teacher runs and experiment traffic). Answers are greedy, checked by running the",
        "pack's tests on the produced code in a subprocess. Held-out tool tasks (quill, demo/tool_pack.py)",
        "use names and phrasings that no training task uses; each is asked through the gateway with the",
        "house tools, as an agent asks, and counts only when the one call returned has the right tool and",
        "equal JSON arguments.",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
