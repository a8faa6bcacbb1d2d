"""``TTA_HOME``, checked before a command relies on it.

The ledger, the journal of writes an outage held back and the span file live under
``TTA_HOME`` (default ``~/.tta``). A command that needs them refuses at once, in one
line, when that place cannot hold them, instead of running and warning at every call.
"""

from __future__ import annotations

import os
from pathlib import Path

from tta_cli.errors import CLIError

__all__ = ["check_tta_home"]


def check_tta_home() -> Path:
    """The ``TTA_HOME`` folder, or :class:`CLIError` saying what is wrong with it.

    Nothing is created here: a folder that does not exist yet is created on first use,
    as long as a folder can be made there.
    """
    from tta_dev_integrations.llm.budget.sqlite_file import default_ledger_path

    home = default_ledger_path().parent
    where = "TTA_HOME" if os.environ.get("TTA_HOME") else "the default TTA_HOME (~/.tta)"
    for candidate in (home, *home.parents):
        if not candidate.exists():
            continue
        if not candidate.is_dir():
            what = "is a file" if candidate == home else f"is under {candidate}, a file"
            raise CLIError(
                f"{where} {home} {what}, not a directory: the spend ledger and traces "
                "cannot be kept there",
                hint="set TTA_HOME to a directory, e.g. export TTA_HOME=~/.tta",
            )
        if not os.access(candidate, os.W_OK | os.X_OK):
            raise CLIError(
                f"{where} {home} cannot be written ({candidate} is not writable by this user)",
                hint="set TTA_HOME to a directory you can write",
            )
        break
    return home
