"""The README opens with the two commands, and every runnable code block of the docs runs.

A block is runnable when the line before its fence is ``<!-- runnable -->``; such
blocks are run as written, each in its own process, offline, with a scratch TTA_HOME.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_RUNNABLE = re.compile(r"<!-- runnable -->\n```(\w+)\n(.*?)```", re.S)


def documents() -> list[Path]:
    found = [README, *sorted(ROOT.glob("docs/**/*.md")), *sorted(ROOT.glob("packages/*/README.md"))]
    return found + sorted(ROOT.glob("examples/**/README.md"))


def runnable_blocks() -> list[tuple[str, int, str, str]]:
    blocks = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        for number, match in enumerate(_RUNNABLE.finditer(text)):
            blocks.append((str(path.relative_to(ROOT)), number, match[1], match[2]))
    return blocks


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block[1].strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert text.index("```bash") < text.index("```python")


def test_the_readme_example_is_marked_runnable() -> None:
    assert any(doc == "README.md" for doc, *_ in runnable_blocks())


@pytest.mark.parametrize(
    ("document", "number", "language", "code"),
    runnable_blocks(),
    ids=[f"{doc}#{number}" for doc, number, *_ in runnable_blocks()],
)
def test_runnable_block_runs(
    document: str, number: int, language: str, code: str, tmp_path: Path
) -> None:
    assert language in {"python", "bash"}, f"{document}: runnable blocks are python or bash"
    env = {**os.environ, "TTA_HOME": str(tmp_path / "home"), "OTEL_TRACES_EXPORTER": "none"}
    script = tmp_path / ("block.py" if language == "python" else "block.sh")
    script.write_text(code, encoding="utf-8")
    command = (
        [sys.executable, str(script)] if language == "python" else ["bash", "-eu", str(script)]
    )
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, f"{document} block {number}:\n{result.stderr}"
