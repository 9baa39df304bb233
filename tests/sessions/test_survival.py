"""The git hook scores a kept edit 1, a half-kept one about 0.5 and a reverted one 0, over real git."""

import json
import os
import subprocess
import sys

import pytest

from edgelearn.sessions.survival import kept_lines

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
ORIGINAL = "def parse(text):\n    return text\n"
WRITTEN = ("def parse(text):\n    text = text.strip()\n    parts = text.split(',')\n    values = [p.strip() for p in parts]\n"
           "    return [v for v in values if v]\n")


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "parse.py").write_text(ORIGINAL)
    git(path, "add", ".")
    git(path, "commit", "-qm", "start")
    return path


def assistant_writes(client, session, repo, content):
    """Claude Code's PostToolUse of its Write tool, as the hook sends it, and the file written."""
    (repo / "parse.py").write_text(content)
    r = client.post("/v1/hooks/claude-code", json={
        "session_id": session, "transcript_path": "/t.jsonl", "cwd": str(repo), "permission_mode": "default",
        "hook_event_name": "PostToolUse", "tool_name": "Write", "tool_use_id": "toolu_1",
        "tool_input": {"file_path": str(repo / "parse.py"), "content": content},
        "tool_response": {"type": "update", "filePath": str(repo / "parse.py"), "content": content}})
    assert r.status_code == 200 and json.loads(r.headers["x-edgelearn-hook"])["edits"] == 1


def commit_and_score(client, repo, message="user commit"):
    git(repo, "commit", "-qam", message, "--allow-empty")
    r = client.post("/v1/hooks/git", json={"repo": str(repo)})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_kept_edit_scores_1(server, repo):
    c = server.client
    rid = c.post("/v1/runs", json={"role": "coder", "output": "w", "session": "keep"}).json()["id"]
    assistant_writes(c, "keep", repo, WRITTEN)
    done = commit_and_score(c, repo)
    assert done["session"] == "keep" and done["survival"] == 1.0 and done["total"] == 4  # the first line was there before
    assert c.get(f"/v1/runs/{rid}").json()["reward_components"] == {"survival": 1.0}
    assert commit_and_score(c, repo)["session"] is None  # scored once: the next commit finds nothing new


def test_a_half_kept_edit_scores_about_half(server, repo):
    c = server.client
    assistant_writes(c, "half", repo, WRITTEN)
    lines = WRITTEN.splitlines()
    lines[2] = "    parts = text.split(';')"  # the user rewrites two of the four lines written
    lines[4] = "    return values"
    (repo / "parse.py").write_text("\n".join(lines) + "\n")
    done = commit_and_score(c, repo)
    assert done["survival"] == pytest.approx(0.5)  # 2 of 4 lines kept
    detail = c.get("/v1/sessions/half").json()
    assert detail["outcomes"] == {"survival": pytest.approx(0.5)}


def test_a_reverted_edit_scores_0(server, repo):
    c = server.client
    assistant_writes(c, "revert", repo, WRITTEN)
    git(repo, "checkout", "--", "parse.py")  # the user throws the edit away
    assert commit_and_score(c, repo)["survival"] == 0.0


def test_line_matching():
    assert kept_lines(["a", "b", "c", "d"], ["a", "b", "c", "d"]) == 4
    assert kept_lines(["a", "b", "c", "d"], ["a", "x", "c", "y"]) == 2
    assert kept_lines(["a", "b"], []) == 0
    assert kept_lines(["  a", "b "], ["a", "b"]) == 2


def test_bad_git_input_is_refused(server, tmp_path):
    r = server.client.post("/v1/hooks/git", json={"repo": str(tmp_path)})
    assert r.status_code == 422 and r.json()["error"]["param"] == "repo"
    # found by tests/test_openapi_fuzz.py once the body was published: git could not start there (a 500)
    for missing in (str(tmp_path / "gone"), "0", str(tmp_path / "gone\x00")):
        r = server.client.post("/v1/hooks/git", json={"repo": missing})
        assert r.status_code == 422 and r.json()["error"]["param"] == "repo", (missing, r.text)


def test_a_commit_that_reads_as_an_option_is_refused(server, repo):
    r = server.client.post("/v1/hooks/git", json={"repo": str(repo), "commit": "--output=/tmp/x"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "commit", r.text


def test_the_installed_post_commit_hook_scores_a_real_commit(server, repo, home):
    """`edgelearn hooks install git --write`, then a plain `git commit` runs it against the server."""
    env = {**os.environ, **GIT_ENV, "EDGELEARN_HOME": str(home), "EDGELEARN_URL": server.url,
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    cli = [sys.executable, "-m", "edgelearn"]
    out = subprocess.run([*cli, "hooks", "install", "git", "--repo", str(repo), "--write"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    hook = (repo / ".git" / "hooks" / "post-commit").read_text()
    assert "hooks post-commit" in hook
    # the hook runs `edgelearn`: point it at this interpreter's module
    (repo / ".git" / "hooks" / "post-commit").write_text(hook.replace("edgelearn hooks", f"{sys.executable} -m "
                                                                                          "edgelearn hooks"))
    assistant_writes(server.client, "real", repo, WRITTEN)
    subprocess.run(["git", "commit", "-qam", "by the user"], cwd=repo, env=env, check=True)
    assert server.client.get("/v1/sessions/real").json()["outcomes"] == {"survival": 1.0}
