"""Coder detection: explicit choice, environment, ancestor processes, config files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tta_dev_integrations.llm.catalog import load_catalog
from tta_dev_integrations.llm.coders import (
    CODERS,
    CoderDefaults,
    CoderDetection,
    _ancestor_process_names,
    coder_defaults,
    detect_coder,
)

# One documented agent variable per coder that has one (see docs/guides/CODER_DETECTION.md).
AGENT_ENV = [
    ("claude-code", {"CLAUDECODE": "1"}),
    ("claude-code", {"CLAUDE_CODE_CHILD_SESSION": "1"}),
    ("codex", {"CODEX_SANDBOX": "seatbelt"}),
    ("codex", {"CODEX_SANDBOX_NETWORK_DISABLED": "1"}),
    ("codex", {"CODEX_THREAD_ID": "0199a7c2-aaaa-bbbb-cccc-123456789abc"}),
    ("gemini-cli", {"GEMINI_CLI": "1"}),
    ("copilot", {"COPILOT_CLI": "1"}),
    ("copilot", {"COPILOT_AGENT_SESSION_ID": "5f0c2d3e"}),
    ("augment", {"AUGMENT_AGENT": "1"}),
    ("cursor", {"CURSOR_AGENT": "1"}),
    ("cline", {"CLINE_ACTIVE": "true"}),
    ("cursor", {"CURSOR_TRACE_ID": "abc123"}),
    ("windsurf", {"TERM_PROGRAM": "windsurf"}),
]


@pytest.fixture
def isolated(tmp_path: Path) -> dict[str, Path]:
    """A project directory (a git root) and an empty home, both free of markers."""
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    return {"cwd": project, "home": home}


def detect(
    explicit: str | None = "auto",
    *,
    env: dict[str, str] | None = None,
    processes: list[str] | None = None,
    where: dict[str, Path],
) -> CoderDetection:
    return detect_coder(
        explicit,
        environ=env or {},
        process_names=processes or [],
        cwd=where["cwd"],
        home=where["home"],
    )


def test_coders_lists_every_assistant_and_none() -> None:
    assert set(CODERS) == {
        "copilot",
        "cline",
        "augment",
        "claude-code",
        "cursor",
        "codex",
        "gemini-cli",
        "aider",
        "windsurf",
        "kimi",
        "grok",
        "antigravity",
        "opencode",
        "goose",
        "junie",
        "pi",
        "kiro",
        "openclaw",
        "replit",
        "devin",
        "none",
    }
    assert len(CODERS) == len(set(CODERS))


@pytest.mark.parametrize(("coder", "env"), AGENT_ENV)
def test_each_coder_is_detected_from_its_environment_variable(
    coder: str, env: dict[str, str], isolated: dict[str, Path]
) -> None:
    found = detect(env=env, where=isolated)
    assert found.coder == coder
    assert found.source == "environment"
    (variable,) = env
    assert f"environment variable {variable}=" in found.signal


def test_every_coder_has_an_environment_or_process_signal(
    isolated: dict[str, Path],
) -> None:
    by_env = {coder for coder, _ in AGENT_ENV}
    aider = detect(processes=["aider"], where=isolated)
    assert aider.coder == "aider"  # aider sets no variable; its process name is the signal
    from_table = {coder for coder, _ in TABLE_ENV}
    assert by_env | from_table | {"aider", "devin"} == set(CODERS) - {"none"}


def test_false_values_do_not_count(isolated: dict[str, Path]) -> None:
    for value in ("", "0", "false", "no", "off"):
        assert detect(env={"CLAUDECODE": value}, where=isolated).coder == "none"


def test_plain_vs_code_is_not_copilot(isolated: dict[str, Path]) -> None:
    found = detect(env={"TERM_PROGRAM": "vscode", "GITHUB_TOKEN": "t"}, where=isolated)
    assert found == CoderDetection("none", found.signal, "none")


def test_the_generic_ai_agent_variable_names_a_coder(isolated: dict[str, Path]) -> None:
    assert detect(env={"AI_AGENT": "claude-code_2.1.120_agent"}, where=isolated).coder == (
        "claude-code"
    )
    assert detect(env={"AI_AGENT": "github-copilot"}, where=isolated).coder == "copilot"
    assert detect(env={"AI_AGENT": "some-other-tool"}, where=isolated).coder == "none"


def test_a_terminal_agent_beats_the_ide_it_was_started_from(isolated: dict[str, Path]) -> None:
    env = {"CURSOR_AGENT": "1", "CURSOR_TRACE_ID": "x", "CLAUDECODE": "1"}
    assert detect(env=env, where=isolated).coder == "claude-code"


def test_explicit_choice_overrides_the_environment(isolated: dict[str, Path]) -> None:
    found = detect("cursor", env={"CLAUDECODE": "1"}, where=isolated)
    assert found == CoderDetection("cursor", "explicit coder='cursor'", "explicit")


def test_explicit_none_turns_detection_off(isolated: dict[str, Path]) -> None:
    found = detect("none", env={"CLAUDECODE": "1"}, processes=["codex"], where=isolated)
    assert (found.coder, found.source) == ("none", "explicit")


def test_explicit_choice_is_case_insensitive(isolated: dict[str, Path]) -> None:
    assert detect("Claude-Code", where=isolated).coder == "claude-code"
    assert detect("  COPILOT ", where=isolated).coder == "copilot"
    assert detect("AUTO", env={"GEMINI_CLI": "1"}, where=isolated).coder == "gemini-cli"
    assert detect(None, env={"GEMINI_CLI": "1"}, where=isolated).coder == "gemini-cli"


def test_an_unknown_explicit_name_lists_the_valid_choices(isolated: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="unknown coder 'vim'") as raised:
        detect("vim", where=isolated)
    for choice in ("auto", *CODERS):
        assert choice in str(raised.value)


def test_tta_coder_overrides_detection_when_auto(isolated: dict[str, Path]) -> None:
    env = {"TTA_CODER": "Cursor", "CLAUDECODE": "1"}
    found = detect(env=env, processes=["codex"], where=isolated)
    assert found == CoderDetection("cursor", "environment variable TTA_CODER=Cursor", "explicit")


def test_the_coder_argument_beats_tta_coder(isolated: dict[str, Path]) -> None:
    assert detect("aider", env={"TTA_CODER": "cursor"}, where=isolated).coder == "aider"


def test_tta_coder_auto_or_empty_means_detect(isolated: dict[str, Path]) -> None:
    for value in ("auto", "", "  "):
        found = detect(env={"TTA_CODER": value, "GEMINI_CLI": "1"}, where=isolated)
        assert found.coder == "gemini-cli"


def test_an_invalid_tta_coder_is_a_value_error(isolated: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="TTA_CODER"):
        detect(env={"TTA_CODER": "emacs"}, where=isolated)


@pytest.mark.parametrize(
    ("name", "coder"),
    [
        ("claude", "claude-code"),
        ("codex", "codex"),
        ("gemini", "gemini-cli"),
        ("aider", "aider"),
        ("copilot", "copilot"),
        ("auggie", "augment"),
        ("cline", "cline"),
        ("cursor", "cursor"),
        ("cursor-agent", "cursor"),
        ("windsurf", "windsurf"),
        ("/usr/local/bin/claude", "claude-code"),
        ("Codex.exe", "codex"),
    ],
)
def test_process_names_name_the_coder(name: str, coder: str, isolated: dict[str, Path]) -> None:
    found = detect(processes=["python3", "bash", name, "systemd"], where=isolated)
    assert (found.coder, found.source) == (coder, "process")
    assert repr(name) in found.signal


def test_the_nearest_matching_ancestor_wins(isolated: dict[str, Path]) -> None:
    assert detect(processes=["bash", "aider", "claude"], where=isolated).coder == "aider"


def test_unknown_process_names_find_nothing(isolated: dict[str, Path]) -> None:
    found = detect(processes=["bash", "code", "node", "tmux"], where=isolated)
    assert found.coder == "none"


def test_config_files_in_the_project(isolated: dict[str, Path]) -> None:
    (isolated["cwd"] / ".clinerules").mkdir()
    found = detect(where=isolated)
    assert (found.coder, found.source) == ("cline", "config")
    assert ".clinerules" in found.signal


@pytest.mark.parametrize(
    ("marker", "coder"),
    [
        (".github/copilot-instructions.md", "copilot"),
        (".augment-guidelines", "augment"),
        ("CLAUDE.md", "claude-code"),
        (".cursorrules", "cursor"),
        (".codex/config.toml", "codex"),
        ("GEMINI.md", "gemini-cli"),
        (".aider.conf.yml", "aider"),
        (".windsurfrules", "windsurf"),
    ],
)
def test_each_project_marker(marker: str, coder: str, isolated: dict[str, Path]) -> None:
    path = isolated["cwd"] / marker
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    assert detect(where=isolated).coder == coder


def test_agents_md_names_no_coder(isolated: dict[str, Path]) -> None:
    (isolated["cwd"] / "AGENTS.md").write_text("instructions for any agent")
    assert detect(where=isolated).coder == "none"


def test_several_coders_in_one_directory_follow_the_order_of_coders(
    isolated: dict[str, Path],
) -> None:
    (isolated["cwd"] / "CLAUDE.md").write_text("x")
    (isolated["cwd"] / ".windsurfrules").write_text("x")
    (isolated["cwd"] / ".cursor").mkdir()
    found = detect(where=isolated)
    assert found.coder == "claude-code"
    assert "also found files of: cursor, windsurf" in found.signal


def test_the_walk_goes_up_to_the_git_root_nearest_first(isolated: dict[str, Path]) -> None:
    root = isolated["cwd"]
    nested = root / "packages" / "app"
    nested.mkdir(parents=True)
    (root / "GEMINI.md").write_text("x")
    (root.parent / "CLAUDE.md").write_text("x")  # above the git root: not the project
    where = {"cwd": nested, "home": isolated["home"]}
    assert detect(where=where).coder == "gemini-cli"
    (root / "packages" / ".aider.conf.yml").write_text("x")
    assert detect(where=where).coder == "aider"


def test_without_a_git_root_only_the_working_directory_counts(tmp_path: Path) -> None:
    (tmp_path / "CLAUDE.md").write_text("x")
    loose = tmp_path / "scratch"
    loose.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    found = detect_coder(environ={}, process_names=[], cwd=loose, home=home)
    assert found.coder == "none"


def test_home_files_count_when_one_coder_owns_them(isolated: dict[str, Path]) -> None:
    (isolated["home"] / ".codex").mkdir()
    found = detect(where=isolated)
    assert found == CoderDetection("codex", "home file ~/.codex", "config")


def test_home_files_of_several_coders_are_ambiguous(isolated: dict[str, Path]) -> None:
    (isolated["home"] / ".codex").mkdir()
    (isolated["home"] / ".claude").mkdir()
    found = detect(where=isolated)
    assert (found.coder, found.source) == ("none", "none")
    assert "claude-code, codex" in found.signal


def test_project_files_beat_home_files(isolated: dict[str, Path]) -> None:
    (isolated["home"] / ".codex").mkdir()
    (isolated["cwd"] / ".cursor").mkdir()
    assert detect(where=isolated).coder == "cursor"


def test_the_home_directory_is_never_read_as_a_project(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".codex").mkdir()
    found = detect_coder(environ={}, process_names=[], cwd=tmp_path, home=tmp_path)
    assert (found.coder, found.source) == ("none", "none")


def test_precedence_environment_then_process_then_config(isolated: dict[str, Path]) -> None:
    (isolated["cwd"] / "CLAUDE.md").write_text("x")
    everything = detect(env={"GEMINI_CLI": "1"}, processes=["aider"], where=isolated)
    assert (everything.coder, everything.source) == ("gemini-cli", "environment")
    no_env = detect(processes=["aider"], where=isolated)
    assert (no_env.coder, no_env.source) == ("aider", "process")
    only_config = detect(where=isolated)
    assert (only_config.coder, only_config.source) == ("claude-code", "config")


def test_an_agent_process_beats_the_ide_terminal_it_runs_in(isolated: dict[str, Path]) -> None:
    found = detect(env={"CURSOR_TRACE_ID": "x"}, processes=["aider"], where=isolated)
    assert found.coder == "aider"
    weak = detect(env={"CURSOR_TRACE_ID": "x"}, where=isolated)
    assert (weak.coder, weak.source) == ("cursor", "environment")
    assert "weak" in weak.signal


def test_nothing_detected_is_none(isolated: dict[str, Path]) -> None:
    found = detect(where=isolated)
    assert found == CoderDetection("none", "no environment, process or config signal", "none")


def test_the_real_proc_walk_runs_without_raising(isolated: dict[str, Path]) -> None:
    names = _ancestor_process_names()
    assert isinstance(names, tuple)
    assert all(isinstance(n, str) for n in names)
    found = detect_coder(environ={}, cwd=isolated["cwd"], home=isolated["home"])
    assert isinstance(found, CoderDetection)
    assert found.coder in CODERS


def test_the_proc_walk_without_proc_finds_nothing(tmp_path: Path) -> None:
    assert _ancestor_process_names(proc_root=tmp_path / "absent") == ()


def _fake_process(root: Path, pid: int, ppid: int, comm: str, argv: list[str]) -> None:
    directory = root / str(pid)
    directory.mkdir(parents=True)
    (directory / "comm").write_text(comm + "\n")
    (directory / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1\n")
    (directory / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_the_proc_walk_reads_comm_cmdline_and_the_script_of_an_interpreter(
    tmp_path: Path,
) -> None:
    _fake_process(tmp_path, 40, 30, "bash", ["/bin/bash"])
    _fake_process(tmp_path, 30, 20, "node", ["node", "--no-warnings", "/usr/local/bin/gemini"])
    _fake_process(tmp_path, 20, 1, "we (ird) name", ["/opt/x"])
    _fake_process(tmp_path, 1, 0, "systemd", ["/sbin/init"])
    names = _ancestor_process_names(proc_root=tmp_path, start_pid=40)
    assert names == ("bash", "node", "gemini", "we (ird) name", "x", "systemd", "init")
    found = detect_coder(environ={}, process_names=names, cwd=tmp_path, home=tmp_path)
    assert (found.coder, found.source) == ("gemini-cli", "process")


def test_the_proc_walk_is_bounded_and_survives_garbage(tmp_path: Path) -> None:
    _fake_process(tmp_path, 3, 2, "a", ["a"])
    _fake_process(tmp_path, 2, 3, "b", ["b"])  # a cycle
    assert _ancestor_process_names(proc_root=tmp_path, start_pid=3) == ("a", "b")
    for pid in range(100, 140):
        _fake_process(tmp_path, pid, pid + 1, f"p{pid}", [])
    assert len(_ancestor_process_names(proc_root=tmp_path, start_pid=100, max_depth=5)) == 5
    broken = tmp_path / "7"
    broken.mkdir()
    (broken / "comm").write_text("claude")
    (broken / "stat").write_text("garbage")
    assert _ancestor_process_names(proc_root=tmp_path, start_pid=7) == ("claude",)


def test_coder_defaults_under_copilot_with_a_github_token() -> None:
    copilot = CoderDetection("copilot", "environment variable COPILOT_CLI=1", "environment")
    defaults = coder_defaults(copilot, {"GITHUB_TOKEN": "ghp_x"})
    assert defaults == CoderDefaults(("github-gpt-4.1", "github-gpt-4o-mini"))
    catalog = load_catalog()
    for alias in defaults.preferred_free_models:
        assert alias in catalog
        assert catalog[alias].free
        assert catalog[alias].provider == "github"


def test_coder_defaults_without_a_token_or_outside_copilot() -> None:
    copilot = CoderDetection("copilot", "explicit coder='copilot'", "explicit")
    assert coder_defaults(copilot, {}).preferred_free_models == ()
    assert coder_defaults(copilot, {"GITHUB_TOKEN": "  "}).preferred_free_models == ()
    claude = CoderDetection("claude-code", "environment variable CLAUDECODE=1", "environment")
    assert coder_defaults(claude, {"GITHUB_TOKEN": "ghp_x"}).preferred_free_models == ()


def test_coder_defaults_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    copilot = CoderDetection("copilot", "explicit coder='copilot'", "explicit")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_x")
    assert coder_defaults(copilot).preferred_free_models[0] == "github-gpt-4.1"
    monkeypatch.delenv("GITHUB_TOKEN")
    assert coder_defaults(copilot).preferred_free_models == ()


def test_public_names_are_sorted_and_documented() -> None:
    from tta_dev_integrations.llm import coders

    names = list(coders.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    for name in names:
        assert getattr(coders, name) is not None
    for obj in (CoderDetection, CoderDefaults, detect_coder, coder_defaults):
        assert obj.__doc__


# Agents only detect-agent's table knows, each with a variable its entry lists (devin is
# recognised by a file, /opt/.devin, tested with an injected check below).
TABLE_ENV = [
    ("kimi", {"KIMI_PLUGIN_ROOT": "/opt/kimi"}),
    ("grok", {"GROK_PLUGIN_ROOT": "/opt/grok"}),
    ("antigravity", {"ANTIGRAVITY_AGENT": "1"}),
    ("opencode", {"OPENCODE_CLIENT": "cli"}),
    ("goose", {"GOOSE_PROVIDER": "anthropic"}),
    ("junie", {"JUNIE_DATA": "/tmp/junie"}),
    ("pi", {"PATH": "/home/u/.pi/agent/bin:/usr/bin"}),
    ("kiro", {"TERM_PROGRAM": "kiro"}),  # and no terminal on stdout (pytest captures it)
    ("openclaw", {"OPENCLAW_SHELL": "1"}),
    ("replit", {"REPL_ID": "abc"}),
    ("claude-code", {"CLAUDE_CODE_IS_COWORK": "1", "CLAUDECODE": "1"}),
    ("copilot", {"COPILOT_MODEL": "gpt-5"}),
    ("cursor", {"CURSOR_EXTENSION_HOST_ROLE": "agent-exec"}),
    ("codex", {"CODEX_CI": "1"}),
]


@pytest.mark.parametrize(("coder", "env"), TABLE_ENV)
def test_agents_of_the_detect_agent_table_are_detected(
    coder: str, env: dict[str, str], isolated: dict[str, Path]
) -> None:
    found = detect(env=env, where=isolated)
    assert (found.coder, found.source) == (coder, "environment")
    assert any(f"environment variable {name}=" in found.signal for name in env)


@pytest.mark.parametrize(("coder", "env"), TABLE_ENV)
def test_detect_agent_itself_agrees(
    coder: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from detect_agent import determine_agent

    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = determine_agent()
    assert result["is_agent"]
    assert result["agent"] is not None
    names = {
        "claude-code": {"claude_code", "cowork"}, "copilot": {"github-copilot"},
        "cursor": {"cursor-cli"}, "codex": {"codex_cli"}, "opencode": {"open_code"},
    }  # fmt: skip
    assert result["agent"]["name"] in names.get(coder, {coder})


def test_the_devin_marker_file_counts() -> None:
    from tta_dev_integrations.llm.agent_signals import agent_rules, match_rule

    (devin,) = [rule for rule in agent_rules() if rule.coder == "devin"]
    assert match_rule(devin.condition, {}, path_exists=lambda p: p == "/opt/.devin") == (
        "file /opt/.devin"
    )
    assert match_rule(devin.condition, {}, path_exists=lambda p: False) is None


def test_unknown_condition_types_and_bad_patterns_are_false() -> None:
    from tta_dev_integrations.llm.agent_signals import match_rule

    assert match_rule({"type": "process_named", "name": "x"}, {"x": "1"}) is None
    assert match_rule({"type": "env_matches", "name": "X", "pattern": "("}, {"X": "a"}) is None
    assert match_rule({"type": "allOf", "conditions": []}, {}) is None


def test_without_the_table_tta_own_variables_still_work(
    monkeypatch: pytest.MonkeyPatch, isolated: dict[str, Path]
) -> None:
    from tta_dev_integrations.llm import agent_signals

    monkeypatch.setattr(agent_signals, "_table", lambda: ())
    agent_signals.agent_rules.cache_clear()
    try:
        assert detect(env={"CLAUDECODE": "1"}, where=isolated).coder == "claude-code"
        assert detect(env={"GOOSE_PROVIDER": "x"}, where=isolated).coder == "none"
    finally:
        monkeypatch.undo()
        agent_signals.agent_rules.cache_clear()
