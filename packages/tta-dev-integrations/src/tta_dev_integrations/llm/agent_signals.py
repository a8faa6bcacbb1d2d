"""The environment signals of AI coding agents, from the ``detect-agent`` package's table.

``detect-agent`` (a port of Vercel's package) keeps ``agents.json``: about twenty agents,
each with the variables (or marker file) that its shells carry. Its own entry point,
``determine_agent()``, reads ``os.environ`` and answers with the table's first match;
here the same table is evaluated against any mapping (tests pass their own), with TTA's
rules on top:

- a variable set to a false value (``0``, ``false``, ``no``, ``off``, empty) does not
  count;
- terminal agents are tried before IDE agents (a terminal agent started from an IDE's
  terminal inherits that IDE's variables, rarely the reverse), and an IDE's terminal
  variable (Cursor's ``CURSOR_TRACE_ID``) is a weak signal, tried after process names;
- a few variables the table does not list yet (``CLAUDE_CODE_CHILD_SESSION``,
  ``COPILOT_CLI``, ``COPILOT_AGENT_SESSION_ID``) are added, and the same rules serve if
  the table cannot be read;
- the signal names the variable (or file) that matched.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, NamedTuple

__all__ = ["AgentRule", "agent_rules", "match_rule"]

logger = logging.getLogger(__name__)

_FALSE_VALUES = frozenset({"", "0", "false", "no", "off"})
_MAX_SHOWN_VALUE = 40

#: detect-agent's keys and the coder TTA calls each.
_CODER_OF_KEY: Mapping[str, str] = {
    "CLAUDE": "claude-code",
    "COWORK": "claude-code",  # Claude Cowork: Claude Code's agent inside the desktop app
    "CODEX": "codex",
    "GEMINI": "gemini-cli",
    "GITHUB_COPILOT": "copilot",
    "AUGMENT_CLI": "augment",
    "CURSOR_CLI": "cursor",
    "CURSOR": "cursor",
    "CLINE": "cline",
    "KIMI": "kimi",
    "GROK": "grok",
    "ANTIGRAVITY": "antigravity",
    "OPENCODE": "opencode",
    "GOOSE": "goose",
    "JUNIE": "junie",
    "PI": "pi",
    "KIRO": "kiro",
    "OPENCLAW": "openclaw",
    "REPLIT": "replit",
    "DEVIN": "devin",
}

#: Entries that say which IDE opened the terminal, not which agent runs in it.
_IDE_KEYS = frozenset({"CURSOR"})

#: Coders tried first, in this order (terminal agents); the rest keep the table's order.
_FIRST = ("claude-code", "codex", "gemini-cli", "copilot", "augment", "cursor", "cline")

#: Variables TTA knows that the table does not (yet) list.
_OWN_RULES: tuple[tuple[str, str], ...] = (
    ("CLAUDECODE", "claude-code"),
    ("CLAUDE_CODE_CHILD_SESSION", "claude-code"),
    ("CODEX_SANDBOX", "codex"),
    ("CODEX_SANDBOX_NETWORK_DISABLED", "codex"),
    ("CODEX_THREAD_ID", "codex"),
    ("GEMINI_CLI", "gemini-cli"),
    ("COPILOT_CLI", "copilot"),
    ("COPILOT_AGENT_SESSION_ID", "copilot"),
    ("AUGMENT_AGENT", "augment"),
    ("CURSOR_AGENT", "cursor"),
    ("CLINE_ACTIVE", "cline"),
)


class AgentRule(NamedTuple):
    """One way to recognise an agent: its coder, a condition tree, and whether it is weak."""

    coder: str
    condition: Mapping[str, Any]
    weak: bool = False
    origin: str = "tta"


@cache
def _table() -> tuple[dict[str, Any], ...]:
    try:
        from importlib.resources import files

        text = (files("detect_agent") / "agents.json").read_text(encoding="utf-8")
        agents = json.loads(text)["agents"]
        return tuple(a for a in agents if isinstance(a, dict) and "key" in a and "match" in a)
    except (ImportError, OSError, ValueError, KeyError, TypeError) as error:
        logger.warning(
            "coder detection: detect-agent's agent table is unavailable (%s: %s); using "
            "TTA.dev's own variables only (pip install 'detect-agent>=0.6')",
            type(error).__name__,
            error,
        )
        return ()


@cache
def agent_rules() -> tuple[AgentRule, ...]:
    """Every rule, strongest first: terminal agents, then the others, IDE ones last."""
    rules = [
        AgentRule(
            _CODER_OF_KEY[str(agent["key"])],
            agent["match"],
            weak=str(agent["key"]) in _IDE_KEYS,
            origin=f"detect-agent {agent.get('name', agent['key'])}",
        )
        for agent in _table()
        if str(agent["key"]) in _CODER_OF_KEY and isinstance(agent["match"], dict)
    ]
    rules += [AgentRule(c, {"type": "env_set", "name": v}) for v, c in _OWN_RULES]

    def rank(rule: AgentRule) -> tuple[int, int]:
        first = _FIRST.index(rule.coder) if rule.coder in _FIRST else len(_FIRST)
        return (rule.weak, first)

    return tuple(sorted(rules, key=rank))  # sorted() is stable: the table's order stays


def _is_set(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in _FALSE_VALUES


def _shown(value: str) -> str:
    value = value.strip()
    return value if len(value) <= _MAX_SHOWN_VALUE else value[: _MAX_SHOWN_VALUE - 1] + "…"


def _is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _path_exists(path: str) -> bool:
    from pathlib import Path  # here, not at the top: pathlib costs ~2.5 ms to import

    try:
        return Path(path).exists()
    except OSError:
        return False


def match_rule(
    condition: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    path_exists: Callable[[str], bool] = _path_exists,
    is_tty: Callable[[], bool] = _is_tty,
) -> str | None:
    """What made ``condition`` true (``"environment variable X=1"``), or ``None``.

    Condition types are detect-agent's: ``env_set``, ``env_value``, ``env_matches``,
    ``file_exists``, ``no_tty``, ``anyOf`` and ``allOf``; an unknown type is false.
    """
    kind = condition.get("type")
    if kind not in ("anyOf", "allOf"):
        return _leaf(condition, env, path_exists, is_tty)
    parts: Sequence[Mapping[str, Any]] = condition.get("conditions") or ()
    reasons = []
    for part in parts:
        reason = match_rule(part, env, path_exists=path_exists, is_tty=is_tty)
        if kind == "anyOf" and reason is not None:
            return reason
        if kind == "allOf" and reason is None:
            return None
        reasons.append(reason)
    return " and ".join(r for r in reasons if r) if kind == "allOf" and reasons else None


def _leaf(
    condition: Mapping[str, Any],
    env: Mapping[str, str],
    path_exists: Callable[[str], bool],
    is_tty: Callable[[], bool],
) -> str | None:
    kind = condition.get("type")
    if kind == "file_exists":
        path = str(condition.get("path", ""))
        return f"file {path}" if path and path_exists(path) else None
    if kind == "no_tty":
        return None if is_tty() else "no terminal on stdout"
    name = str(condition.get("name", ""))
    value = env.get(name) if name else None
    if value is None or not _is_set(value):
        return None
    if kind == "env_value" and value != str(condition.get("value", "")):
        return None
    if kind == "env_matches":
        try:
            if re.search(str(condition.get("pattern", "")), value) is None:
                return None
        except re.error:
            return None
    elif kind not in ("env_set", "env_value"):
        return None
    return f"environment variable {name}={_shown(value)}"
