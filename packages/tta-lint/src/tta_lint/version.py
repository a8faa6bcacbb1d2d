"""tta-lint's version: the installed distribution's, or the source tree's pyproject."""

from __future__ import annotations

__all__ = ["package_version"]


def package_version() -> str:
    """The version of tta-lint that is running.

    Installed, it is the distribution's metadata; run from a clone without installing
    (the pre-commit hook puts ``src`` on ``PYTHONPATH``), it is read from the
    ``pyproject.toml`` beside the sources, so the version has one source either way.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tta-lint")
    except PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"
    return str(project.get("version", "unknown"))
