"""The backlog ``tta demo`` triages: the one shipped with the package, or ``--tasks FILE``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["MAX_TASKS", "BacklogError", "Task", "load_backlog"]

MAX_TASKS = 50
_MAX_TEXT = 4000


class BacklogError(ValueError):
    """The tasks file cannot be used; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class Task:
    """One coding task: a short id, a title and a free-text body."""

    id: str
    title: str
    body: str

    @property
    def text(self) -> str:
        """Title and body, as the model and the complexity estimate read them."""
        return f"{self.title}. {self.body}"


def _task(index: int, raw: object) -> Task:
    where = f"task #{index + 1}"
    if not isinstance(raw, dict):
        raise BacklogError(f"{where} is a {type(raw).__name__}; each task is an object")
    missing = [key for key in ("title",) if not isinstance(raw.get(key), str) or not raw[key]]
    if missing:
        raise BacklogError(f"{where} has no 'title' (a non-empty string)")
    body = raw.get("body", "")
    if not isinstance(body, str):
        raise BacklogError(f"{where}: 'body' must be a string")
    task_id = str(raw.get("id") or f"T{index + 1}")
    if len(task_id) > 12 or not task_id.isprintable():
        raise BacklogError(f"{where}: 'id' must be at most 12 printable characters")
    return Task(task_id, raw["title"].strip()[:200], body.strip()[:_MAX_TEXT])


def load_backlog(path: Path | None = None) -> list[Task]:
    """The tasks of ``path`` (a JSON list of ``{"id", "title", "body"}``), or the shipped ones."""
    if path is None:
        text = resources.files("tta_cli.demo").joinpath("backlog.json").read_text("utf-8")
        origin = "the shipped backlog"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise BacklogError(f"cannot read {path}: {error.strerror or error}") from None
        origin = str(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise BacklogError(f"{origin} is not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(raw, list) or not raw:
        raise BacklogError(f"{origin} must hold a non-empty JSON list of tasks")
    if len(raw) > MAX_TASKS:
        raise BacklogError(f"{origin} has {len(raw)} tasks; the demo takes at most {MAX_TASKS}")
    tasks = [_task(i, item) for i, item in enumerate(raw)]
    ids = [t.id for t in tasks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise BacklogError(f"{origin} repeats task ids {duplicates}; ids must be unique")
    return tasks
