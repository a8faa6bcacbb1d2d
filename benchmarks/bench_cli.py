"""How fast the ``tta`` command answers, and how long the main job takes.

1. ``tta --help``: the wall time of a fresh process, median of ``--runs`` (target
   < 300 ms), against the baseline of a bare ``python -c pass`` measured in the same
   run, so the ratio says what the command adds to the interpreter's own start-up.
2. ``tta demo`` on the shipped backlog with the local model (target < 60 s), one run
   in a scratch ``TTA_HOME`` (skipped with ``--quick``).

Usage: ``python benchmarks/bench_cli.py [--quick] [--runs N] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine

HELP_TARGET_S = 0.300
DEMO_TARGET_S = 60.0


def wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def median_wall(command: list[str], env: dict[str, str], runs: int) -> float:
    wall(command, env)  # warm the page cache
    return statistics.median(wall(command, env) for _ in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the demo run")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TTA_HOME": home, "OTEL_TRACES_EXPORTER": "none"}
        baseline = median_wall([python, "-c", "pass"], env, args.runs)
        tta_help = median_wall([python, "-m", "tta_cli.app", "--help"], env, args.runs)
        results = {
            "python_startup_s": round(baseline, 4),
            "tta_help_s": round(tta_help, 4),
            "tta_help_over_python": round(tta_help / baseline, 2),
            "tta_help_met": tta_help < HELP_TARGET_S,
        }
        if not args.quick:
            demo = wall([python, "-m", "tta_cli.app", "demo"], {**env, "COLUMNS": "100"})
            results |= {"tta_demo_s": round(demo, 2), "tta_demo_met": demo < DEMO_TARGET_S}
    print(json.dumps(describe_machine()))
    print(
        f"tta --help      {tta_help * 1000:7.1f} ms  (python -c pass {baseline * 1000:.1f} ms;"
        f" x{results['tta_help_over_python']})  target < 300 ms:"
        f" {'met' if results['tta_help_met'] else 'MISSED'}"
    )
    if "tta_demo_s" in results:
        print(
            f"tta demo        {results['tta_demo_s']:7.1f} s   target < 60 s:"
            f" {'met' if results['tta_demo_met'] else 'MISSED'}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
