"""One exit-code scheme for every command: 0 ok, 1 runtime failure, 2 usage, 130 interrupted.

Also ``tta --version``, and CLI messages that name the CLI's flags (not the Python
API's parameters) and show the sub-errors they refer to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest
import typer.core

from tta_cli.app import COMMAND_MODULES, main
from tta_cli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, CLIError, cli_wording

#: Per command: a command line that runs its body (for the interruption test).
LEAVES: dict[str, list[str]] = {
    "demo": ["demo"],
    "ask": ["ask", "hello"],
    "budget": ["budget"],
    "models": ["models"],
    "coder": ["coder"],
    "traces": ["traces"],
    "metrics": ["metrics", "catalogue"],
    "secrets": ["secrets", "check"],
    "git": ["git", "start", "a task"],
    "lint": ["lint", "."],
}


def _failures(tmp: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Per command: a command line and environment on which it fails at run time."""
    a_file = tmp / "a-file"
    a_file.write_text("not a directory\n")
    missing = str(tmp / "missing.json")
    return {
        "demo": (["demo", "--tasks", missing], {}),
        "ask": (["ask", "hello"], {"TTA_CATALOG": missing}),
        "budget": (["budget"], {"TTA_HOME": str(a_file)}),
        "models": (["models"], {"TTA_CATALOG": missing}),
        "coder": (["coder"], {"TTA_CODER": "no-such-coder"}),
        "traces": (["traces", "--file", missing], {}),
        "metrics": (["metrics", "catalogue", "--output", missing, "--check"], {}),
        "secrets": (["secrets", "check"], {"VAULT_ADDR": "http://127.0.0.1:9"}),
        "git": (["git", "start", "a task", "-C", str(tmp)], {}),
        "lint": (["lint", str(tmp / "no-such-dir")], {}),
    }


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TTA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    for name in ("TTA_LEDGER_URL", "VAULT_ADDR", "VAULT_TOKEN", "TTA_CODER", "TTA_CATALOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_command_is_covered(tmp_path: Path) -> None:
    assert set(LEAVES) == set(COMMAND_MODULES)
    assert set(_failures(tmp_path)) == set(COMMAND_MODULES)


def test_version_names_tta_and_its_packages(tta) -> None:
    result = tta("--version", timeout=60)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"tta {version('tta-cli')} (")
    assert f"tta-dev-primitives {version('tta-dev-primitives')}" in line
    assert "Python " in line


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_an_unknown_flag_is_a_usage_error(
    command: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*LEAVES[command], "--no-such-flag"]) == EXIT_USAGE
    assert "--no-such-flag" in capsys.readouterr().err


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_a_runtime_failure_exits_1_with_one_message(command: str, env: Path, tta) -> None:
    args, extra = _failures(env)[command]
    result = tta(*args, env={**dict(os.environ), **extra}, timeout=90)
    assert result.returncode == EXIT_FAILURE, (result.stdout, result.stderr)
    assert result.stderr.startswith("tta: error: "), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_an_interruption_exits_130(
    command: str, env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C inside the command's body (as the command is invoked) ends with 130."""
    leaf = LEAVES[command][-1] if command in {"metrics", "secrets"} else LEAVES[command][0]
    if command == "git":
        leaf = "start"
    invoked: list[str] = []

    def patch(cls: type) -> None:
        original = cls.invoke

        def invoke(self, ctx):  # type: ignore[no-untyped-def]
            if ctx.info_name == leaf and not _has_subcommand(ctx):
                invoked.append(leaf)
                raise KeyboardInterrupt
            return original(self, ctx)

        monkeypatch.setattr(cls, "invoke", invoke)

    patch(typer.core.TyperCommand)
    patch(typer.core.TyperGroup)
    assert main(LEAVES[command]) == EXIT_INTERRUPTED
    assert invoked == [leaf]
    assert capsys.readouterr().err.endswith("tta: interrupted\n")


def _has_subcommand(ctx: object) -> bool:
    return bool(getattr(ctx, "protected_args", None) or getattr(ctx, "_protected_args", None))


def serve_metrics(port: int) -> subprocess.Popen[str]:
    """``tta metrics serve`` in a child whose Ctrl-C does what a terminal's does.

    A child inherits an ignored SIGINT (a shell starts background jobs that way, and a
    CI runner may run the suite as one), and Python then leaves it ignored: the child is
    started with the signal caught here, which a new program resets to the default.
    """
    caught = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "tta_cli.app", "metrics", "serve", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, caught)


def test_ctrl_c_stops_metrics_serve_with_130(tta_env_free_port: int) -> None:
    process = serve_metrics(tta_env_free_port)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("serving http://")
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
        process.communicate()  # reaped, its pipes closed, whatever happened
    assert process.returncode == EXIT_INTERRUPTED
    assert "no workflow runs in this process" in err
    assert err.endswith("tta: interrupted\n")


@pytest.fixture
def tta_env_free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_flags_that_do_not_go_together_are_a_usage_error(env: Path) -> None:
    assert main(["metrics", "catalogue", "--check"]) == EXIT_USAGE


def test_git_outside_a_repository_names_the_cli_flag(env: Path, tta) -> None:
    result = tta("git", "start", "a task", "-C", str(env), timeout=60)
    assert result.returncode == EXIT_FAILURE
    assert "pass -C/--repo" in result.stderr
    assert "repo=" not in result.stderr


def test_python_parameters_are_reworded_as_flags() -> None:
    text = "start a branch, or pass allow_protected=True if this commit belongs there"
    assert (
        cli_wording(text)
        == "start a branch, or pass --allow-protected if this commit belongs there"
    )
    assert cli_wording("pass repo= pointing into one") == "pass -C/--repo pointing into one"
    assert cli_wording("pass timeout= to wait") == "pass timeout= to wait"


def test_sub_errors_are_shown_not_referred_to() -> None:
    group = ExceptionGroup(
        "every model 'ask' could use failed (a, b); see the sub-exceptions",
        [TimeoutError("a: no answer in 60 s"), ValueError("b: key refused")],
    )
    message = str(CLIError.from_error(group, hint="see `tta models`"))
    assert "sub-exceptions" not in message
    first, *rest = message.splitlines()
    assert first.endswith("(see `tta models`)")
    assert rest == ["  - TimeoutError: a: no answer in 60 s", "  - ValueError: b: key refused"]


def test_an_unexpected_group_of_errors_lists_its_members(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tta_dev_primitives import AllAlternativesFailedError

    def fail(self, ctx):  # type: ignore[no-untyped-def]
        raise AllAlternativesFailedError(
            "every alternative of 'draft' failed; see the sub-exceptions for each cause",
            [TimeoutError("model: no answer in 60 s"), ValueError("rules: empty task")],
        )

    monkeypatch.setattr(typer.core.TyperCommand, "invoke", fail)
    assert main(["coder"]) == EXIT_FAILURE
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        "tta: error: AllAlternativesFailedError: every alternative of 'draft' failed "
        "(run with --debug)"
    )
    assert lines[1:] == [
        "  - TimeoutError: model: no answer in 60 s",
        "  - ValueError: rules: empty task",
    ]


def test_ctrl_c_the_moment_metrics_serve_answers_still_stops_it(tta_env_free_port: int) -> None:
    """No window after "serving" where a Ctrl-C leaves the server's thread running."""
    for _ in range(3):
        process = serve_metrics(tta_env_free_port)
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("serving http://")
            process.send_signal(signal.SIGINT)  # at once: no time to settle
            _, err = process.communicate(timeout=20)
        finally:
            process.kill()
            process.communicate()
        assert process.returncode == EXIT_INTERRUPTED
        assert "no workflow runs in this process" in err
