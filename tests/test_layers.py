"""The package's rooms: only ``store/`` speaks SQL, no import cycle between packages, and the store
imports nothing from the stages above it."""
import ast
import re
from pathlib import Path

import edgelearn

PACKAGE = Path(edgelearn.__file__).parent
SQL_START = re.compile(r"^\s*(select|insert|update|delete|create|drop|alter|with|pragma)\b", re.IGNORECASE)
# A word that must follow the keyword somewhere in a statement of that kind; it keeps prose that
# happens to start with "Select" or "Create" (docstrings, messages) from counting as SQL.
SQL_BODY = {
    "select": r"\bfrom\b|\(\)", "insert": r"\binto\b", "update": r"\bset\b", "delete": r"\bfrom\b",
    "create": r"\b(table|index|view|trigger)\b", "drop": r"\b(table|index|view|trigger)\b",
    "alter": r"\btable\b", "with": r"\bas\s*\(", "pragma": r"\w",
}
# A fragment of a where clause with a bound parameter ("created_at >= ?"), the form SQL takes when
# a caller builds part of a query and hands it to the store.
# ("like" needs its space before "?": prose asks "what does it look like?")
SQL_FRAGMENT = re.compile(r"\b\w+\s*(?:(?:=|==|>=|<=|<|>|!=|<>|\bin\s*\()\s*|\blike\s+)\?", re.IGNORECASE)

# Modules that still speak SQL outside store/ while on their way out (none now).
KNOWN_SQL_OFFENDERS: set[str] = set()

# What store/ may import from edgelearn: itself and the leaves below every stage.
STORE_MAY_IMPORT = {"edgelearn.errors", "edgelearn.roles", "edgelearn.store"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _looks_like_sql(text: str) -> bool:
    if SQL_FRAGMENT.search(text):
        return True
    match = SQL_START.match(text)
    if not match:
        return False
    return re.search(SQL_BODY[match.group(1).lower()], text[match.end():], re.IGNORECASE) is not None


def _sql_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    docstrings = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        else:
            continue
        if _looks_like_sql(text):
            found.append((node.lineno, text.strip().splitlines()[0][:60]))
    return found


def test_the_sql_detector_finds_sql_and_skips_prose():
    assert _looks_like_sql("select id from runs where role = ?")
    assert _looks_like_sql("  SELECT count(*) FROM models")
    assert _looks_like_sql("insert into runs(id) values (?)")
    assert _looks_like_sql("update models set state = ?")
    assert _looks_like_sql("pragma quick_check")
    assert _looks_like_sql("select vec_version()")
    assert _looks_like_sql("with recent as (select 1) select * from recent")
    assert _looks_like_sql("role = ? and reward >= ?")
    assert _looks_like_sql("created_at >= ?")
    assert not _looks_like_sql("Create solve(words): it returns the checksums.")
    assert not _looks_like_sql("select a model for the role")
    assert not _looks_like_sql("Delete runs older than the retention")
    assert not _looks_like_sql("is the score >= 4?")


def test_only_the_store_speaks_sql():
    offenders = []
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("store/") or rel in KNOWN_SQL_OFFENDERS:
            continue
        offenders += [f"{rel}:{line}: {text}" for line, text in _sql_literals(path)]
    assert not offenders, "SQL outside store/ (add a named method to a store repository):\n" + "\n".join(offenders)


def test_known_sql_offenders_still_exist_and_still_offend():
    # An entry that is gone or no longer offends must leave the list, so the list only ever shrinks.
    for rel in KNOWN_SQL_OFFENDERS:
        path = PACKAGE / rel
        assert path.exists(), f"{rel} is gone: remove it from KNOWN_SQL_OFFENDERS"
        assert _sql_literals(path), f"{rel} speaks no SQL any more: remove it from KNOWN_SQL_OFFENDERS"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``edgelearn.*`` module that ``path`` imports, at module level or inside functions."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from edgelearn.x import y` may name a submodule y
            found |= {f"{target}.{a.name}" for a in node.names if (_resolve(f"{target}.{a.name}"))}
    return {m for m in found if m == "edgelearn" or m.startswith("edgelearn.")}


def _resolve(module: str) -> bool:
    rel = Path(*module.split("."))
    root = PACKAGE.parent
    return (root / rel).with_suffix(".py").exists() or (root / rel / "__init__.py").exists()


def _room(module: str) -> str:
    """The package (or top-level module) a module belongs to: edgelearn.store.runs -> store."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in _modules()}


def test_the_store_imports_nothing_from_the_stages_above_it():
    bad = []
    for module, imports in _graph().items():
        if _room(module) != "store":
            continue
        for target in sorted(imports):
            if not any(target == allowed or target.startswith(allowed + ".") for allowed in STORE_MAY_IMPORT):
                bad.append(f"{module} imports {target}")
    assert not bad, "store/ reaches up:\n" + "\n".join(bad)


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_packages():
    edges: dict[str, set[str]] = {}
    why: dict[tuple[str, str], str] = {}
    for module, imports in _graph().items():
        src = _room(module)
        for target in imports:
            dst = _room(target)
            # the package root re-exports the public API; every room may be imported by it
            if dst != src and dst != "__init__" and src != "__init__":
                edges.setdefault(src, set()).add(dst)
                why.setdefault((src, dst), f"{module} -> {target}")
    cycle = _find_cycle(edges)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle) + "\n" + "\n".join(
        why[(a, b)] for a, b in zip(cycle, cycle[1:]))

