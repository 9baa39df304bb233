"""Regenerate docs/dashboard.png: the dashboard over the seeded store of the snapshot tests, with
``coder`` taught by ``up/big`` (so the independence panel shows), at 120x36.

    PYTHONPATH=src python tests/tui/screenshot.py docs/dashboard.png

Textual draws an SVG; turning it into a PNG needs cairosvg (not a dependency of edgelearn:
``pip install --target /tmp/svgtools cairosvg`` and add /tmp/svgtools to PYTHONPATH; it needs the
system's libcairo). Without it the SVG is written beside the PNG's path and the script says so.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tui_seed import make_app, seed_independence, seed_store, settle, teacher_settings

SIZE = (120, 36)
FONT = "DejaVu Sans Mono"  # Textual's SVG asks for Fira Code from the web; cairo draws local fonts only
BRAILLE = "DejaVu Sans"  # DejaVu Sans Mono has no braille


async def _svg() -> str:
    from edgelearn.client import EmbeddedClient
    from edgelearn.store import Store
    from edgelearn.tui.source import ClientSource

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = Store(home / "edgelearn.db")
        try:
            seed_store(store, home)
            seed_independence(store)
            source = ClientSource(EmbeddedClient.over_store(store, teacher_settings(),
                                                            config_file=home / "edgelearn.toml"))
            app = make_app(source)
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                return app.export_screenshot()
        finally:
            store.close()


def main(out: str) -> int:
    os.environ["TZ"] = "UTC"  # the seeded clock times read the same on every machine
    time.tzset()
    svg = asyncio.run(_svg())
    svg = re.sub(r"font-family:[^;\"]*", f"font-family: {FONT}", svg)
    # cairo picks one font per text run: the chart's braille dots come from a font that has them
    svg = re.sub(r"<text (?=[^>]*>[^<]*[\u2800-\u28ff])", f'<text style="font-family: {BRAILLE}" ', svg)
    target = Path(out)
    try:
        import cairosvg
    except ImportError:
        target.with_suffix(".svg").write_text(svg)
        print(f"cairosvg is not installed: wrote {target.with_suffix('.svg')} instead", file=sys.stderr)
        return 1
    cairosvg.svg2png(bytestring=svg.encode(), write_to=str(target), output_width=1238)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/dashboard.png"))
