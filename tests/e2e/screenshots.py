"""Copy the browser tests' screenshots into docs/screenshots/ at commit size.

Run after ``pytest tests/e2e``:  ``.venv/bin/python -m tests.e2e.screenshots``.
Each PNG is cropped to at most 1200 px high, scaled to 900 px wide and reduced to a
128-colour palette (~15–80 kB each). The browser tests only write ``var/screenshots/``, so a
test run never changes tracked files.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "var" / "screenshots"
TARGET = ROOT / "docs" / "screenshots"
PAGES = ("dashboard", "sample-list", "sample-page", "upload-plot", "log-run", "log-run-error",
         "run-page", "fit", "refit-progress", "explore")
WIDTH, MAX_HEIGHT, COLOURS = 900, 1200, 128


def shrink(source: Path, target: Path) -> int:
    image = Image.open(source).convert("RGB")
    if image.height * WIDTH / image.width > MAX_HEIGHT:
        image = image.crop((0, 0, image.width, int(MAX_HEIGHT * image.width / WIDTH)))
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    image.quantize(colors=COLOURS, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
    return target.stat().st_size


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in PAGES:
        source = SOURCE / f"{name}.png"
        if not source.exists():
            print(f"missing {source} (run pytest tests/e2e first)")
            continue
        size = shrink(source, TARGET / f"{name}.png")
        total += size
        print(f"{name}.png {size / 1000:.0f} kB")
    print(f"total {total / 1000:.0f} kB")


if __name__ == "__main__":
    main()
