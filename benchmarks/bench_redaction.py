"""What scrubbing fragments costs: ``tta_secrets.scrub`` against whole-value scrubbing.

Five credentials are registered (OpenAI, Anthropic and Gemini keys, a Vault token, a
DSN with a password). ``scrub`` replaces each in every form *and* any prefix or suffix
of 8+ characters of it. The baseline, built in the same run from the same forms, is
what scrubbing was before fragments: one regular expression of the whole forms,
``pattern.sub``. Both scan the same texts:

* ``error``: a 500-character error body with no secret (the common error path);
* ``error+key``: the same body with a key echoed in it;
* ``span-10k``: a 10 KB span attribute with no secret (span export, the largest load).

Each figure is the best of several timed loops; the ratio is ours over the baseline.

Run: .venv/bin/python benchmarks/bench_redaction.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from machine import describe_machine
from tta_secrets import redaction

TARGET_RATIO = 3.0
KEYS = [
    "sk-proj-" + "Zx9Qm2Lp7Vb4Nc8Hd3Kf6Tw1Ry5aB0cDeF2gH4jK6mN8pQ1",
    "sk-ant-api03-" + "Tw1Ry5aB0cDeF2gH4jK6mN8pQ1Zx9Qm2Lp7Vb4Nc8Hd3Kf6" * 2,
    "AIzaSyZx9Qm2Lp7Vb4Nc8Hd3Kf6Tw1Ry5aB0c",
    "hvs.CAESIJx9Qm2Lp7Vb4Nc8Hd3Kf6Tw1Ry5aB0cDeF2gH4jK6mN8pQ1Gh4KHGh2cy5",
    "postgresql://app:Vx7-long-Password-42@db.internal:5432/prod",
]
BODY = (
    '{"error": {"message": "The model `gpt-4o` does not exist or you do not have access '
    'to it. Check the model name and your organization settings.", "type": '
    '"invalid_request_error", "param": null, "code": "model_not_found"}} '
)
TEXTS = {
    "error": (BODY * 3)[:500],
    "error+key": (BODY * 3)[:200] + KEYS[0] + (BODY * 3)[:250],
    "span-10k": ("lorem ipsum dolor sit amet, 0123456789 consectetur " * 200)[:10_000],
}


def best_of(function: Callable[[], object], runs: int, loops: int) -> float:
    """Seconds per call, the best of ``runs`` loops of ``loops`` calls."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            function()
        best = min(best, (time.perf_counter() - start) / loops)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, rougher figures")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    runs, loops = (3, 200) if args.quick else (9, 2000)

    redaction.clear_registered_secrets()
    for key in KEYS:
        redaction.register_secret(key)
    forms = sorted(
        {form for key in KEYS for form in redaction._forms(key)}, key=lambda f: (-len(f), f)
    )
    whole = re.compile("|".join(map(re.escape, forms)))

    rows = []
    for name, text in TEXTS.items():
        # Sanity: both remove the key where there is one and leave clean text alone.
        assert redaction.scrub(text) == whole.sub(redaction.REDACTED, text), name
        ours = best_of(lambda text=text: redaction.scrub(text), runs, loops)
        baseline = best_of(lambda text=text: whole.sub(redaction.REDACTED, text), runs, loops)
        rows.append((name, len(text), ours, baseline, ours / baseline))

    print(f"{'text':<12}{'chars':>7}{'scrub us':>11}{'whole-only us':>15}{'ratio':>8}")
    for name, chars, ours, baseline, ratio in rows:
        print(f"{name:<12}{chars:>7}{ours * 1e6:>11.2f}{baseline * 1e6:>15.2f}{ratio:>7.2f}x")
    worst = max(row[4] for row in rows)
    passed = worst <= TARGET_RATIO
    verdict = "PASS" if passed else "MISS"
    print(f"target: at most {TARGET_RATIO:.1f}x the whole-value scan -> {verdict}")
    if args.json:
        figures = {
            "mode": "quick" if args.quick else "full",
            "machine": describe_machine(),
            "rows": [
                {"text": n, "chars": c, "scrub_s": o, "baseline_s": b, "ratio": r}
                for n, c, o, b, r in rows
            ],
            "target_ratio": TARGET_RATIO,
            "passed": passed,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    redaction.clear_registered_secrets()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
