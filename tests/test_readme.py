"""README.md works verbatim: every fenced code block of the README itself (read at collection,
so an edited README is re-tested) runs against the server ``make run`` starts.

Shell blocks run with bash (-e, pipefail), Python blocks with the project's Python, both in the
project directory with the server's environment; the only change made to a block is the
address: ``127.0.0.1:8000`` becomes the test server's. Markers in the README, an HTML comment
on the line before a block:

* ``<!-- readme-test: expect REGEX -->``: the output must match REGEX (``re.search``, multiline);
* ``<!-- readme-test: skip (reason) -->``: the block is not run here; the reason is shown.

A block without a marker must exit 0 and print nothing; one that prints data needs ``expect``.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import app_server  # noqa: F401  (the one server of the session)

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PYTHON = ROOT / ".venv" / "bin" / "python"
README_ADDRESS = "127.0.0.1:8000"
FENCE = re.compile(r"^```(\S*)\s*$")
MARKER = re.compile(r"^<!-- readme-test: (skip|expect) (.+?) -->$")
BASH = ["bash", "-e", "-o", "pipefail", "-c"]
RUNNERS = {"sh": BASH, "bash": BASH, "python": [str(PYTHON), "-c"]}


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    marker: str | None  # "skip" or "expect"
    argument: str | None

    @property
    def id(self) -> str:
        return f"{self.language or 'plain'}-line{self.line}"


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text`` with the marker on the line before it, if any."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        previous = lines[i - 1].strip() if i else ""
        marker = MARKER.match(previous)
        blocks.append(Block(line=i + 1, language=opening.group(1),
                            code="\n".join(lines[i + 1:end]) + "\n",
                            marker=marker.group(1) if marker else None,
                            argument=marker.group(2) if marker else None))
        i = end + 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_readme_has_the_examples_it_promises():
    languages = sorted(block.language for block in BLOCKS if block.marker != "skip")
    assert languages == ["python", "python", "python", "sh"]  # the third: fit arrays, pandas
    skipped = [block.code.splitlines()[0].split("#")[0].strip()
               for block in BLOCKS if block.marker == "skip"]
    # `make run`/`make test`, then the deployment blocks (root, services: make test-deploy)
    assert skipped == [
        "make run",
        "useradd --system --home-dir /var/lib/labdb --create-home labdb",
        ".venv/bin/gunicorn labdb.wsgi:application --bind 127.0.0.1:8000 --workers 3"
        " --timeout 120 --access-logfile -",
        ".venv/bin/python manage.py backup /srv/backups/labdb-$(date +%F)",
    ]


def test_readme_blocks_are_recognised_and_markers_parsed():
    sample = ("<!-- readme-test: expect ^ok$ -->\n```sh\necho ok\n```\n\n```python\npass\n```\n"
              "<!-- readme-test: skip (slow) -->\n```sh\nmake run\n```\n")
    assert readme_blocks(sample) == [
        Block(line=2, language="sh", code="echo ok\n", marker="expect", argument="^ok$"),
        Block(line=6, language="python", code="pass\n", marker=None, argument=None),
        Block(line=10, language="sh", code="make run\n", marker="skip", argument="(slow)"),
    ]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_readme_block_runs_verbatim(block: Block, app_server):  # noqa: F811
    if block.marker == "skip":
        pytest.skip(f"README line {block.line}: marked skip {block.argument}")
    assert block.language in RUNNERS, (
        f"README line {block.line}: a ```{block.language} block cannot be run; "
        "use sh or python, or mark it <!-- readme-test: skip (reason) -->")
    code = block.code.replace(README_ADDRESS, app_server.url.removeprefix("http://"))
    result = subprocess.run([*RUNNERS[block.language], code], cwd=ROOT, env=app_server.env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"README line {block.line} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    if block.marker == "expect":
        assert re.search(block.argument, result.stdout, re.MULTILINE), (
            f"README line {block.line}: output does not match {block.argument!r}:\n"
            f"{result.stdout}")
    else:
        assert result.stdout == "", (
            f"README line {block.line} prints data but states no expected output "
            f"(add <!-- readme-test: expect REGEX -->):\n{result.stdout}")
