"""The errors commands raise to stop with a readable message, and the exit-code scheme.

Every command exits with one of: 0 success, 1 runtime failure (:class:`CLIError`),
2 usage error (a bad flag or argument: click's own errors and :class:`CLIUsageError`),
130 interrupted (Ctrl-C).

Errors raised by the libraries speak of Python parameters (``pass repo=``) and of
sub-exceptions a terminal never shows; :meth:`CLIError.from_error` rewords them with
the CLI's flags and lists the sub-errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PARAMETER_FLAGS",
    "CLIError",
    "CLIUsageError",
    "cli_wording",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Python parameters of the libraries, and the CLI flag that sets each.
PARAMETER_FLAGS: Mapping[str, str] = {
    "repo": "-C/--repo",
    "allow_protected": "--allow-protected",
    "base": "--base",
    "prefix": "--prefix",
    "monthly_limit": "--monthly-limit",
    "budget_profile": "--profile",
    "scope": "--scope",
}

_PASS_PARAMETER = re.compile(r"\bpass (\w+)=(?:True\b|\.\.\.)?")
_SEE_SUB_EXCEPTIONS = re.compile(r";? ?see the sub-exceptions(?: for each cause)?")
_MAX_SUB_ERRORS = 10


def cli_wording(text: str, flags: Mapping[str, str] = PARAMETER_FLAGS) -> str:
    """``text`` with every ``pass NAME=`` that has a CLI flag reworded as ``pass --flag``."""

    def flag(match: re.Match[str]) -> str:
        name = match[1]
        return f"pass {flags[name]}" if name in flags else match[0]

    return _PASS_PARAMETER.sub(flag, text)


def _sub_errors(error: BaseException) -> list[str]:
    if not isinstance(error, BaseExceptionGroup):
        return []
    lines = [f"  - {type(sub).__name__}: {cli_wording(str(sub))}" for sub in error.exceptions]
    if len(lines) > _MAX_SUB_ERRORS:
        lines = [*lines[:_MAX_SUB_ERRORS], f"  ... {len(lines) - _MAX_SUB_ERRORS} more"]
    return lines


class CLIError(Exception):
    """A failure the user can act on: printed without a traceback, exit code 1.

    ``hint`` says how to fix it; it is printed after the message.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        first, newline, rest = message.partition("\n")
        if self.hint:
            first = f"{first} ({self.hint})"
        return first + newline + rest

    @classmethod
    def from_error(cls, error: BaseException, *, hint: str | None = None) -> CLIError:
        """``error`` in the CLI's words: flags for parameters, its sub-errors listed below."""
        if isinstance(error, BaseExceptionGroup):
            # str() of a group adds "(2 sub-exceptions)"; its own message is the sentence.
            message = _SEE_SUB_EXCEPTIONS.sub("", cli_wording(error.message))
            message += "\n" + "\n".join(_sub_errors(error))
        else:
            message = cli_wording(str(error))
        return cls(message, hint=cli_wording(hint) if hint else None)


class CLIUsageError(CLIError):
    """The command line itself is wrong (flags that do not go together): exit code 2."""

    exit_code = EXIT_USAGE
