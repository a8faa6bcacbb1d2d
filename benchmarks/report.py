"""How every ratio benchmark ends a run: the targets met, and the figures as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from time import perf_counter
from typing import Any, Protocol


class Measured(Protocol):
    """What a benchmark result needs for the summary: its key and whether it passed."""

    key: str
    passed: bool | None


def finish_run(
    results: Sequence[Measured],
    *,
    started: float,
    settings: Any,
    info: Mapping[str, Any],
    quick: bool,
    json_path: Path | None,
    statistic: str = "min",
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Print how many targets were met and the run's time; write the JSON report if asked."""
    elapsed = perf_counter() - started
    targeted = [r for r in results if r.passed is not None]
    print(
        f"\n{sum(bool(r.passed) for r in targeted)} of {len(targeted)} targets met; "
        f"run took {elapsed:.1f} s"
    )
    if json_path is None:
        return
    report = {
        "date": date.today().isoformat(),
        "mode": "quick" if quick else "full",
        "statistic": statistic,
        "settings": asdict(settings),
        "machine": dict(info),
        "seconds": elapsed,
        "measurements": {r.key: asdict(r) for r in results},
        **(extra or {}),
    }
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
