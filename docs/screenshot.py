"""Regenerate docs/dashboard.svg (and .png) from the real app over the tests' seeded store.

    .venv/bin/python docs/screenshot.py [--size 100x30]

The PNG needs Chromium (Debian: ``apt-get install chromium``), which honours the SVG's
per-run text widths; without it only the SVG is written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "tests" / "tui"))


async def shoot(size: tuple[int, int]) -> Path:
    import tui_seed

    from edgelearn.client import EmbeddedClient
    from edgelearn.store import Store
    from edgelearn.tui.source import ClientSource

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = Store(home / "edgelearn.db")
        try:
            tui_seed.seed_store(store, home)
            app = tui_seed.make_app(ClientSource(EmbeddedClient.over_store(store)))
            async with app.run_test(size=size) as pilot:
                await tui_seed.settle(pilot)
                return Path(app.save_screenshot(filename="dashboard.svg", path=str(DOCS)))
        finally:
            store.close()


def to_png(svg: Path) -> Path | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        print("no Chromium: wrote the SVG only", file=sys.stderr)
        return None
    head = svg.read_text(encoding="utf-8")[:400]
    width, height = (float(v) for v in head.split('viewBox="0 0 ', 1)[1].split('"', 1)[0].split())
    png = svg.with_suffix(".png")
    subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png}", f"--window-size={int(width)},{int(height) + 1}", svg.as_uri()],
                   check=True, capture_output=True, timeout=120)
    return png


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100x30", help="terminal columns x rows")
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    os.environ["TZ"] = "UTC"
    time.tzset()
    svg = asyncio.run(shoot((cols, rows)))
    print(f"wrote {svg}")
    png = to_png(svg)
    if png:
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
