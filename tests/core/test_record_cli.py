"""`edgelearn record` runs compile/test/lint commands and turns them into signals."""

import json
import subprocess
import sys
import textwrap

from edgelearn.record.signals import count_lint_issues, parse_junit, run_command
from edgelearn.store import Store


def _cli(home, *args, cwd=None):
    env = {"EDGELEARN_HOME": str(home), "PATH": f"{sys.prefix}/bin:/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "edgelearn", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_record_with_real_pytest_junit_and_lint(home, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "mod.py").write_text("def add(a, b):\n    return a + b\n")
    (proj / "test_mod.py").write_text(textwrap.dedent("""
        from mod import add
        def test_ok(): assert add(1, 2) == 3
        def test_ok2(): assert add(0, 0) == 0
        def test_bad(): assert add(1, 1) == 3
    """))
    lint = "printf 'mod.py:1:1: E302 expected 2 blank lines\\nmod.py:2:5: W1 x\\n'; exit 1"
    proc = _cli(home, "record", "--role", "coder", "--task", "write add", "--output-file", str(proj / "mod.py"),
                "--compile-cmd", f"{sys.executable} -m py_compile mod.py", "--test-cmd", f"{sys.executable} -m pytest -q",
                "--lint-cmd", lint, "--model", "m1", "--json", cwd=proj)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["signals"] == {"compile": True, "tests": {"passed": 2, "total": 3}, "errors": 2}
    store = Store(home / "edgelearn.db")
    try:
        run = store.runs.get(out["id"])
        assert run.reward == (1 + 2 / 3 + 1 / 1.4) / 3
        assert run.output.startswith("def add") and run.metadata["commands"]["tests"]["passed"] == 2
    finally:
        store.close()
    listed = _cli(home, "runs", "--json")
    assert json.loads(listed.stdout)[0]["id"] == out["id"]


def test_record_bad_input_exits_2(home):
    proc = _cli(home, "record", "--role", "coder")
    assert proc.returncode == 2 and "output" in proc.stderr
    proc = _cli(home, "record", "--role", "no spaces allowed", "--output", "x")
    assert proc.returncode == 2 and "role" in proc.stderr


def test_junit_and_lint_parsing(tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text('<testsuites><testsuite name="a" tests="4"><testcase name="1"/><testcase name="2"><failure/></testcase>'
                   '<testcase name="3"><skipped/></testcase><testcase name="4"><error/></testcase></testsuite></testsuites>')
    assert parse_junit(xml) == (1, 3)
    assert count_lint_issues("a.py:3:1: F401 unused\nFound 1 error.\nsrc/x.ts:10: error TS2304\n") == 2
    res = run_command("sleep 5", timeout=0.5)
    assert res.timed_out and res.exit_code == 124
