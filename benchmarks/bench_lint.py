"""How long `tta lint` takes over the whole project (target: under 2 s).

Three figures, each the best of several runs:

* in-process: ``lint_paths`` over packages/, examples/ and benchmarks/ with the
  project's configuration (discovery, reading, parsing, every rule, suppressions);
* the baseline measured in the same run: reading and ``ast.parse`` of the same files,
  the least any AST-based checker must do; the ratio says what the rules cost on top;
* a fresh ``python -m tta_lint`` process over the same paths: what a user or the
  pre-commit hook waits for, interpreter start-up included. The target applies here.

Run: .venv/bin/python benchmarks/bench_lint.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from machine import describe_machine
from tta_lint import LintConfig, lint_paths, parse_config
from tta_lint.engine import discover

ROOT = Path(__file__).resolve().parents[1]
PATHS = [ROOT / "packages", ROOT / "examples", ROOT / "benchmarks"]
SNIPPET = ROOT / "packages" / "tta-lint" / "tests" / "project-lint.toml"
TARGET_S = 2.0


def project_config() -> tuple[LintConfig, Path]:
    """The root pyproject's [tool.tta.lint], or the package's copy of it until pasted."""
    for source in (ROOT / "pyproject.toml", SNIPPET):
        data = tomllib.loads(source.read_text(encoding="utf-8"))
        table = data.get("tool", {}).get("tta", {}).get("lint")
        if table is not None:
            return parse_config(table, root=ROOT, source=source), source
    raise SystemExit("no [tool.tta.lint] table found")


def parse_only(files: list[Path]) -> int:
    nodes = 0
    for path in files:
        tree = ast.parse(path.read_bytes().decode("utf-8-sig"), str(path))
        nodes += len(tree.body)
    return nodes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, rougher figures")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    runs = 2 if args.quick else 7
    config, source = project_config()
    files = discover(PATHS, config)
    lines = sum(len(p.read_bytes().splitlines()) for p in files)

    lint_paths(PATHS, config)  # warm the OS file cache and the imports
    ours = baseline = float("inf")
    findings = 0
    for _ in range(runs):  # alternate, so drift hits both
        start = time.perf_counter()
        findings = len(lint_paths(PATHS, config).findings)
        ours = min(ours, time.perf_counter() - start)
        start = time.perf_counter()
        parse_only(files)
        baseline = min(baseline, time.perf_counter() - start)

    command = [sys.executable, "-m", "tta_lint", "--config", str(source), *map(str, PATHS)]
    startup = [sys.executable, "-c", "pass"]
    process = python = float("inf")
    for _ in range(max(runs // 2, 2)):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
        process = min(process, time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run(startup, capture_output=True, check=True)
        python = min(python, time.perf_counter() - start)

    rows = [
        ("lint in-process", ours, f"{ours / baseline:.2f}x read+ast.parse ({baseline:.3f} s)"),
        ("`python -m tta_lint` process", process, f"python start-up alone {python:.3f} s"),
    ]
    print(f"{len(files)} files, {lines} lines, {findings} findings (config: {source.name})")
    print(f"{'measurement':<32}{'seconds':>9}  context")
    for label, seconds, context in rows:
        print(f"{label:<32}{seconds:>9.3f}  {context}")
    passed = process < TARGET_S
    print(f"target: whole project under {TARGET_S:.0f} s -> {'PASS' if passed else 'MISS'}")
    if args.json:
        figures = {
            "mode": "quick" if args.quick else "full",
            "machine": describe_machine(),
            "files": len(files),
            "lines": lines,
            "findings": findings,
            "lint_in_process_s": ours,
            "parse_baseline_s": baseline,
            "ratio_to_parse": ours / baseline,
            "process_s": process,
            "python_startup_s": python,
            "target_s": TARGET_S,
            "passed": passed,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
