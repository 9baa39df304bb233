"""``edgelearn demo``: one whole learning cycle on the embedded defaults, in minutes, on a CPU.

A simulated agent works through the tidekit task pack (a made-up library the base model
cannot know) over edgelearn's OpenAI-compatible proxy, and reports real compile and test
signals from running each answer's code in a subprocess:

1. before: the base model answers the held-out tasks (never used in training);
2. teacher runs: the role ``coder`` has a teacher, a real OpenAI-compatible HTTP server on
   loopback configured as a provider (``demo/teacher.py``, a stand-in for a paid API that returns
   the pack's reference solutions); at independence level 0 every ``edgelearn/coder`` request
   goes to it over HTTP, and every call is recorded and scored;
3. the loop (thresholds scaled down) curates a dataset, trains a LoRA adapter in a child
   process, exports both GGUFs, gates them for parity, registers the adapter and starts an
   experiment against the base;
4. the agent keeps working through ``edgelearn/coder``; at level 0 every request still goes to
   the teacher, so the experiment is fed by shadow answers: the champion and the challenger both
   answer teacher-served requests in the background, scored by the pack's tests; it promotes;
5. independence: the new champion's shadow answers advance the cluster 0 → 1, then its live
   share (20 %, 50 %, ...) advances it further on the non-inferiority test (demo-sized);
6. after: the new champion answers the same held-out tasks: ``before: N% → after: M%``, with the
   local share of the last stage and the cost saved at made-up teacher prices.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from edgelearn.config import Settings
from edgelearn.demo.pack import SYSTEM_PROMPT, Task, check, load_pack
from edgelearn.demo.tool_pack import TOOLS, ToolTask, check_calls, heldout_words, load_tool_pack

ROLE = "coder"
EXTERNAL_MODEL = "external/reference"

Log = Callable[[str], None]
SHADOW_WAIT_S = 60.0  # the longest the agent waits for a shadow answer between two requests


@dataclass
class DemoOptions:
    """Scaled-down thresholds so the whole loop finishes in minutes."""

    # 4 passes at 1e-3 and rank 32 with 2 copy variants per tool example: the tool family's settings
    # (bench/results/tools_efficacy.md: 3 passes gave 80% of the held-out tool calls, 4 gave 85-95% over
    # five runs); the code family alone reached the same held-out success with 3 at 5e-4 and rank 16
    epochs: float = 4.0
    learning_rate: float = 1e-3          # few examples and steps: a tiny model needs a larger step
    rank: int = 32                       # LoRA rank (alpha twice it)
    min_samples: int = 12
    challenger_traffic: float = 0.5
    max_tokens: int = 64                 # reference answers are at most 38 tokens (a tool call 30)
    eval_limit: int | None = None        # held-out tasks measured (None: all)
    teacher_passes: int = 1
    timeout_s: float = 1800.0
    seed: int = 0
    tools: bool = True                   # also the tool-use family (quill); see bench/RESULTS.md for its figures
    copy_variants: int = 2               # copy-augmented rows per tool example (train.copy_variants)
    # the independence stage's requests at most (it ends sooner at level 3): ~1.2 s each on 2 cores
    independence_requests: int = 120


@dataclass
class DemoResult:
    before: float
    after: float
    heldout: int
    champion: str
    wall_s: float
    cycle_s: float
    events: list[str] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)  # every held-out answer, before and after
    tools_before: float | None = None  # held-out tool-call accuracy, through the gateway with tools
    tools_after: float | None = None
    tools_heldout: int = 0
    tool_answers: list[dict] = field(default_factory=list)  # every held-out tool task, before and after
    teacher_requests: int = 0          # completions the teacher server received over HTTP
    independence: dict = field(default_factory=dict)  # the last stage: requests, local share, levels, cost saved

    def line(self) -> str:
        line = f"before: {self.before:.0%} → after: {self.after:.0%}"
        if self.tools_before is not None and self.tools_after is not None:
            line += f"; tool calls before: {self.tools_before:.0%} → after: {self.tools_after:.0%}"
        if self.independence:
            line += "; " + self.independence["line"]
        return line


def demo_settings(base: Settings, n_teacher_runs: int, opts: DemoOptions, teacher_url: str | None = None) -> Settings:
    """``base`` with the loop's thresholds scaled to the demo's size; with ``teacher_url`` the role has
    the demo's teacher (``demo.teaching``) and independence levels sized to the demo."""
    data = base.model_dump()
    # 90%: a check that times out on a loaded machine must not keep the trigger from firing
    # a small pack: one run in twenty for validation leaves more to learn from (at one in ten, a third
    # of one convention's dozen tool runs went to validation in one run: bench/results/tools_efficacy.md)
    data["export"].update(min_runs=max(10, int(n_teacher_runs * 0.9)), min_reward=0.7, cluster_cap=1.0,
                          auto_export=True, val_fraction=0.05)
    data["train"].update(min_examples=max(8, n_teacher_runs // 3), cooldown_hours=0.0, epochs=opts.epochs,
                         learning_rate=opts.learning_rate, rank=opts.rank, alpha=2.0 * opts.rank,
                         auto_train=True,
                         # a tool example (house tools in the system turn) is about 500 tokens
                         max_seq_len=560 if opts.tools else 320, batch_size=4)
    # copy variants never swap in a word of a held-out request: its names stay unseen in training
    data["train"].update(copy_variants=opts.copy_variants, copy_exclude=heldout_words())
    data["deploy"].update(auto_deploy=True, max_tokens=opts.max_tokens, backend="embedded")
    data["experiments"].update(min_samples=opts.min_samples, challenger_traffic=opts.challenger_traffic)
    data["loop"].update(interval_s=1.0)
    # the demo's own agent: its requests take the bandit's prompt variants (agents' requests do not by default)
    data["roles"] = {**data.get("roles", {}), ROLE: {"apply_prompt_variants": True}}
    if teacher_url is not None:
        from edgelearn.demo.teaching import teacher_settings

        teacher_settings(data, teacher_url, ROLE)
    return Settings.model_validate(data)


def reference_handler(tasks: list[Task], tool_tasks: list[ToolTask] = ()):
    """An in-process teacher for tests that need no HTTP (the demo serves ``demo.teacher`` instead): answers a task with the pack's reference solution (labeled as such), a tool
    task with its call (written as a model writes one; the engine parses it into ``tool_calls``)."""
    by_prompt = {t.prompt: t for t in tasks}
    tools_by_prompt = {t.prompt: t for t in tool_tasks}

    def handler(target, request) -> str:
        user = next((m["content"] for m in reversed(request.messages or []) if m["role"] == "user"), "")
        if request.tools and user.strip() in tools_by_prompt:
            return tools_by_prompt[user.strip()].reference()
        task = by_prompt.get(user.strip())
        if task is None:
            return "I can only answer tasks of the tidekit pack."
        return f"```python\n{task.reference.strip()}\n```"

    return handler


class Agent:
    """The simulated coding agent: asks the proxy, runs the answer's tests, reports signals."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600)
        self.last_model = ""  # the model that answered the last request (x-edgelearn-model)

    def solve(self, task: Task, model: str, session: str, max_tokens: int) -> tuple[str, bool]:
        body = {"model": model, "temperature": 0, "max_tokens": max_tokens, "user": session,
                "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task.prompt}]}
        r = self.http.post("/v1/chat/completions", json=body, headers={"x-edgelearn-role": ROLE})
        r.raise_for_status()
        run_id, self.last_model = r.headers["x-edgelearn-run-id"], r.headers.get("x-edgelearn-model", "")
        answer = r.json()["choices"][0]["message"]["content"] or ""
        result = check(task, answer)
        signals = {"compile": result.compiled, "tests": {"passed": result.passed, "total": max(result.total, 1)}}
        self.http.post(f"/v1/runs/{run_id}/signals", json={"signals": signals, "source": "demo-agent"}).raise_for_status()
        return run_id, result.total > 0 and result.passed == result.total

    def call_tools(self, task: ToolTask, model: str, session: str, max_tokens: int) -> tuple[str, bool]:
        """Ask ``model`` for the task's call with the house tools offered; (run id, exactly right)."""
        body = {"model": model, "temperature": 0, "max_tokens": max_tokens, "user": session,
                "messages": task.messages(), "tools": TOOLS}
        r = self.http.post("/v1/chat/completions", json=body, headers={"x-edgelearn-role": ROLE})
        r.raise_for_status()
        self.last_model = r.headers.get("x-edgelearn-model", "")
        calls = r.json()["choices"][0]["message"].get("tool_calls") or []
        return r.headers["x-edgelearn-run-id"], check_calls(task, calls)

    def solve_tool(self, task: ToolTask, model: str, session: str, max_tokens: int) -> tuple[str, bool]:
        """``call_tools``, then report whether the call was right as the run's signals."""
        run_id, ok = self.call_tools(task, model, session, max_tokens)
        signals = {"compile": ok, "tests": {"passed": int(ok), "total": 1}}
        self.http.post(f"/v1/runs/{run_id}/signals", json={"signals": signals, "source": "demo-agent"}).raise_for_status()
        return run_id, ok

    def close(self) -> None:
        self.http.close()


def evaluate(runtime, model_id: str, tasks: list[Task], max_tokens: int, log: Log | None = None,
             answers: list[dict] | None = None) -> float:
    """Held-out success of ``model_id`` (greedy), measured through the serving engine, not recorded;
    each answer is appended to ``answers`` when given."""
    from edgelearn.serve.backends import GenerateRequest

    engine = runtime.services["serving"].engine
    served = engine.resolve(model_id)
    solved = 0
    for i, task in enumerate(tasks, 1):
        request = GenerateRequest(messages=[{"role": "system", "content": SYSTEM_PROMPT},
                                            {"role": "user", "content": task.prompt}],
                                  max_tokens=max_tokens, temperature=0.0, seed=0)
        text = "".join(c.text for c in engine.stream(served, request))
        result = check(task, text)
        ok = result.total > 0 and result.passed == result.total
        solved += int(ok)
        if answers is not None:
            answers.append({"model": model_id, "task": task.id, "solved": ok, "answer": text})
        if log and (i % 10 == 0 or i == len(tasks)):
            log(f"  {model_id}: {solved}/{i} held-out tasks solved")
    return solved / len(tasks) if tasks else 0.0


def evaluate_tools(agent: Agent, model_id: str, tasks: list[ToolTask], max_tokens: int, log: Log | None = None,
                   answers: list[dict] | None = None) -> float:
    """Held-out tool-call accuracy of ``model_id``: each task asked through the gateway with the house
    tools, exactly as an agent calls it (recorded, but no signals: never a training example)."""
    right = 0
    for i, task in enumerate(tasks, 1):
        _, ok = agent.call_tools(task, model_id, f"eval-{model_id}-{i}", max_tokens)
        right += int(ok)
        if answers is not None:
            answers.append({"model": model_id, "task": task.id, "solved": ok})
    if log:
        log(f"  {model_id}: {right}/{len(tasks)} held-out tool calls exactly right")
    return right / len(tasks) if tasks else 0.0


def run_demo(runtime, url: str, opts: DemoOptions, log: Log, teacher) -> DemoResult:
    """Drive one full cycle against a started runtime serving at ``url`` whose role has ``teacher``
    (a started ``demo.teacher.TeacherServer``, see ``demo.teaching``); returns the figures."""
    from edgelearn.demo.teaching import TEACHER, pack_check, run_independence

    started = time.monotonic()
    rng = random.Random(opts.seed)
    pack = load_pack()
    train = [t for t in pack if t.split == "train"]
    heldout = [t for t in pack if t.split == "heldout"][: opts.eval_limit]
    tool_pack = load_tool_pack() if opts.tools else []
    tool_train = [t for t in tool_pack if t.split == "train"]
    tool_heldout = [t for t in tool_pack if t.split == "heldout"]
    runtime.services["independence"].check = pack_check(train, tool_train)
    agent = Agent(url, runtime.token)
    answers: list[dict] = []
    tool_answers: list[dict] = []
    try:
        log(f"[1/6] base model on {len(heldout)} held-out tasks (never used in training)")
        before = evaluate(runtime, "base", heldout, opts.max_tokens, log, answers)
        tools_before = tools_after = None
        if tool_heldout:
            tools_before = evaluate_tools(agent, "base", tool_heldout, opts.max_tokens, log, tool_answers)
            log(f"      base solves {before:.0%}, makes {tools_before:.0%} of the tool calls right")
        else:
            log(f"      base solves {before:.0%}")

        log(f"[2/6] teacher runs: edgelearn/{ROLE} at independence level 0 goes to its teacher {TEACHER} "
            f"(an OpenAI-compatible server on loopback, stand-in for a paid API) for {len(train)} training tasks"
            + (f" and {len(tool_train)} tool tasks" if tool_train else ""))
        cycle_start = time.monotonic()
        for p in range(opts.teacher_passes):
            for i, task in enumerate(rng.sample(train + tool_train, len(train) + len(tool_train)), 1):
                _solve(agent, task, f"edgelearn/{ROLE}", f"teacher-{p}-{i}", opts.max_tokens)
        log(f"      {runtime.store.runs.count_runs()} runs recorded and scored; the teacher got {teacher.requests} "
            "requests over HTTP")

        log("[3/6] the loop: curate → train (child process) → GGUF → parity gate → register → experiment")
        exp = _wait_for_experiment(runtime, opts, log)
        log(f"      {exp.challenger} races {exp.champion} ({exp.id})")

        log(f"[4/6] the agent keeps working through edgelearn/{ROLE}; at level 0 every request still goes to "
            "the teacher, so the experiment is fed by shadow answers: both variants answer in the background, "
            "scored by the pack's tests, never returned")
        champion = _run_experiment(runtime, agent, exp, train + tool_train, opts, rng, log)
        cycle_s = time.monotonic() - cycle_start

        log(f"[5/6] independence: {champion}'s shadow answers may take a cluster from level 0 to 1, then its "
            "live share advances it on the non-inferiority test (demo-sized: 8 runs a side, margin 0.05)")
        # one learning cycle is the demo: the requests of this stage must not start another
        agent.http.post("/v1/config/toggles", json={"name": "auto_export", "value": False}).raise_for_status()
        indep = run_independence(runtime, agent, train + tool_train, ROLE, opts, rng, _paced, log,
                                 max_requests=opts.independence_requests)
        log("      " + indep.line())

        log(f"[6/6] {champion} on the same {len(heldout)} held-out tasks")
        after = evaluate(runtime, champion, heldout, opts.max_tokens, log, answers)
        if tool_heldout:
            tools_after = evaluate_tools(agent, champion, tool_heldout, opts.max_tokens, log, tool_answers)
    finally:
        agent.close()
    result = DemoResult(before=before, after=after, heldout=len(heldout), champion=champion,
                        wall_s=time.monotonic() - started, cycle_s=cycle_s,
                        events=[e.type for e in reversed(runtime.store.events.list(limit=10_000))
                                if e.type != "reward.updated"],  # one per run: the loop's would drown
                        answers=answers,
                        tools_before=tools_before, tools_after=tools_after, tools_heldout=len(tool_heldout),
                        tool_answers=tool_answers, teacher_requests=teacher.requests,
                        independence={"line": indep.line(), "requests": indep.requests, "local": indep.local,
                                      "local_share": indep.local_share, "levels": indep.levels,
                                      "changes": indep.changes, "cost_saved": indep.cost_saved,
                                      "report": indep.report})
    log(result.line())
    return result


def _wait_for_experiment(runtime, opts: DemoOptions, log: Log):
    deadline = time.monotonic() + opts.timeout_s
    last = ""
    runtime.services["loop"].wake()
    while time.monotonic() < deadline:
        running = runtime.store.experiments.running(ROLE)
        if running:
            return running[0]
        chains = runtime.store.experiments.chains(ROLE, limit=1)
        if chains and chains[0].state in ("failed", "cancelled"):
            raise RuntimeError(f"the learning chain {chains[0].state}: {chains[0].reason}")
        if chains and chains[0].state == "done" and not chains[0].experiment_id:
            raise RuntimeError(f"the learning chain ended without an experiment: {chains[0].reason}")
        status = _job_line(runtime)
        if status and status != last:
            log(status)
            last = status
        time.sleep(1.0)
    raise RuntimeError(f"no experiment started within {opts.timeout_s:.0f} s")


def _job_line(runtime) -> str:
    chains = runtime.store.experiments.chains(ROLE, limit=1)
    if not chains:
        return "      waiting for the loop's trigger"
    chain = chains[0]
    if chain.stage == "train" and chain.job_id:
        try:
            job = runtime.store.jobs.get(chain.job_id)
        except Exception:  # noqa: BLE001
            return f"      training {chain.job_id}"
        p = job.progress or {}
        step, total = p.get("step"), p.get("total_steps")
        if job.stage in (None, "train", "training") and step and total:
            return f"      training {chain.job_id}: {int(100 * step / total) // 10 * 10}% of {total} steps"
        return f"      {chain.job_id}: {job.stage or job.state}"
    return f"      stage: {chain.stage}" + (f" (dataset {chain.dataset_version})" if chain.dataset_version else "")


def _solve(agent: Agent, task: Task | ToolTask, model: str, session: str, max_tokens: int) -> tuple[str, bool]:
    if isinstance(task, ToolTask):
        return agent.solve_tool(task, model, session, max_tokens)
    return agent.solve(task, model, session, max_tokens)


def _paced(agent: Agent, task: Task | ToolTask, model: str, session: str, max_tokens: int) -> tuple[str, bool]:
    """``_solve``, then wait while a shadow answer of it is generated: an agent pauses between
    requests (reading, running tests) and shadows fill those pauses; the demo's simulated agent
    does not, so without the wait it would send hundreds of requests per shadow."""
    from edgelearn.server import shadow

    out = _solve(agent, task, model, session, max_tokens)
    deadline = time.monotonic() + SHADOW_WAIT_S
    time.sleep(0.3)  # the shadow starts once the teacher's run is read back
    while shadow.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    return out


def _run_experiment(runtime, agent: Agent, exp, train: list[Task | ToolTask], opts: DemoOptions, rng: random.Random,
                    log: Log) -> str:
    deadline = time.monotonic() + opts.timeout_s
    n = logged = 0
    while time.monotonic() < deadline:
        current = runtime.store.experiments.get(exp.id)
        if current.state != "running":
            log(f"      {exp.id} {current.state}: {current.reason}")
            break
        task = rng.choice(train)
        n += 1
        _paced(agent, task, f"edgelearn/{ROLE}", f"exp-session-{n}", opts.max_tokens)
        stats = runtime.services["experiments"].variant_stats(exp.id)
        counted = sum(v.n for v in stats.values())
        if counted != logged and counted % 4 == 0 or n % 25 == 0:
            logged = counted
            log(f"      {n} requests: " + ", ".join(f"{k} {v.n} answers, reward {v.mean:.2f}" for k, v in stats.items()))
        runtime.services["loop"].wake()
    else:
        raise RuntimeError(f"{exp.id} undecided after {opts.timeout_s:.0f} s")
    champion = runtime.store.models.champion(ROLE)
    return champion.id if champion else "base"


def demo_home(home: Path) -> Path:
    """The demo's own home inside the user's, so the real store stays untouched."""
    path = home / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path
