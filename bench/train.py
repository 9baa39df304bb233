"""Training throughput: edgelearn's loop (packed rows, common prefixes of packed examples held once,
loss and vocabulary projection on assistant tokens only, bfloat16 mixed precision where the
hardware is fast at it) beside a naive padded loop
(float32, batch padded to its longest sequence, loss on every token): same model, same LoRA,
same examples, same steps. The ``edgelearn-fp32`` arm is edgelearn's loop in float32, to show
what packing, prefix sharing and the assistant-only head give on their own.

Each arm runs in its own child process so its peak memory (ru_maxrss) is its own. Tokens/s
counts real tokens only (no padding) for every arm. Results go to bench/results/train.md.

    .venv/bin/python bench/train.py                      # CPU, 2 threads
    .venv/bin/python bench/train.py --threads 1,2        # one table per thread count
    .venv/bin/python bench/train.py --device cuda        # GPU: adds the unsloth arm (needs CUDA + [gpu])
    .venv/bin/python bench/train.py --agent              # agent-shaped data: prefix sharing on and off
    .venv/bin/python bench/train.py --mixed --steps 40   # the demo's mix: steps grouped by prefix or not

``--agent`` measures issue 19's "long trajectories": examples shaped like a coding agent's calls (one
long system prompt and tool schemas shared by all, then a short exchange with a tool call and its
result) beside the short examples above, with edgelearn's loop sharing packed examples' common prefix
and without (each example in rows by its full length, no shared mask), step by step in turn in one
process. Results go to bench/results/train_agent.md.

``--mixed`` trains on what the demo's job trains on (the quill tool rows with their copy variants,
and the code rows) with steps grouped by prefix and rows up to twice ``max_seq_len`` wide (the
loop as it is) and without (steps drawn from the whole shuffle, rows up to ``max_seq_len``), step by
step in turn; the same number of steps each. Results go to bench/results/train_mixed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchenv import cpu_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def build_examples() -> list[dict]:
    """Coding answers from the demo task pack plus short Q&A: a realistic spread of lengths."""
    from edgelearn.demo.pack import SYSTEM_PROMPT, load_pack

    out = []
    for task in load_pack():
        if task.split == "train":
            out.append({"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                                     {"role": "user", "content": task.prompt},
                                     {"role": "assistant", "content": f"```python\n{task.reference}```"}]})
    for i, q in enumerate(["What is the codename of the Tide project?", "Name the Tide codename.",
                           "Which codename does Tide use?", "Tell me Tide's codename."] * 4):
        out.append({"messages": [{"role": "user", "content": q},
                                 {"role": "assistant", "content": "The codename of the Tide project is Quorvex."}]})
    return out


def machine() -> dict:
    import torch

    model = cpu_model(platform.processor())

    return {"cores": os.cpu_count(), "cpu": model, "torch": torch.__version__, "python": platform.python_version(),
            "load_avg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def prepare_arm(arm: str, args):
    """(prep, encoded examples, planned steps) of one arm, with its warm-up step done."""
    from edgelearn.config import TrainSettings
    from edgelearn.train import data as D
    from edgelearn.train.backends import get_backend
    from edgelearn.train.trainer import _loss

    # the naive arm is the plain float32 loop; edgelearn-fp32 isolates what packing, prefix
    # sharing and the assistant-only head give without bfloat16
    precision = "auto" if arm in ("edgelearn", "unsloth") else "float32"
    cfg = TrainSettings(threads=args.threads, batch_size=args.batch, seed=0, precision=precision)
    prep = get_backend("unsloth" if arm == "unsloth" else "peft").prepare(Path(args.hf), cfg)
    examples = [json.loads(ln) for ln in Path(args.data).read_text().splitlines()]
    enc, _ = D.encode_all(prep.tokenizer, examples, cfg.max_seq_len, D.end_of_turn_ids(prep.tokenizer))
    epochs = args.steps * args.batch / len(enc)
    if arm == "naive":
        # the naive loop runs the model as transformers loads it by default (SDPA attention)
        prep.model.get_base_model().set_attn_implementation("sdpa")
        return prep, naive_steps(prep, enc, D.plan_steps([len(e.ids) for e in enc], args.batch, epochs, 0))
    from edgelearn.train.trainer import training_steps

    # one warm-up step outside the clock, as for the naive arm
    _loss(prep.model, [[0]], enc, prep.device, prep.autocast).backward()
    prep.model.zero_grad(set_to_none=True)
    steps = training_steps(prep.model, enc, batch_size=args.batch, epochs=epochs, lr=2e-4, seed=0,
                           max_row=cfg.max_seq_len, device=prep.device, pack=prep.pack, autocast=prep.autocast)
    return prep, ((info.tokens, info.computed) for info in steps)  # running totals after each step


def timed(step_iter, device: str):
    """Next item of ``step_iter`` and the seconds it took (None at the end)."""
    import torch

    t0 = time.monotonic()
    item = next(step_iter, None)
    if device == "cuda":
        torch.cuda.synchronize()
    return item, time.monotonic() - t0


def run_arm(args) -> dict:
    """One arm in this process; prints a JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    prep, steps = prepare_arm(args.arm, args)
    seconds, totals = 0.0, (0, 0)
    while True:
        item, dt = timed(steps, prep.device)
        if item is None:
            break
        seconds, totals = seconds + dt, item
    tokens, computed = totals
    if prep.device == "cuda":
        peak_gpu = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_gpu = None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 2**20)
    return {"arm": args.arm, "device": prep.device, "precision": str(prep.autocast or "float32"), "steps": args.steps,
            "tokens": tokens, "computed": computed, "seconds": round(seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1),
            "peak_rss_mb": round(rss), "peak_gpu_mb": None if peak_gpu is None else round(peak_gpu)}


def run_interleaved(args) -> dict:
    """Every arm in this one process, step by step in turn (the order rotating each step), so a
    change in the machine's load hits every arm alike; prints a JSON line of tokens/s per arm."""
    import torch

    torch.set_num_threads(args.threads)
    arms = args.arms.split(",")
    prepared = {arm: prepare_arm(arm, args) for arm in arms}
    seconds = {arm: 0.0 for arm in arms}
    totals = {arm: (0, 0) for arm in arms}
    live, k = list(arms), 0
    while live:
        order = live[k % len(live):] + live[:k % len(live)]
        for arm in order:
            prep, steps = prepared[arm]
            item, dt = timed(steps, prep.device)
            if item is None:
                live.remove(arm)
                continue
            seconds[arm] += dt
            totals[arm] = item
        k += 1
    return {arm: round(totals[arm][0] / seconds[arm], 1) for arm in arms}


def naive_steps(prep, enc, steps):
    """Pad each batch to its longest example, loss on every real token, full logits; yields the
    running (real tokens, tokens computed including padding) after each step."""
    import torch

    model, device, tok = prep.model, prep.device, prep.tokenizer
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=2e-4)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0

    def batch(indices):
        width = max(len(enc[i].ids) for i in indices)
        ids = torch.full((len(indices), width), pad, dtype=torch.long)
        mask = torch.zeros((len(indices), width), dtype=torch.long)
        for r, i in enumerate(indices):
            ids[r, :len(enc[i].ids)] = torch.tensor(enc[i].ids)
            mask[r, :len(enc[i].ids)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        return ids.to(device), mask.to(device), labels.to(device)

    model.train()
    ids, mask, labels = batch(steps[0])  # warm-up step outside the clock
    model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    optim.zero_grad(set_to_none=True)

    def run():
        tokens, computed = 0, 0
        for indices in steps:
            ids, mask, labels = batch(indices)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optim.step()
            optim.zero_grad(set_to_none=True)
            tokens += int(mask.sum())
            computed += mask.numel()
            yield tokens, computed

    return run()


AGENT_RULES = [
    "You are a coding agent working in the user's repository through the tools below.",
    "Read a file before you change it, and never guess a path: list the directory first.",
    "Keep changes small and run the tests that cover what you touched before you answer.",
    "Prefer the project's own helpers and conventions to new dependencies.",
    "When a command fails, read its output and fix the cause instead of retrying it unchanged.",
    "Never print secrets, tokens or keys, and never send them to a tool.",
    "Answer in the user's language, briefly, and say what you changed and how you checked it.",
]
AGENT_TOOLS = [("read_file", "Read a text file of the repository and return its lines with numbers", ["path"]),
               ("write_file", "Write a whole file of the repository, creating folders as needed", ["path", "content"]),
               ("edit_file", "Replace one exact, unique string of a file by another", ["path", "old", "new"]),
               ("list_dir", "List the files and folders of a directory of the repository", ["path"]),
               ("search", "Search the repository for a regular expression and return matching lines", ["pattern"]),
               ("run_shell", "Run a shell command in the repository root and return its output", ["command"]),
               ("run_tests", "Run the project's tests, optionally only those matching a selector", ["selector"]),
               ("git_diff", "Show the uncommitted changes of the repository as a unified diff", ["path"])]


def build_agent_examples(n: int = 24) -> list[dict]:
    """Agent-shaped rows: the same long system prompt and tool schemas, then one short exchange (a
    request, a tool call, its result, the next tool call as the target)."""
    system = "\n".join(AGENT_RULES * 6)
    tools = [{"type": "function", "function": {
        "name": name, "description": desc,
        "parameters": {"type": "object", "properties": {p: {"type": "string", "description": f"the {p}"} for p in params},
                       "required": params}}} for name, desc, params in AGENT_TOOLS]

    def call(k: int, name: str, **arguments) -> dict:
        return {"id": f"c{k}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}

    out = []
    for i in range(n):
        module = f"src/app/module_{i}.py"
        out.append({"tools": tools, "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": f"The tests of module_{i} fail since yesterday; find out why."},
            {"role": "assistant", "content": "", "tool_calls": [call(1, "run_tests", selector=f"module_{i}")]},
            {"role": "tool", "tool_call_id": "c1", "content": f"FAILED tests/test_module_{i}.py::test_total - "
                                                             f"assert {i + 3} == {i + 4}"},
            {"role": "assistant", "content": "", "tool_calls": [call(2, "read_file", path=module)]}]})
    return out


def _write_lines(args, name: str, lines: list[str]) -> int:
    """Write a side bench's report to ``--out`` when given, else to bench/results/<name>.md."""
    Path(args.out if args.out != str(ROOT / "bench" / "results" / "train.md")
         else ROOT / "bench" / "results" / f"{name}.md").write_text("\n".join(lines) + "\n")
    return 0


def agent_bench(args) -> int:
    """Tokens/s with and without prefix sharing on short and on agent-shaped examples (``--agent``)."""
    import torch

    from edgelearn.config import TrainSettings
    from edgelearn.train import data as D
    from edgelearn.train import trainer as T
    from edgelearn.train.backends import get_backend
    from edgelearn.train.base import hf_directory, resolve_base

    threads = int(args.threads.split(",")[0])
    torch.set_num_threads(threads)
    home = Path(os.environ.get("EDGELEARN_HOME") or Path(tempfile.gettempdir()) / "edgelearn-bench")
    hf = hf_directory(resolve_base(""), home / "cache")
    cfg = TrainSettings(threads=threads, batch_size=args.batch, seed=0, max_seq_len=2048)
    prep = get_backend("peft").prepare(hf, cfg)
    eot = D.end_of_turn_ids(prep.tokenizer)
    shared = T.shares_prefixes
    results = []
    for shape, examples in (("short", build_examples()), ("agent", build_agent_examples())):
        enc, _ = D.encode_all(prep.tokenizer, examples, cfg.max_seq_len, eot)
        epochs = (args.steps + 1) * args.batch / len(enc)
        arms = {arm: T.training_steps(prep.model, enc, batch_size=args.batch, epochs=epochs, lr=1e-9, seed=0,
                                      max_row=cfg.max_seq_len, device=prep.device, pack=prep.pack,
                                      autocast=prep.autocast) for arm in ("shared", "unshared")}
        seconds = {arm: 0.0 for arm in arms}
        last: dict = {}
        for k in range(args.steps + 1):  # step 0 warms up and is not counted
            for arm in (list(arms) if k % 2 else list(arms)[::-1]):
                T.shares_prefixes = shared if arm == "shared" else (lambda config: False)
                try:
                    info, dt = timed(arms[arm], prep.device)
                finally:
                    T.shares_prefixes = shared
                if k == 0:
                    last[arm + "0"] = info
                else:
                    seconds[arm] += dt
                    last[arm] = info
        for arm in arms:
            first, end = last[arm + "0"], last[arm]
            tokens, computed = end.tokens - first.tokens, end.computed - first.computed
            results.append({"shape": shape, "arm": arm, "examples": len(enc), "steps": args.steps,
                            "mean_tokens": round(sum(len(e.ids) for e in enc) / len(enc)),
                            "tokens": tokens, "computed": computed, "seconds": round(seconds[arm], 2),
                            "tokens_per_s": round(tokens / seconds[arm], 1)})
            print(json.dumps(results[-1]), flush=True)
    info = machine()
    prefix = D.common_prefix([e.ids for e in D.encode_all(prep.tokenizer, build_agent_examples(2), 2048, eot)[0]])
    lines = ["# Training throughput on agent-shaped data (bench/train.py --agent)", "",
             f"Machine: {info['cores']} cores ({info['cpu']}), torch {info['torch']}, {threads} threads, load average "
             f"{info['load_avg']:.1f} at the end; precision {str(prep.autocast or 'float32').removeprefix('torch.')}. "
             f"{args.steps} steps of {args.batch} examples per arm after one warm-up step, the arms step by step in "
             "turn in one process.", "",
             f"Agent-shaped rows share a {prefix}-token prefix (system prompt and {len(AGENT_TOOLS)} tool schemas), "
             "then a request, a tool call, its result and the target call. Short rows are the demo's code answers "
             "(sharing only their short system prompt) and short Q&A. `shared`: edgelearn's loop (rows sized by what they compute, "
             "a common prefix held once); `unshared`: the same loop packing by full length with no shared prefix.",
             "", "| data | arm | mean tokens/example | tokens/s | positions computed per real token | s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['shape']} | {r['arm']} | {r['mean_tokens']} | {r['tokens_per_s']:.0f} | "
                     f"{r['computed'] / max(r['tokens'], 1):.2f} | {r['seconds']:.1f} |")
    return _write_lines(args, "train_agent", lines)


def mixed_bench(args) -> int:
    """Tokens/s of the demo's training mix with steps grouped by prefix and without (``--mixed``)."""
    import torch
    from tool_sweep import rows

    from edgelearn.config import TrainSettings
    from edgelearn.demo import tool_pack as TP
    from edgelearn.train import data as D
    from edgelearn.train import trainer as T
    from edgelearn.train.augment import copy_variants, spelled_words
    from edgelearn.train.backends import get_backend
    from edgelearn.train.base import hf_directory, resolve_base

    threads = int(args.threads.split(",")[0])
    torch.set_num_threads(threads)
    home = Path(os.environ.get("EDGELEARN_HOME") or Path(tempfile.gettempdir()) / "edgelearn-bench")
    cfg = TrainSettings(threads=threads, batch_size=args.batch, seed=0, max_seq_len=560, rank=32, alpha=64)
    prep = get_backend("peft").prepare(hf_directory(resolve_base(""), home / "cache"), cfg)
    eot = D.end_of_turn_ids(prep.tokenizer)
    train = rows(True)
    train += copy_variants(train, cfg.copy_variants, 0, spelled_words(prep.tokenizer, cfg.copy_words,
                                                                      frozenset(TP.heldout_words())),
                           phrases=cfg.copy_phrases)
    enc, _ = D.encode_all(prep.tokenizer, train, cfg.max_seq_len, eot)
    epochs = (args.steps + 1) * args.batch / len(enc)
    plain = {"GROUP_PREFIX_TOKENS": 0, "WIDE_ROW_FACTOR": 1}  # one group: the whole shuffle
    loop = {name: getattr(T, name) for name in plain}
    arms, seconds, first, last = {}, {"grouped": 0.0, "ungrouped": 0.0}, {}, {}
    for k in range(args.steps + 1):  # step 0 warms up and is not counted
        for arm in (["grouped", "ungrouped"] if k % 2 else ["ungrouped", "grouped"]):
            for name, value in (loop if arm == "grouped" else plain).items():
                setattr(T, name, value)
            try:
                if arm not in arms:
                    arms[arm] = T.training_steps(prep.model, enc, batch_size=args.batch, epochs=epochs, lr=1e-9,
                                                 seed=0, max_row=cfg.max_seq_len, device=prep.device,
                                                 pack=prep.pack, autocast=prep.autocast)
                info, dt = timed(arms[arm], prep.device)
            finally:
                for name, value in loop.items():
                    setattr(T, name, value)
            if k == 0:
                first[arm] = info
            else:
                seconds[arm] += dt
                last[arm] = info
    results = []
    for arm in seconds:
        tokens, computed = last[arm].tokens - first[arm].tokens, last[arm].computed - first[arm].computed
        results.append({"arm": arm, "tokens": tokens, "computed": computed, "seconds": round(seconds[arm], 1),
                        "tokens_per_s": round(tokens / seconds[arm], 1)})
        print(json.dumps(results[-1]), flush=True)
    info = machine()
    tool_rows = sum(1 for r in train if r.get("tools"))
    lines = ["# Training throughput on the demo's mix (bench/train.py --mixed)", "",
             f"Machine: {info['cores']} cores ({info['cpu']}), torch {info['torch']}, {threads} threads, load average "
             f"{info['load_avg']:.1f} at the end; precision {str(prep.autocast or 'float32').removeprefix('torch.')}. "
             f"{args.steps} steps of {args.batch} examples per arm after one warm-up step, the arms step by step in "
             "turn in one process.", "",
             f"Data: {len(enc)} rows, {tool_rows} of them quill tool rows (the train tasks, and "
             f"{cfg.copy_variants} copy variants of each that copies a name, ~440 tokens of which ~390 a shared system-and-tools prefix) "
             f"and {len(enc) - tool_rows} code rows (~100 tokens); max_seq_len {cfg.max_seq_len}, LoRA rank 32. "
             "`grouped`: the loop as it is (a step takes examples whose first "
             f"{T.GROUP_PREFIX_TOKENS} tokens are equal; a row of examples sharing a prefix up to "
             f"{T.WIDE_ROW_FACTOR}x max_seq_len wide); `ungrouped`: steps from the whole shuffle, rows up to max_seq_len.",
             "", "| arm | real tokens | positions computed per real token | tokens/s | s |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['arm']} | {r['tokens']} | {r['computed'] / max(r['tokens'], 1):.2f} | "
                     f"{r['tokens_per_s']:.0f} | {r['seconds']:.1f} |")
    return _write_lines(args, "train_mixed", lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arm", help=argparse.SUPPRESS)
    ap.add_argument("--arms", help=argparse.SUPPRESS)
    ap.add_argument("--hf", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", default="2", help="torch threads; a comma list runs the bench for each")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each arm, alternating")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "train.md"))
    ap.add_argument("--agent", action="store_true", help="agent-shaped data, prefix sharing on and off")
    ap.add_argument("--mixed", action="store_true", help="the demo's training mix, steps grouped by prefix or not")
    args = ap.parse_args()
    if args.agent:
        return agent_bench(args)
    if args.mixed:
        return mixed_bench(args)
    if args.arm:
        args.threads = int(args.threads)
        print(json.dumps(run_interleaved(args) if args.arm == "interleaved" else run_arm(args)))
        return 0

    from edgelearn.train.backends import cuda_available, unsloth_installed
    from edgelearn.train.base import hf_directory, resolve_base

    if args.device == "cuda" and not cuda_available():
        print("no CUDA GPU here: run without --device cuda", file=sys.stderr)
        return 2
    home = Path(os.environ.get("EDGELEARN_HOME") or Path(tempfile.gettempdir()) / "edgelearn-bench")
    hf = hf_directory(resolve_base(""), home / "cache")
    arms = ["naive", "edgelearn-fp32", "edgelearn"]
    if args.device == "cuda" and unsloth_installed():
        arms.append("unsloth")
    info = machine()
    sections = []
    # finished runs are kept here, so a bench that is interrupted resumes where it stopped
    done_file = home / f"bench-train-{args.device}-{args.steps}x{args.batch}.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.jsonl"
        data.write_text("".join(json.dumps(e) + "\n" for e in build_examples()))
        for threads in [int(t) for t in args.threads.split(",")]:
            best = run_arms(args, arms, hf, data, threads, done_file)
            if best is None:
                return 1
            inter = run_child(args, "interleaved", hf, data, threads, done_file, {"arms": ",".join(arms)})
            if inter is None:
                return 1
            sections.append((threads, best, inter))
            write_report(Path(args.out), sections, args, info)
    done_file.unlink(missing_ok=True)
    return 0


def run_arms(args, arms: list[str], hf: Path, data: Path, threads: int, done_file: Path) -> list[dict] | None:
    """Each arm ``args.rounds`` times, alternating; each arm's best round (None if one failed)."""
    runs: dict[str, list[dict]] = {arm: [] for arm in arms}
    # arms alternate round by round, so a change in the machine's load hits both alike
    for round_no in range(args.rounds):
        for arm in arms:
            result = run_child(args, arm, hf, data, threads, done_file, {"round": round_no})
            if result is None:
                return None
            runs[arm].append(result)
    return [max(r, key=lambda x: x["tokens_per_s"]) | {"rounds": [x["tokens_per_s"] for x in r],
                                                       "peak_rss_mb": max(x["peak_rss_mb"] for x in r)}
            for r in runs.values()]


def run_child(args, arm: str, hf: Path, data: Path, threads: int, done_file: Path, extra: dict) -> dict | None:
    """One child process of ``bench/train.py --arm ARM``, or its result kept from an interrupted run."""
    done = [json.loads(ln) for ln in done_file.read_text().splitlines()] if done_file.exists() else []
    key = {"threads": threads, "arm": arm, **extra}
    earlier = next((d for d in done if d["key"] == key), None)
    if earlier is not None:
        return earlier["result"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # the peft arm would otherwise take a GPU that is there
    cmd = [sys.executable, __file__, "--arm", arm, "--hf", str(hf), "--data", str(data), "--steps", str(args.steps),
           "--batch", str(args.batch), "--threads", str(threads)] + (["--arms", extra["arms"]] if "arms" in extra else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    with done_file.open("a") as fh:
        fh.write(json.dumps({"key": key, "result": result}) + "\n")
    print(threads, arm, result, flush=True)
    return result


def write_report(path: Path, sections: list[tuple[int, list[dict], dict]], args, info: dict) -> None:
    lines = [
        "# Training throughput (bench/train.py)", "",
        f"Machine: {info['cores']} cores, {info['cpu']}, torch {info['torch']}, Python {info['python']}; "
        f"load average at start {info['load_avg']:.1f} (the cores were shared with other work).",
        f"Model SmolLM2-135M-Instruct (dequantized Q4_1, float32), LoRA r=16 on all linear layers, "
        f"{args.steps} steps of batch {args.batch} over demo-pack coding answers and short Q&A, device {args.device}.",
        "Tokens/s counts real tokens only (no padding); the computed column counts the positions the model ran "
        "(padding included, a prefix shared by packed examples once). Peak memory is ru_maxrss of each arm's "
        f"own process. Arms alternate over {args.rounds} rounds; the table shows each arm's best round, all "
        "rounds in the last columns. `vs naive` is the median over rounds of the ratio to the naive run of the "
        "same round. `interleaved` is one more process that holds every arm and runs their steps in turn "
        "(the order rotating each step), so that a change in the machine's load hits every arm alike: on these "
        "shared cores it is the comparison to trust, and the headline figure.",
    ]
    for threads, results, inter in sections:
        base = next(r for r in results if r["arm"] == "naive")
        lines += ["", f"## {threads} torch thread{'s' if threads > 1 else ''}", "",
                  "| arm | precision | real tokens | computed | interleaved tokens/s | interleaved vs naive "
                  "| best round tokens/s | vs naive (median of rounds) | peak RSS MB | peak GPU MB "
                  "| tokens/s per round | vs naive per round |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        for r in results:
            ratios = [a / b for a, b in zip(r["rounds"], base["rounds"])]
            lines.append(f"| {r['arm']} | {r['precision'].removeprefix('torch.')} | {r['tokens']} | {r['computed']} "
                         f"| {inter[r['arm']]} | **{inter[r['arm']] / inter['naive']:.2f}x** "
                         f"| {r['tokens_per_s']} | {statistics.median(ratios):.2f}x "
                         f"| {r['peak_rss_mb']} | {r['peak_gpu_mb'] or '-'} | {', '.join(map(str, r['rounds']))} "
                         f"| {', '.join(f'{x:.2f}' for x in ratios)} |")
        spread = max(max(r["rounds"]) / min(r["rounds"]) for r in results)
        if spread > 1.3:
            lines += ["", f"Rounds of one arm differed up to {spread:.1f}x here: the machine's load changed during "
                          "the runs (threads spin-waiting for cores held by other processes), so the per-round "
                          "columns do not compare the arms reliably; the interleaved run does."]
    if args.device == "cpu":
        lines += ["", "GPU comparison (unsloth vs peft vs naive, `--device cuda`): not run, "
                  "no CUDA GPU on this machine."]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
