"""The main job behind ``tta demo``: a backlog of coding tasks triaged by an agent workflow."""

from tta_cli.demo.backlog import BacklogError, Task, load_backlog
from tta_cli.demo.workflow import DemoSettings, TaskResult, build_workflow, run_demo

__all__ = [
    "BacklogError",
    "DemoSettings",
    "Task",
    "TaskResult",
    "build_workflow",
    "load_backlog",
    "run_demo",
]
