"""Install edgelearn into the running (virtual) environment.

    python3 -m venv .venv && .venv/bin/python tools/bootstrap.py [--dev] [--gpu]

torch goes first and on its own (FACTS.md): a bare ``torch`` requirement pulled by a
dependency would fetch the newest CUDA build (several GB). An importable torch, e.g. a CUDA
build seen through ``python3 -m venv --system-site-packages``, is kept. Set
``EDGELEARN_TORCH`` to another requirement (``torch==2.13.0`` by default) and
``EDGELEARN_TORCH_INDEX`` to an index URL (e.g. the PyTorch CPU index) to choose the build.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", action="store_true", help="also install the test dependencies")
    parser.add_argument("--gpu", action="store_true", help="also install Unsloth (CUDA machines only)")
    args = parser.parse_args()
    if sys.prefix == sys.base_prefix and not os.environ.get("EDGELEARN_ALLOW_SYSTEM"):
        print("bootstrap: run me with a virtual environment's python (python3 -m venv .venv && "
              ".venv/bin/python tools/bootstrap.py), or set EDGELEARN_ALLOW_SYSTEM=1", file=sys.stderr)
        return 2
    if importlib.util.find_spec("torch") is None:
        spec = os.environ.get("EDGELEARN_TORCH", "torch==2.13.0")
        index = os.environ.get("EDGELEARN_TORCH_INDEX")
        pip(spec, *(["--index-url", index] if index else []))
    else:
        import torch

        print(f"bootstrap: keeping the installed torch {torch.__version__}", flush=True)
    extras = [e for e, on in (("dev", args.dev), ("gpu", args.gpu)) if on]
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    pip("-e", target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
