"""The engine: suppression, files it cannot parse, module names, discovery."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from tta_lint import ImportContract, LintConfig, UsageError, lint_paths, lint_source
from tta_lint.config import parse_config
from tta_lint.engine import module_name

RETRY = """
import asyncio
async def fetch(url):
    for attempt in range(3):{comment}
        try:
            return await get(url)
        except OSError:
            await asyncio.sleep(1)
"""


def _retry(comment: str) -> list[str]:
    return [f.rule.id for f in lint_source(RETRY.format(comment=comment))]


@pytest.mark.parametrize(
    "comment",
    [
        "  # tta: ignore[TTA001]",
        "  # tta: ignore",
        "  # tta: ignore[hand-rolled-retry]",
        "  # tta:ignore[TTA008, TTA001]",
        "  # noqa: PLR2004  # tta: ignore[TTA001]",
    ],
)
def test_suppression_comments_silence_the_finding(comment: str) -> None:
    assert _retry(comment) == []


@pytest.mark.parametrize(
    "comment",
    ["", "  # tta: ignore[TTA008]", "  # tta ignore", "  # ignore[TTA001]"],
)
def test_other_comments_do_not(comment: str) -> None:
    assert _retry(comment) == ["TTA001"]


def test_directive_inside_a_string_is_not_a_suppression() -> None:
    source = 'import openai; NOTE = "# tta: ignore[TTA006]"\n'
    assert [f.rule.id for f in lint_source(source)] == ["TTA006"]


def test_suppression_on_the_last_line_of_a_multiline_expression() -> None:
    source = textwrap.dedent(
        """
        import httpx
        async def ask(client):
            return await client.post(
                "https://api.openai.com/v1/chat/completions",
                json={},
            )  # tta: ignore[TTA006]
        """
    )
    assert lint_source(source) == []


def test_suppressed_findings_are_counted(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(RETRY.format(comment="  # tta: ignore"))
    result = lint_paths([tmp_path], LintConfig(root=tmp_path))
    assert (result.findings, result.suppressed, result.files_checked) == ([], 1, 1)


def test_syntax_error_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    (tmp_path / "fine.py").write_text("x = 1\n")
    result = lint_paths([tmp_path], LintConfig(root=tmp_path))
    assert [(f.rule.id, Path(f.path).name, f.line) for f in result.findings] == [
        ("TTA000", "broken.py", 1)
    ]
    assert "syntax error" in result.findings[0].message
    assert result.files_checked == 2


def test_undecodable_file_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "latin.py").write_bytes(b"name = '\xe9t\xe9'\n")
    result = lint_paths([tmp_path], LintConfig(root=tmp_path))
    assert [(f.rule.id, f.message) for f in result.findings] == [
        ("TTA000", "cannot read: not UTF-8")
    ]


def test_columns_are_characters_not_bytes() -> None:
    source = 'label = "é"; import openai\n'
    (finding,) = lint_source(source)
    assert finding.column == source.index("import") + 1


def test_module_names_follow_init_files(tmp_path: Path) -> None:
    package = tmp_path / "src" / "pkg" / "sub"
    package.mkdir(parents=True)
    for folder in (package.parent, package):
        (folder / "__init__.py").write_text("")
    (package / "mod.py").write_text("")
    assert module_name(package / "mod.py") == "pkg.sub.mod"
    assert module_name(package / "__init__.py") == "pkg.sub"
    assert module_name(tmp_path / "script.py") == "script"


def test_relative_imports_are_resolved_for_contracts(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("from . import high\nfrom .high import thing\n")
    (package / "high.py").write_text("from .low import x\n")
    contract = ImportContract("low stays low", ("pkg.low",), ("pkg.high",))
    result = lint_paths([tmp_path], LintConfig(root=tmp_path, imports=(contract,)))
    assert [(Path(f.path).name, f.line) for f in result.findings] == [
        ("low.py", 1),
        ("low.py", 2),
    ]
    assert "pkg.low imports pkg.high" in result.findings[0].message


def test_type_checking_imports_can_be_allowed() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import upper\n"
    strict = ImportContract("c", ("*",), ("upper",))
    lenient = ImportContract("c", ("*",), ("upper",), type_checking=False)
    assert len(lint_source(source, config=LintConfig(imports=(strict,)))) == 1
    assert lint_source(source, config=LintConfig(imports=(lenient,))) == []


def test_discovery_skips_default_and_configured_excludes(tmp_path: Path) -> None:
    for name in (".venv/lib/x.py", "build/y.py", "gen/z.py", "src/a.py", "src/notes.txt"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("import openai\n")
    config = parse_config({"exclude": ["gen/**"]}, root=tmp_path)
    result = lint_paths([tmp_path], config)
    assert sorted(Path(f.path).relative_to(tmp_path).as_posix() for f in result.findings) == [
        "src/a.py"
    ]
    # An excluded file stays excluded when named explicitly (as pre-commit does).
    assert lint_paths([tmp_path / "gen" / "z.py"], config).files_checked == 0


def test_explicit_files_are_linted_whatever_their_extension(tmp_path: Path) -> None:
    script = tmp_path / "run-it"
    script.write_text("#!/usr/bin/env python3\nimport openai\n")
    result = lint_paths([script], LintConfig(root=tmp_path))
    assert [f.rule.id for f in result.findings] == ["TTA006"]


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or directory"):
        lint_paths([tmp_path / "nope"], LintConfig(root=tmp_path))


def test_each_file_is_parsed_once_and_findings_are_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.py").write_text("import openai\nimport anthropic\n")
    (tmp_path / "a.py").write_text("import groq\n")
    result = lint_paths([tmp_path, tmp_path / "a.py"], LintConfig(root=tmp_path))
    assert [(Path(f.path).name, f.line) for f in result.findings] == [
        ("a.py", 1),
        ("b.py", 1),
        ("b.py", 2),
    ]
    assert result.files_checked == 2


def test_runs_over_the_standard_library_asyncio_package() -> None:
    package = Path(asyncio.__file__).parent
    result = lint_paths([package], LintConfig(root=package))
    assert result.files_checked > 20
    assert not [f for f in result.findings if f.rule.id == "TTA000"]


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio\nasync def f(ps, x):\n"
        "    await asyncio.gather(*(p.execute(context=x) for p in ps))\n",
        "async def f(p, q):\n    return await q.execute(await p.execute(context=1), ctx)\n",
        "async def f(p):\n    a = await p.execute(context=c)\n    b = await p.execute(context=a)\n",
        "from . import x\nfrom .. import y\n",
        "class A(B[int], metaclass=M):\n    execute = 1\n",
    ],
)
def test_odd_but_valid_code_does_not_crash(source: str) -> None:
    lint_source(source)
