"""Peak memory of parsing each hostile file (bombs from tests/characterization/test_bombs.py).

Each bomb runs in its own Python process: build the bomb, reset the peak-RSS counter
(/proc/self/clear_refs), parse it with the default limits, print RSS before and peak RSS
after (MB) and the outcome. Run: .venv/bin/python benchmarks/bombs.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOMBS = {
    "emd_gzip_1GiB": "emd_bomb()",
    "tiff_40000x40000": "tiff_bomb(40000)",
    "dm3_40000x40000": "dm3_bomb()",
    "brml_zip_600MiB": "brml_bomb(600 * MIB)",
    "csv_12M_values": "csv_bomb()",
}
CHILD = """
import os, sys
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labdb.settings")
import django
django.setup()
from tests.characterization.test_bombs import MIB, brml_bomb, dm3_bomb, emd_bomb, tiff_bomb
from characterization.parsers.registry import parse_file
from labdb.lib.errors import ParseError

def csv_bomb():
    return b"particle,feret_nm\\n" + b"".join(b"%d,5.5\\n" % i for i in range(6_000_000))

def rss(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
data = {expr}
open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM to the current RSS
before = rss("VmRSS")
try:
    parse_file(data, filename="bomb")
    outcome = "PARSED (not refused!)"
except ParseError as exc:
    outcome = "refused: " + exc.message[:90]
print(f"{{len(data) / 1e6:8.2f}} {{before:9.0f}} {{rss('VmHWM'):9.0f}}  {{outcome}}")
"""


def main() -> None:
    """Print one line per bomb: file MB, RSS before parse MB, peak RSS during parse MB."""
    print(f"{'bomb':18} {'file MB':>8} {'RSS MB':>9} {'peak MB':>9}  outcome")
    for name, expr in BOMBS.items():
        code = CHILD.format(root=str(ROOT), expr=expr)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
        )
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-300:]
        print(f"{name:18} {line}")


if __name__ == "__main__":
    main()
