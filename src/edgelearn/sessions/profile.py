"""A repository's profile: its languages (by file extension) and frameworks (from its manifests).

Stored with a session (``sessions.profile``) when a hook names the session's repository, so the
bandits can use it as context and curation can filter on it (``GET /v1/sessions?language=``).
The walk skips vendored and build folders and stops after ``MAX_FILES`` files.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

MAX_FILES = 5000
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", "__pycache__", "target", "build", "dist",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".next", "vendor", ".idea", ".vscode"}
LANGUAGES = {".py": "python", ".pyi": "python", ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript",
             ".cjs": "javascript", ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust",
             ".java": "java", ".kt": "kotlin", ".rb": "ruby", ".php": "php", ".c": "c", ".h": "c", ".cc": "c++",
             ".cpp": "c++", ".hpp": "c++", ".cs": "c#", ".swift": "swift", ".scala": "scala", ".sh": "shell",
             ".lua": "lua", ".dart": "dart", ".ex": "elixir", ".exs": "elixir", ".hs": "haskell", ".zig": "zig",
             ".vue": "vue", ".svelte": "svelte", ".sql": "sql", ".r": "r", ".jl": "julia"}
# manifest dependency name → framework
FRAMEWORKS = {
    "python": {"django": "django", "flask": "flask", "fastapi": "fastapi", "pytest": "pytest", "torch": "pytorch",
               "tensorflow": "tensorflow", "numpy": "numpy", "pandas": "pandas", "sqlalchemy": "sqlalchemy",
               "pydantic": "pydantic", "textual": "textual", "scikit-learn": "scikit-learn", "celery": "celery"},
    "node": {"react": "react", "vue": "vue", "next": "next.js", "svelte": "svelte", "@angular/core": "angular",
             "express": "express", "jest": "jest", "vitest": "vitest", "mocha": "mocha", "typescript": "typescript",
             "@nestjs/core": "nestjs", "electron": "electron", "vite": "vite"},
    "rust": {"tokio": "tokio", "actix-web": "actix-web", "axum": "axum", "serde": "serde", "clap": "clap",
             "bevy": "bevy", "rocket": "rocket"},
    "go": {"github.com/gin-gonic/gin": "gin", "github.com/labstack/echo": "echo", "github.com/gofiber/fiber": "fiber",
           "github.com/spf13/cobra": "cobra", "gorm.io/gorm": "gorm", "github.com/stretchr/testify": "testify"},
}
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9_.\-]+)")


def _python_deps(root: Path) -> set[str]:
    names: set[str] = set()
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        project = data.get("project", {})
        reqs = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            reqs += extra
        reqs += list(data.get("tool", {}).get("poetry", {}).get("dependencies", {}))
        names |= {m.group(1).lower() for r in reqs if (m := _REQ_NAME.match(str(r)))}
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        pass
    for req in ("requirements.txt", "requirements-dev.txt"):
        try:
            for line in (root / req).read_text(encoding="utf-8").splitlines():
                m = _REQ_NAME.match(line)
                if m and not line.lstrip().startswith(("#", "-")):
                    names.add(m.group(1).lower())
        except OSError:
            pass
    return names


def _node_deps(root: Path) -> set[str]:
    try:
        data = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return set()
    return {name for key in ("dependencies", "devDependencies", "peerDependencies")
            for name in (data.get(key) or {}) if isinstance(data.get(key), dict)}


def _rust_deps(root: Path) -> set[str]:
    try:
        data = tomllib.loads((root / "Cargo.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return set()
    return set(data.get("dependencies", {})) | set(data.get("dev-dependencies", {}))


def _go_deps(root: Path) -> set[str]:
    try:
        text = (root / "go.mod").read_text(encoding="utf-8")
    except OSError:
        return set()
    return {m.group(1) for m in re.finditer(r"^\s*(?:require\s+)?([a-z0-9.\-]+\.[a-z]+/\S+)\s+v", text, re.MULTILINE)}


def detect(root: str | Path) -> dict[str, Any]:
    """``{"languages": [most files first], "frameworks": [sorted], "manifests": [...]}`` of a folder."""
    root = Path(root)
    counts: Counter[str] = Counter()
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            lang = LANGUAGES.get(os.path.splitext(name)[1].lower())
            if lang:
                counts[lang] += 1
            seen += 1
        if seen >= MAX_FILES:
            break
    manifests = [m for m in ("pyproject.toml", "requirements.txt", "package.json", "Cargo.toml", "go.mod",
                             "Gemfile", "pom.xml", "build.gradle", "build.gradle.kts", "composer.json")
                 if (root / m).is_file()]
    frameworks: set[str] = set()
    for kind, deps in (("python", _python_deps(root)), ("node", _node_deps(root)), ("rust", _rust_deps(root)),
                       ("go", _go_deps(root))):
        for dep in deps:
            for prefix, fw in FRAMEWORKS[kind].items():
                if dep == prefix or (kind == "go" and dep.startswith(prefix)):
                    frameworks.add(fw)
    if "Gemfile" in manifests and "rails" in (root / "Gemfile").read_text(encoding="utf-8", errors="replace"):
        frameworks.add("rails")
    if "pom.xml" in manifests and "spring-boot" in (root / "pom.xml").read_text(encoding="utf-8", errors="replace"):
        frameworks.add("spring-boot")
    languages = [lang for lang, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {"languages": languages, "frameworks": sorted(frameworks), "manifests": manifests}
