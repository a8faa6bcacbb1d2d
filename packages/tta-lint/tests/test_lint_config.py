"""`[tool.tta.lint]`: discovery, rule selection, per-path rules, contracts, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tta_lint import RULES, ConfigError, find_config, lint_paths, load_config, parse_config
from tta_lint.globs import PathPattern

RETRY_AND_KEY = """
import asyncio
import openai
async def fetch(url):
    for attempt in range(3):
        try:
            return await get(url)
        except OSError:
            await asyncio.sleep(1)
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nearest_pyproject_with_the_table_wins(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml", '[tool.tta.lint]\ndisable = ["TTA006"]\n')
    _write(tmp_path / "pkg" / "pyproject.toml", "[project]\nname = 'pkg'\n")
    code = _write(tmp_path / "pkg" / "src" / "flow.py", RETRY_AND_KEY)
    assert find_config(code.parent) == tmp_path / "pyproject.toml"
    result = lint_paths([code])
    assert [f.rule.id for f in result.findings] == ["TTA001"]
    assert result.config_source == tmp_path / "pyproject.toml"


def test_no_configuration_means_every_rule(tmp_path: Path) -> None:
    assert load_config(None).rules == frozenset(RULES)
    plain = _write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    assert load_config(plain).rules == frozenset(RULES)


def test_enable_and_disable_take_ids_or_names(tmp_path: Path) -> None:
    config = parse_config(
        {"enable": ["TTA001", "direct-llm-call", "secret-literal"], "disable": ["tta008"]},
        root=tmp_path,
    )
    assert config.rules == {"TTA001", "TTA006"}


def test_per_path_disable(tmp_path: Path) -> None:
    config = parse_config(
        {"per-path-disable": {"legacy/**": ["hand-rolled-retry"], "*_gen.py": ["TTA006"]}},
        root=tmp_path,
    )
    assert "TTA001" not in config.rules_for("legacy/old/flow.py")
    assert "TTA001" in config.rules_for("new/flow.py")
    assert "TTA006" not in config.rules_for("deep/down/api_gen.py")
    code = _write(tmp_path / "legacy" / "flow.py", RETRY_AND_KEY)
    assert [f.rule.id for f in lint_paths([code], config).findings] == ["TTA006"]


def test_standalone_file_holds_the_table_at_top_level(tmp_path: Path) -> None:
    path = _write(tmp_path / "lint.toml", 'disable = ["TTA001"]\n')
    assert "TTA001" not in load_config(path).rules


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"disabel": ["TTA001"]}, "unknown key(s) ['disabel']"),
        ({"disable": ["TTA999"]}, "unknown rule 'TTA999'; known rules: TTA001"),
        ({"disable": "TTA001"}, "disable must be a list of strings"),
        ({"per-path-disable": ["x"]}, "per-path-disable must be a table"),
        ({"imports": {"a": 1}}, "imports must be an array of tables"),
        ({"imports": [{"sources": ["a"]}]}, "`forbidden` is required"),
        ({"imports": [{"sources": ["a"], "forbidden": ["b"], "from": 1}]}, "unknown key(s)"),
        (
            {"imports": [{"sources": ["a"], "forbidden": ["b"], "type-checking": "no"}]},
            "type-checking must be true or false",
        ),
    ],
)
def test_bad_configuration_says_what_is_wrong(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(table, root=Path())
    assert message in str(error.value)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "pyproject.toml", "[tool.tta.lint\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path)


def test_contract_matching(tmp_path: Path) -> None:
    config = parse_config(
        {
            "imports": [
                {
                    "name": "leaf",
                    "sources": ["*"],
                    "forbidden": ["app"],
                    "allow": ["app", "tests/app/**"],
                }
            ]
        },
        root=tmp_path,
    )
    (contract,) = config.imports
    assert contract.applies_to("lib.x", "src/lib/x.py")
    assert not contract.applies_to("app.main", "src/app/main.py")
    assert not contract.applies_to("test_main", "tests/app/test_main.py")
    assert contract.forbids("app.cli") == "app"
    assert contract.forbids("application") is None


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("build", "build/x.py", True),
        ("build", "a/b/build/x.py", True),
        ("build", "rebuild/x.py", False),
        ("packages/*/tests/**", "packages/tta-lint/tests/test_x.py", True),
        ("packages/*/tests/**", "packages/a/b/tests/test_x.py", False),
        ("src/**/gen_*.py", "src/gen_a.py", True),
        ("src/**/gen_*.py", "src/x/y/gen_a.py", True),
        ("*.egg-info", "pkg/foo.egg-info/PKG-INFO", True),
        ("docs/", "docs/conf.py", True),
        ("a?c.py", "abc.py", True),
        ("a?c.py", "a/c.py", False),
    ],
)
def test_path_patterns(pattern: str, path: str, matches: bool) -> None:
    assert PathPattern(pattern).matches(path) is matches
