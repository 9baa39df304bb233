"""A session's repository profile: languages from extensions, frameworks from manifests."""

import json

from edgelearn.sessions.profile import detect


def make_repo(root):
    (root / "src").mkdir(parents=True)
    for name in ("a.py", "b.py", "c.py"):
        (root / "src" / name).write_text("x = 1\n")
    (root / "web").mkdir()
    (root / "web" / "app.ts").write_text("export {}\n")
    (root / "node_modules" / "lib").mkdir(parents=True)
    for i in range(20):  # vendored code does not count
        (root / "node_modules" / "lib" / f"m{i}.js").write_text("")
    (root / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["fastapi>=0.1", "httpx"]\n'
                                         '[project.optional-dependencies]\ndev = ["pytest>=8"]\n')
    (root / "package.json").write_text(json.dumps({"dependencies": {"react": "^18"},
                                                   "devDependencies": {"jest": "^29"}}))
    (root / "go.mod").write_text("module ex.com/m\n\ngo 1.22\n\nrequire (\n\tgithub.com/gin-gonic/gin v1.9.1\n)\n")
    return root


def test_detect(tmp_path):
    profile = detect(make_repo(tmp_path / "repo"))
    assert profile["languages"] == ["python", "typescript"]
    assert profile["frameworks"] == ["fastapi", "gin", "jest", "pytest", "react"]
    assert profile["manifests"] == ["pyproject.toml", "package.json", "go.mod"]
    assert detect(tmp_path / "empty-or-missing") == {"languages": [], "frameworks": [], "manifests": []}


def test_a_hook_stores_the_profile_with_the_session(server, tmp_path):
    repo = make_repo(tmp_path / "repo")
    c = server.client
    r = c.post("/v1/hooks/claude-code", json={"session_id": "prof", "transcript_path": "/t", "cwd": str(repo),
                                              "permission_mode": "default", "hook_event_name": "SessionStart",
                                              "source": "startup"})
    assert r.status_code == 200
    c.post("/v1/hooks/claude-code", json={"session_id": "plain", "cwd": str(tmp_path / "nowhere"),
                                          "hook_event_name": "SessionStart"})
    assert c.get("/v1/sessions/prof").json()["profile"]["frameworks"] == ["fastapi", "gin", "jest", "pytest", "react"]
    assert c.get("/v1/sessions/plain").json()["profile"] is None
    assert [s["id"] for s in c.get("/v1/sessions", params={"language": "python"}).json()["sessions"]] == ["prof"]
    assert [s["id"] for s in c.get("/v1/sessions", params={"framework": "react"}).json()["sessions"]] == ["prof"]
    assert c.get("/v1/sessions", params={"language": "rust"}).json()["sessions"] == []
