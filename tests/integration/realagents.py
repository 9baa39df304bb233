"""Real coding agents from npm, installed into a cache outside the repository and run non-interactively.

Each agent gets its own ``HOME`` and working directory, and a time box. The commands are the ones
verified in ``/work/shared/AGENTS.md`` (Qwen Code, opencode, Codex, Claude Code).

Install them ahead of a test run (the tests also install what is missing)::

    python tests/integration/realagents.py install              # all four
    python tests/integration/realagents.py install qwen opencode

The cache is ``$EDGELEARN_AGENT_CACHE``, else ``~/.cache/edgelearn/agents``: one npm prefix per agent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Agent:
    """One npm-distributed agent: the package to install and the binary it puts in ``.bin``."""

    name: str
    package: str
    version: str
    binary: str
    shell_tool: str  # the name of its tool that runs a shell command
    wire: str  # the API it speaks to a base URL: "chat" (OpenAI chat completions), "responses", "messages"


# Pinned to the versions that installed and ran here (AGENTS.md): a newer release may change its
# requests or its tool names under the tests.
AGENTS = {
    "qwen": Agent("qwen", "@qwen-code/qwen-code", "0.15.10", "qwen", "run_shell_command", "chat"),
    "opencode": Agent("opencode", "opencode-ai", "1.18.33", "opencode", "bash", "chat"),
    "claude": Agent("claude", "@anthropic-ai/claude-code", "2.1.197", "claude", "Bash", "messages"),
    "codex": Agent("codex", "@openai/codex", "0.171.0", "codex", "exec_command", "responses"),
}


class AgentUnavailable(Exception):
    """The agent cannot be installed or started here (no node/npm, offline, a failed install)."""


def cache_dir() -> Path:
    """Where the agents are installed: ``$EDGELEARN_AGENT_CACHE`` or ``~/.cache/edgelearn/agents``."""
    env = os.environ.get("EDGELEARN_AGENT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "edgelearn" / "agents"


def binary_path(agent: Agent) -> Path:
    """The agent's executable inside its npm prefix (it may not exist yet)."""
    return cache_dir() / agent.name / "node_modules" / ".bin" / agent.binary


def _installed_version(agent: Agent) -> str | None:
    manifest = cache_dir() / agent.name / "node_modules" / agent.package / "package.json"
    try:
        return json.loads(manifest.read_text()).get("version")
    except (OSError, ValueError):
        return None


def ensure_installed(agent: Agent, timeout: float = 600) -> Path:
    """The agent's binary, installed with ``npm install --prefix`` when missing or of another version.

    Raises ``AgentUnavailable`` with the reason when node or npm is missing or the install fails
    (offline, registry refused); the caller turns that into a skip.
    """
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise AgentUnavailable(f"{tool} is not on PATH (Debian: apt-get install nodejs npm)")
    path = binary_path(agent)
    if path.exists() and _installed_version(agent) == agent.version:
        return path
    prefix = cache_dir() / agent.name
    prefix.mkdir(parents=True, exist_ok=True)
    cmd = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", f"{agent.package}@{agent.version}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AgentUnavailable(f"npm install {agent.package}@{agent.version} took over {timeout:.0f} s") from exc
    if done.returncode != 0 or not path.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise AgentUnavailable(f"npm install {agent.package}@{agent.version} failed "
                               f"(exit {done.returncode}): {' / '.join(tail)}")
    return path


@dataclass
class AgentRun:
    """What one non-interactive agent run left: exit code, output, and whether the time box ended it."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    cwd: Path
    home: Path
    command: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """A short account for an assertion message."""
        state = "timed out" if self.timed_out else f"exit {self.returncode}"
        return (f"{' '.join(self.command[:2])}... {state}\n--- stdout (tail)\n{self.stdout[-2000:]}"
                f"\n--- stderr (tail)\n{self.stderr[-2000:]}")


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    # only what an agent needs to start: no provider keys or proxies of the caller leak in
    keep = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_STATE_HOME=str(home / ".local/state"), XDG_CACHE_HOME=str(home / ".cache"),
               NO_COLOR="1", CI="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env.update(extra)
    return env


def _run(command: list[str], *, home: Path, cwd: Path, env: dict[str, str], timeout: float) -> AgentRun:
    home.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    # its own process group, so the time box ends the agent's children too
    proc = subprocess.Popen(command, cwd=cwd, env=_env(home, env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return AgentRun(proc.returncode, out, err, False, cwd, home, command)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        return AgentRun(proc.returncode, out, err, True, cwd, home, command)


def run_qwen(task: str, *, base_url: str, api_key: str, model: str, home: Path, cwd: Path,
             timeout: float = 180, proxy: str | None = None) -> AgentRun:
    """``qwen -p TASK --yolo`` against an OpenAI-compatible ``base_url`` (ending in ``/v1``)."""
    binary = ensure_installed(AGENTS["qwen"])
    # its usage statistics go to an Alibaba Cloud endpoint by default: off, with telemetry and updates
    settings = home / ".qwen" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
                                    "general": {"enableAutoUpdate": False}}, indent=2))
    env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": api_key, "OPENAI_MODEL": model, **_proxied(proxy)}
    return _run([str(binary), "-p", task, "--yolo"], home=home, cwd=cwd, env=env, timeout=timeout)


def _proxied(proxy: str | None) -> dict[str, str]:
    # the agents phone home (usage statistics, model catalogs, update checks): given a proxy (the
    # tests give netguard.LoopbackProxy), every such call meets it; loopback calls skip it by
    # NO_PROXY, except Qwen Code's, which go through it to loopback
    if proxy is None:
        return {}
    return {name: proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}


def run_opencode(task: str, *, base_url: str, api_key: str, model: str, home: Path, cwd: Path,
                 timeout: float = 180, proxy: str | None = None) -> AgentRun:
    """``opencode run TASK`` with an ``opencode.json`` in ``cwd`` naming an openai-compatible provider."""
    binary = ensure_installed(AGENTS["opencode"])
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "opencode.json").write_text(json.dumps(opencode_config(base_url, api_key, model), indent=2))
    env = {"OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_SHARE": "1",
           "OPENCODE_DISABLE_LSP_DOWNLOAD": "1", **_proxied(proxy)}
    return _run([str(binary), "run", task], home=home, cwd=cwd, env=env, timeout=timeout)


def run_claude(task: str, *, base_url: str, api_key: str, model: str, home: Path, cwd: Path,
               timeout: float = 180, proxy: str | None = None) -> AgentRun:
    """``claude -p TASK --allowedTools Bash`` against an Anthropic Messages ``base_url`` (no ``/v1``).

    For the wire-API issue; seen running here against the stand-in's ``/v1/messages`` directly
    (edgelearn does not serve Anthropic Messages yet)."""
    binary = ensure_installed(AGENTS["claude"])
    env = {"ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_AUTH_TOKEN": api_key,
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", **_proxied(proxy)}
    return _run([str(binary), "-p", task, "--allowedTools", "Bash", "--model", model], home=home, cwd=cwd, env=env,
                timeout=timeout)


def opencode_config(base_url: str, api_key: str, model: str) -> dict:
    """The ``opencode.json`` that points opencode at ``base_url`` (also its small model, for titles)."""
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {"edgelearn": {"npm": "@ai-sdk/openai-compatible", "name": "edgelearn",
                                   "options": {"baseURL": base_url, "apiKey": api_key},
                                   "models": {model: {"name": model, "tool_call": True}}}},
        "model": f"edgelearn/{model}",
        "small_model": f"edgelearn/{model}",
        "permission": {"bash": "allow", "edit": "allow"},
        "autoupdate": False,
        "share": "disabled",
    }


def main(argv: list[str]) -> int:
    """``realagents.py install [NAME ...]``: install the named agents (all by default) into the cache."""
    if not argv or argv[0] != "install":
        print(__doc__)
        return 2
    names = argv[1:] or list(AGENTS)
    failed = 0
    for name in names:
        agent = AGENTS.get(name)
        if agent is None:
            print(f"{name}: unknown agent (one of {', '.join(AGENTS)})")
            failed += 1
            continue
        try:
            print(f"{name}: {ensure_installed(agent)} ({agent.package}@{agent.version})")
        except AgentUnavailable as exc:
            print(f"{name}: {exc}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
