"""Which AI coding assistant runs this code, and the defaults that follow from it.

``detect_coder("auto")`` stops at the first signal found, in this order (the sources of
every signal are in ``docs/guides/CODER_DETECTION.md``):

1. **explicit**: a ``coder=`` value other than ``"auto"``, then ``TTA_CODER``;
2. **agent environment variables** that an assistant sets in the shells it spawns, from
   the table the ``detect-agent`` package maintains (about twenty agents: ``CLAUDECODE``,
   ``CODEX_SANDBOX``, ``GEMINI_CLI``, ``CURSOR_AGENT``, ``CLINE_ACTIVE``, ``GOOSE_PROVIDER``,
   ...) plus a few of TTA.dev's own (``COPILOT_CLI``, ...), and the generic ``AI_AGENT``
   (see :mod:`tta_dev_integrations.llm.agent_signals`);
3. **ancestor process names** (``claude``, ``codex``, ``gemini``, ``aider``, ...), read
   from ``/proc`` on Linux, at most 16 levels up; elsewhere this step finds nothing;
4. **IDE terminal variables** (``CURSOR_TRACE_ID``, ``TERM_PROGRAM=windsurf``): weak, they
   say which editor opened the terminal, not which agent runs in it;
5. **config files**, the weakest: the project (the working directory up to its git root,
   nearest directory first; a directory holding several assistants' files is settled by
   the order of ``CODERS``), then the home directory, used only when exactly one
   assistant's files are there;
6. nothing found: ``"none"``.

Plain VS Code (``TERM_PROGRAM=vscode``) is not mapped to any assistant, and ``AGENTS.md``
is ignored: many assistants read it, so it names none of them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tta_dev_integrations.llm.agent_signals import agent_rules, match_rule

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CODERS", "CoderDefaults", "CoderDetection", "coder_defaults", "detect_coder"]

CODERS: tuple[str, ...] = (
    "copilot",
    "cline",
    "augment",
    "claude-code",
    "cursor",
    "codex",
    "gemini-cli",
    "aider",
    "windsurf",
    # Agents detect-agent's table knows; no defaults of their own yet.
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
)

CoderSource = Literal["explicit", "environment", "process", "config", "none"]

_AUTO = "auto"
_OVERRIDE_VARIABLE = "TTA_CODER"
_FALSE_VALUES = frozenset({"", "0", "false", "no", "off"})
_MAX_PROCESS_DEPTH = 16
_MAX_DIRECTORY_DEPTH = 64
_MAX_SHOWN_VALUE = 40

# Words of the generic AI_AGENT value (``claude-code_2.1.120_agent``, ``github-copilot``)
# that name an assistant.
_AI_AGENT_WORDS: Mapping[str, str] = {
    "claude": "claude-code",
    "copilot": "copilot",
    "cline": "cline",
    "augment": "augment",
    "auggie": "augment",
    "cursor": "cursor",
    "codex": "codex",
    "gemini": "gemini-cli",
    "aider": "aider",
    "windsurf": "windsurf",
    "kimi": "kimi",
    "grok": "grok",
    "antigravity": "antigravity",
    "opencode": "opencode",
    "goose": "goose",
    "junie": "junie",
    "kiro": "kiro",
    "openclaw": "openclaw",
    "replit": "replit",
    "devin": "devin",
}

# Variables of an IDE's integrated terminal: (variable, required value or None, coder).
_IDE_VARIABLES: tuple[tuple[str, str | None, str], ...] = (
    ("CURSOR_TRACE_ID", None, "cursor"),
    ("TERM_PROGRAM", "windsurf", "windsurf"),
)

# Executable names of the assistants' command-line programs and apps.
_PROCESS_NAMES: Mapping[str, str] = {
    "claude": "claude-code",
    "codex": "codex",
    "gemini": "gemini-cli",
    "aider": "aider",
    "copilot": "copilot",
    "auggie": "augment",
    "cline": "cline",
    "cursor": "cursor",
    "cursor-agent": "cursor",
    "windsurf": "windsurf",
    "opencode": "opencode",
    "goose": "goose",
    "kimi": "kimi",
    "openclaw": "openclaw",
}

# Interpreters whose first non-option argument is the program actually running.
_INTERPRETERS = ("node", "nodejs", "bun", "deno", "python")

# Files and directories an assistant reads from a project, in the order of CODERS.
_PROJECT_MARKERS: tuple[tuple[str, str], ...] = (
    (".github/copilot-instructions.md", "copilot"),
    (".github/workflows/copilot-setup-steps.yml", "copilot"),
    (".clinerules", "cline"),
    (".cline", "cline"),
    (".augment", "augment"),
    (".augment-guidelines", "augment"),
    ("CLAUDE.md", "claude-code"),
    (".claude", "claude-code"),
    (".cursor", "cursor"),
    (".cursorrules", "cursor"),
    (".codex", "codex"),
    ("GEMINI.md", "gemini-cli"),
    (".gemini", "gemini-cli"),
    (".aider.conf.yml", "aider"),
    (".windsurf", "windsurf"),
    (".windsurfrules", "windsurf"),
)

# Files and directories an assistant keeps in the user's home directory.
_HOME_MARKERS: tuple[tuple[str, str], ...] = (
    (".copilot", "copilot"),
    (".cline", "cline"),
    ("Documents/Cline", "cline"),
    (".augment", "augment"),
    (".claude", "claude-code"),
    (".cursor", "cursor"),
    (".codex", "codex"),
    (".gemini", "gemini-cli"),
    (".aider.conf.yml", "aider"),
    (".codeium/windsurf", "windsurf"),
)

# GitHub Models' free models in the catalog, best first; used under Copilot with a token.
_GITHUB_MODELS_POOL: tuple[str, ...] = ("github-gpt-4.1", "github-gpt-4o-mini")


@dataclass(frozen=True, slots=True)
class CoderDetection:
    """The coding assistant found, the signal that named it, and the kind of signal.

    ``coder`` is one of ``CODERS``; ``signal`` says in words what was found (for example
    ``"environment variable CLAUDECODE=1"``); ``source`` is ``"explicit"``,
    ``"environment"``, ``"process"``, ``"config"`` or ``"none"``.
    """

    coder: str
    signal: str
    source: CoderSource


@dataclass(frozen=True, slots=True)
class CoderDefaults:
    """Defaults that follow from the detected assistant.

    ``preferred_free_models`` are catalog aliases to try before the other free models.
    """

    preferred_free_models: tuple[str, ...] = ()


def detect_coder(
    explicit: str | None = _AUTO,
    *,
    environ: Mapping[str, str] | None = None,
    process_names: Sequence[str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> CoderDetection:
    """Tell which AI coding assistant runs this code.

    ``explicit`` (case-insensitive) is one of ``CODERS``, or ``"auto"``/``None`` to detect;
    any other value raises ``ValueError`` listing the valid choices, and so does an invalid
    ``TTA_CODER``. ``environ``, ``process_names`` (nearest ancestor first), ``cwd`` and
    ``home`` replace the real environment, process tree and directories, for tests.
    Detection reads only; it never raises on what it finds (or cannot read).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    choice = _choice(explicit, "coder")
    if choice != _AUTO:
        return CoderDetection(choice, f"explicit coder={choice!r}", "explicit")
    override = env.get(_OVERRIDE_VARIABLE, "").strip()
    choice = _choice(override, _OVERRIDE_VARIABLE) if override else _AUTO
    if choice != _AUTO:
        return CoderDetection(
            choice, f"environment variable {_OVERRIDE_VARIABLE}={override}", "explicit"
        )
    found = _from_agent_variables(env)
    if found is None:
        names = _ancestor_process_names() if process_names is None else process_names
        found = _from_process_names(names)
    if found is None:
        found = _from_ide_variables(env)
    if found is not None:
        return found
    return _from_config(cwd, home)


def coder_defaults(
    detection: CoderDetection, environ: Mapping[str, str] | None = None
) -> CoderDefaults:
    """The defaults for ``detection``'s assistant, given the environment (``os.environ``).

    Under Copilot with ``GITHUB_TOKEN`` set, GitHub Models' free models come first:
    ``("github-gpt-4.1", "github-gpt-4o-mini")``. Otherwise there is no preference.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    if detection.coder == "copilot" and env.get("GITHUB_TOKEN", "").strip():
        return CoderDefaults(preferred_free_models=_GITHUB_MODELS_POOL)
    return CoderDefaults()


def _choice(value: str | None, origin: str) -> str:
    choice = _AUTO if value is None else value.strip().lower()
    if choice == _AUTO or choice in CODERS:
        return choice
    raise ValueError(
        f"unknown coder {value!r} (from {origin}); valid choices: {', '.join((_AUTO, *CODERS))}"
    )


def _is_set(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in _FALSE_VALUES


def _shown(value: str) -> str:
    value = value.strip()
    return value if len(value) <= _MAX_SHOWN_VALUE else value[: _MAX_SHOWN_VALUE - 1] + "…"


def _from_agent_variables(env: Mapping[str, str]) -> CoderDetection | None:
    for rule in agent_rules():
        if rule.weak:
            break  # the weak ones come last: IDE terminals, tried after process names
        signal = match_rule(rule.condition, env)
        if signal is not None:
            return CoderDetection(rule.coder, signal, "environment")
    generic = env.get("AI_AGENT")
    if generic is not None and _is_set(generic):
        words = "".join(c if c.isalnum() else " " for c in generic.lower()).split()
        for word in words:
            if word in _AI_AGENT_WORDS:
                return CoderDetection(
                    _AI_AGENT_WORDS[word],
                    f"environment variable AI_AGENT={_shown(generic)}",
                    "environment",
                )
    return None


def _from_ide_variables(env: Mapping[str, str]) -> CoderDetection | None:
    for rule in agent_rules():
        signal = match_rule(rule.condition, env) if rule.weak else None
        if signal is not None:
            return CoderDetection(rule.coder, f"{signal} (IDE terminal, weak)", "environment")
    for variable, wanted, coder in _IDE_VARIABLES:
        value = env.get(variable)
        if value is None or not _is_set(value):
            continue
        if wanted is None or value.strip().lower() == wanted:
            return CoderDetection(
                coder,
                f"environment variable {variable}={_shown(value)} (IDE terminal, weak)",
                "environment",
            )
    return None


def _process_coder(name: str) -> str | None:
    base = name.strip().replace("\\", "/").rsplit("/", 1)[-1].lower()
    for suffix in (".exe", ".cmd", ".mjs", ".js"):
        base = base.removesuffix(suffix)
    return _PROCESS_NAMES.get(base)


def _from_process_names(names: Iterable[str]) -> CoderDetection | None:
    for name in names:
        coder = _process_coder(name)
        if coder is not None:
            return CoderDetection(coder, f"ancestor process {name.strip()!r}", "process")
    return None


def _read_names(proc_dir: Path) -> list[str]:
    """The names one process goes by: its ``comm``, and its program from ``cmdline``."""
    names: list[str] = []
    with contextlib.suppress(OSError):
        names.append((proc_dir / "comm").read_text(errors="replace").strip())
    try:
        argv = [
            a.decode(errors="replace") for a in (proc_dir / "cmdline").read_bytes().split(b"\0")
        ]
    except OSError:
        argv = []
    argv = [a for a in argv if a]
    if argv:
        program = argv[0].rsplit("/", 1)[-1]
        names.append(program)
        if program.lower().startswith(_INTERPRETERS):
            script = next((a for a in argv[1:] if not a.startswith("-")), None)
            if script is not None:
                names.append(script.rsplit("/", 1)[-1])
    return [n for n in dict.fromkeys(names) if n]


def _parent_pid(proc_dir: Path) -> int:
    stat = (proc_dir / "stat").read_text(errors="replace")
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return int(stat[stat.rindex(")") + 1 :].split()[1])


def _ancestor_process_names(
    proc_root: Path | None = None,
    start_pid: int | None = None,
    max_depth: int = _MAX_PROCESS_DEPTH,
) -> tuple[str, ...]:
    """Names of this process's ancestors, nearest first; ``()`` where ``/proc`` is absent.

    ``proc_root`` defaults to ``/proc``. Best effort: stops at pid 1, at ``max_depth``
    ancestors, or at the first process it cannot read, and never raises.
    """
    from pathlib import Path  # here and below, not at the top: pathlib costs ~2.5 ms

    proc_root = Path("/proc") if proc_root is None else proc_root
    names: list[str] = []
    try:
        pid = os.getppid() if start_pid is None else start_pid
        seen: set[int] = set()
        for _ in range(max_depth):
            if pid <= 0 or pid in seen:
                break
            seen.add(pid)
            proc_dir = proc_root / str(pid)
            if not proc_dir.is_dir():
                break
            names.extend(_read_names(proc_dir))
            if pid == 1:
                break
            pid = _parent_pid(proc_dir)
    except Exception:  # best effort: a vanished process or an odd /proc ends the walk
        pass
    return tuple(names)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _project_directories(cwd: Path, home: Path | None) -> list[Path]:
    """The working directory and its parents up to the git root (only cwd if none)."""
    chain = [cwd, *cwd.parents][:_MAX_DIRECTORY_DEPTH]
    directories = [cwd]
    for index, directory in enumerate(chain):
        if _exists(directory / ".git"):
            directories = chain[: index + 1]
            break
    return [d for d in directories if d != home]


def _from_config(cwd: Path | None, home: Path | None) -> CoderDetection:
    from pathlib import Path

    try:
        here = (Path.cwd() if cwd is None else cwd).resolve()
    except OSError:
        here = None
    try:
        home_dir: Path | None = (Path.home() if home is None else home).resolve()
    except (OSError, RuntimeError, KeyError):
        home_dir = None
    if here is not None:
        for directory in _project_directories(here, home_dir):
            found = [(m, c) for m, c in _PROJECT_MARKERS if _exists(directory / m)]
            if found:
                marker, coder = found[0]
                others = sorted({c for _, c in found} - {coder})
                also = f" (also found files of: {', '.join(others)})" if others else ""
                return CoderDetection(
                    coder, f"project file {marker} in {directory}{also}", "config"
                )
    if home_dir is not None:
        found = [(m, c) for m, c in _HOME_MARKERS if _exists(home_dir / m)]
        coders = sorted({c for _, c in found})
        if len(coders) == 1:
            marker, coder = found[0]
            return CoderDetection(coder, f"home file ~/{marker}", "config")
        if coders:
            return CoderDetection(
                "none",
                f"no signal (the home directory holds files of several: {', '.join(coders)})",
                "none",
            )
    return CoderDetection("none", "no environment, process or config signal", "none")
