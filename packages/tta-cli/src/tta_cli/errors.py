"""The one error type commands raise to stop with a readable line and exit code 1."""

from __future__ import annotations

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "CLIError"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """A failure the user can act on: printed as one line (no traceback), exit code 1.

    ``hint`` says how to fix it; it is printed after the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} ({self.hint})" if self.hint else message
