"""Scan what a commit would add for secrets, with detect-secrets' default plugins.

Each staged file is written from the index into a private temporary tree and
scanned with ``detect_secrets.core.scan.scan_file`` (its filters and
transformers apply as in ``detect-secrets scan``); a hit counts only on a line
the commit adds. detect-secrets keeps its settings in process-global state, so
scans are serialised by a lock and run in a worker thread.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from tta_dev_integrations.git.errors import SecretFinding
from tta_dev_integrations.git.runner import GitRunner
from tta_dev_integrations.git.staging import StagedFile

__all__ = ["added_lines", "scan_staged", "scan_tree"]

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
_SETTINGS_LOCK = threading.Lock()


def added_lines(unified_zero_diff: str) -> set[int]:
    """Line numbers (in the new file) that a ``-U0`` diff adds."""
    lines: set[int] = set()
    for match in _HUNK.finditer(unified_zero_diff):
        start = int(match.group(1))
        count = int(match.group(2)) if match.group(2) is not None else 1
        lines.update(range(start, start + count))
    return lines


async def scan_staged(runner: GitRunner, files: Sequence[StagedFile]) -> list[SecretFinding]:
    """Findings on the lines the staged changes add, sorted by file and line."""
    wanted: dict[str, set[int]] = {}
    with tempfile.TemporaryDirectory(prefix="tta-git-scan-") as tmp:
        root = Path(tmp)
        for staged in files:
            if staged.binary or staged.added == 0 or staged.status == "D":
                continue
            diff = await runner.text(
                "--literal-pathspecs", "diff", "--cached", "-U0", "--no-color",
                "--no-ext-diff", "--no-renames", "--", staged.path,
            )  # fmt: skip
            lines = added_lines(diff)
            if not lines:
                continue
            blob = await runner.run("cat-file", "blob", f":0:{staged.path}")
            if staged.path.startswith("/") or ".." in PurePosixPath(staged.path).parts:
                continue  # cannot come from git's index; never write outside the tree
            target = root / staged.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(blob.stdout, encoding="utf-8")
            wanted[staged.path] = lines
        if not wanted:
            return []
        return await asyncio.to_thread(scan_tree, root, wanted)


def scan_tree(root: Path, wanted: dict[str, set[int]]) -> list[SecretFinding]:
    """Scan ``root/<path>`` for each path in ``wanted``; keep hits on its listed lines."""
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    findings: set[SecretFinding] = set()
    with _SETTINGS_LOCK, default_settings():
        for path, lines in wanted.items():
            for secret in scan_file(str(root / path)):
                line = int(secret.line_number)
                if line in lines:
                    findings.add(SecretFinding(path=path, line=line, detector=str(secret.type)))
    return sorted(findings, key=_order)


def _order(finding: SecretFinding) -> tuple[str, int, str]:
    return (finding.path, finding.line, finding.detector)
