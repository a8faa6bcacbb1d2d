"""How every ratio benchmark starts and ends a run: its options, the targets met, the JSON."""

from __future__ import annotations

import argparse
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


def benchmark_arguments(doc: str | None) -> argparse.ArgumentParser:
    """A parser with the options every benchmark takes, ``--quick`` and ``--json FILE``.

    Its description is the first line of ``doc`` (the benchmark's module docstring).
    """
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (rough figures)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    return parser


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
