"""The README opens with the two commands, and every Python block of the docs runs when copied.

Every fenced ``python`` block of README.md, docs/, the package READMEs and the
examples' READMEs carries one of three markers on the line before its fence:

``<!-- runnable -->``
    run as written, as a script, each in its own process, offline, with a scratch
    TTA_HOME (bash blocks may carry it too);
``<!-- fragment: continues the block above -->``
    run as the previous Python block of the same document followed by this one,
    the way a reader who copied both would run them;
``<!-- not runnable: REASON -->``
    needs something a test machine does not have (a hosted model, a Vault server,
    a tenant); the reason is required, and the block must still parse as a script
    (``await`` only inside ``async def``), so copying it never ends in a SyntaxError.

A new block without a marker, or whose marker is not one of these, fails
``test_every_python_block_is_marked``.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!--\s*(.*?)\s*-->$")
RUNNABLE = "runnable"
FRAGMENT = "fragment: continues the block above"
NOT_RUNNABLE = "not runnable:"


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document, with the marker on the line before it."""

    document: str
    line: int
    language: str
    marker: str | None
    code: str

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def documents() -> list[Path]:
    found = [README, *sorted(ROOT.glob("docs/**/*.md")), *sorted(ROOT.glob("packages/*/README.md"))]
    return found + sorted(ROOT.glob("examples/**/README.md"))


def blocks_of(text: str, document: str) -> list[Block]:
    """Every fenced block of ``text``, in order (fences inside a block are its text)."""
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        marker = _MARKER.match(lines[index - 1].strip()) if index else None
        code = "\n".join(lines[index + 1 : end]) + "\n"
        found.append(Block(document, index + 1, opening[1], marker[1] if marker else None, code))
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    return [
        block
        for path in documents()
        for block in blocks_of(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]


def python_blocks() -> list[Block]:
    return [block for block in all_blocks() if block.language in {"python", "py"}]


def script_of(block: Block, blocks: list[Block] | None = None) -> str:
    """The program a reader runs for ``block``: fragments bring the blocks they continue."""
    if block.marker != FRAGMENT:
        return block.code
    candidates = python_blocks() if blocks is None else blocks
    earlier = [
        other
        for other in candidates
        if other.document == block.document and other.line < block.line
    ]
    assert earlier, f"{block.id}: a fragment continues a Python block above it; there is none"
    return script_of(earlier[-1], candidates) + "\n" + block.code


def run_blocks() -> list[Block]:
    return [
        block
        for block in all_blocks()
        if block.marker in {RUNNABLE, FRAGMENT} and block.language in {"python", "py", "bash"}
    ]


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block[1].strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert text.index("```bash") < text.index("```python")


def test_the_readme_example_is_marked_runnable() -> None:
    assert any(block.document == "README.md" for block in run_blocks())


def test_every_python_block_is_marked() -> None:
    unmarked = [
        block.id
        for block in python_blocks()
        if block.marker is None
        or not (
            block.marker in {RUNNABLE, FRAGMENT}
            or (block.marker.startswith(NOT_RUNNABLE) and block.marker[13:].strip())
        )
    ]
    assert not unmarked, (
        "Python blocks without a marker (<!-- runnable -->, "
        f"<!-- {FRAGMENT} -->, or <!-- not runnable: REASON -->): {unmarked}"
    )


def test_the_marker_check_sees_an_unmarked_block() -> None:
    text = "# Doc\n\n<!-- runnable -->\n```python\nprint(1)\n```\n\n```python\nawait x\n```\n"
    found = blocks_of(text, "doc.md")
    assert [(block.line, block.marker) for block in found] == [(4, RUNNABLE), (8, None)]


def test_a_fragment_runs_after_the_block_it_continues() -> None:
    first = Block("doc.md", 3, "python", RUNNABLE, "x = 1\n")
    second = Block("doc.md", 9, "python", FRAGMENT, "print(x + 1)\n")
    assert script_of(second, [first, second]) == "x = 1\n\nprint(x + 1)\n"
    with pytest.raises(AssertionError, match="continues a Python block above it"):
        script_of(second, [second])


@pytest.mark.parametrize("block", python_blocks(), ids=lambda block: block.id)
def test_python_block_parses_as_a_script(block: Block) -> None:
    """No block, even one that needs a server, ends in a SyntaxError when run as a script."""
    try:
        ast.parse(script_of(block), filename=block.id)
    except SyntaxError as error:
        pytest.fail(f"{block.id}: not a valid script ({error}); wrap awaits in asyncio.run(main())")


@pytest.mark.parametrize("block", run_blocks(), ids=lambda block: block.id)
def test_runnable_block_runs(block: Block, tmp_path: Path) -> None:
    env = {**os.environ, "TTA_HOME": str(tmp_path / "home"), "OTEL_TRACES_EXPORTER": "none"}
    python = block.language != "bash"
    script = tmp_path / ("block.py" if python else "block.sh")
    script.write_text(script_of(block), encoding="utf-8")
    command = [sys.executable, str(script)] if python else ["bash", "-eu", str(script)]
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, f"{block.id}:\n{result.stderr}"
