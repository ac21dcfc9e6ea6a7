"""Put a run's sample pictures of several steps side by side, labelled: docs/img/*.png.

.venv/bin/python benchmarks/progress_strip.py runs/digits 100 500 1000 2000 docs/img/digits_progress.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw


def strip(run: Path, steps: list[int], out: Path, height: int = 260) -> None:
    tiles = []
    for step in steps:
        img = Image.open(run / "samples" / f"step_{step:07d}.png").convert("RGB")
        img = img.resize((img.width * height // img.height, height))
        canvas = Image.new("RGB", (img.width, height + 22), "white")
        canvas.paste(img, (0, 22))
        ImageDraw.Draw(canvas).text((6, 4), f"step {step}", fill="black")
        tiles.append(canvas)
    total = Image.new("RGB", (sum(t.width for t in tiles) + 6 * len(tiles), height + 22), "white")
    x = 0
    for tile in tiles:
        total.paste(tile, (x, 0))
        x += tile.width + 6
    out.parent.mkdir(parents=True, exist_ok=True)
    total.save(out)


if __name__ == "__main__":
    run, *steps, out = sys.argv[1:]
    strip(Path(run), [int(s) for s in steps], Path(out))
