"""Conventional Commits messages from the staged changes; rule-based, LLM-pluggable.

The header (``type(scope): subject``) is always rule-based: type from the paths
and the task, scope from the common package or directory, subject from the task.
A ``message_writer`` (an async callable or a ``WorkflowPrimitive`` taking a
:class:`MessageDraft` and returning text, e.g. an LLM primitive behind a prompt)
may write the body; the default body lists the files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from tta_dev_integrations.git.staging import StagedFile
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive

__all__ = [
    "MessageDraft",
    "MessageWriter",
    "draft_message",
    "file_category",
    "infer_scope",
    "infer_type",
    "rule_body",
    "write_message",
]

logger = logging.getLogger(__name__)

MessageWriter = Callable[["MessageDraft"], Awaitable[str]] | WorkflowPrimitive["MessageDraft", str]
"""Writes a commit body from a draft: ``async def f(draft) -> str`` or a primitive."""

_HEADER_MAX = 72
_BODY_MAX = 4000
_LISTED_FILES = 50
_BUILD_FILES = {
    "pyproject.toml", "setup.py", "setup.cfg", "uv.lock", "poetry.lock", "pipfile",
    "pipfile.lock", "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml",
    "cargo.toml", "cargo.lock", "go.mod", "go.sum", "makefile", "dockerfile", "tox.ini",
    "noxfile.py", "manifest.in", "build.gradle", "pom.xml", "cmakelists.txt",
}  # fmt: skip
_CI_PREFIXES = (".github/", ".ci/", ".circleci/", ".gitlab/", ".buildkite/")
_CI_FILES = {".gitlab-ci.yml", "jenkinsfile", ".pre-commit-config.yaml", "azure-pipelines.yml"}
_TEST_DIRS = {"tests", "test", "__tests__", "spec", "testing"}
_TEST_NAME = re.compile(r"^(test_.*\.py|.*_test\.(py|go|rs)|.*\.(test|spec)\.[a-z]+|conftest\.py)$")
_DOC_SUFFIXES = {".md", ".rst", ".adoc", ".txt"}
_DOC_DIRS = {"docs", "doc"}
_DOC_NAMES = re.compile(r"^(readme|changelog|contributing|license|authors)(\..*)?$")
_FIX = re.compile(
    r"\b(fix(es|ed|ing)?|bug(fix)?|hotfix|crash(es)?|broken|regression|repair|"
    r"incorrect|wrong|typo)\b"
)
_REFACTOR = re.compile(
    r"\b(refactor\w*|rename\w*|restructur\w*|simplif\w*|clean ?up|extract\w*|reorgani\w*|tidy)\b"
)
_PERF = re.compile(r"\b(perf|performance|speed ?up|faster|optimi[sz]\w*)\b")
_FEAT = re.compile(r"\b(add\w*|implement\w*|support\w*|introduc\w*|new|creat\w*|enable\w*)\b")
_LEADING_TYPE_WORD = {
    "fix": {"fix", "fixes", "fixed"},
    "docs": {"docs", "doc", "document"},
    "test": {"test", "tests"},
    "refactor": {"refactor", "refactors"},
    "perf": {"perf"},
    "ci": {"ci"},
    "build": {"build"},
    "chore": {"chore"},
}
_SCOPE_CHARS = re.compile(r"[^a-z0-9._-]+")
_GENERIC_DIRS = {"src", "lib", "tests", "test", "docs", "doc", "packages"}


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """Everything a message writer needs; ``render`` gives the final message."""

    type: str
    scope: str | None
    subject: str
    body: str
    files: tuple[StagedFile, ...]
    task: str | None
    branch: str | None
    diff: str = ""

    @property
    def header(self) -> str:
        """``type(scope): subject``."""
        scope = f"({self.scope})" if self.scope else ""
        return f"{self.type}{scope}: {self.subject}"

    def render(self) -> str:
        """The commit message: header, blank line, body."""
        return f"{self.header}\n\n{self.body}\n" if self.body else f"{self.header}\n"


def file_category(path: str) -> str:
    """One of ``ci``, ``build``, ``test``, ``docs`` or ``source`` for a repository path."""
    lowered = path.lower()
    pure = PurePosixPath(lowered)
    name, parts = pure.name, pure.parts[:-1]
    if lowered.startswith(_CI_PREFIXES) or name in _CI_FILES:
        return "ci"
    if name in _BUILD_FILES or (name.startswith("requirements") and name.endswith(".txt")):
        return "build"
    if _TEST_NAME.match(name) or any(part in _TEST_DIRS for part in parts):
        return "test"
    if pure.suffix in _DOC_SUFFIXES or _DOC_NAMES.match(name) or any(p in _DOC_DIRS for p in parts):
        return "docs"
    return "source"


def infer_type(files: Sequence[StagedFile], task: str | None, branch: str | None = None) -> str:
    """The Conventional Commits type for these staged files and this task."""
    categories = {file_category(f.path) for f in files}
    if len(categories) == 1 and (only := next(iter(categories))) != "source":
        return only
    words = " ".join(filter(None, [task, (branch or "").replace("-", " ").replace("/", " ")]))
    words = words.lower()
    if _FIX.search(words):
        return "fix"
    if _PERF.search(words):
        return "perf"
    if _REFACTOR.search(words):
        return "refactor"
    new_source = any(f.status == "A" and file_category(f.path) == "source" for f in files)
    if new_source or _FEAT.search(words):
        return "feat"
    return "refactor" if "source" in categories else "chore"


def infer_scope(files: Sequence[StagedFile]) -> str | None:
    """The package (``packages/<p>/``, ``src/<p>/``) or top directory every file shares."""
    parts = [PurePosixPath(f.path).parts for f in files]
    if not parts:
        return None
    for anchor in ("packages", "src"):
        if all(len(p) > 2 and p[0] == anchor for p in parts) and len({p[1] for p in parts}) == 1:
            return _clean_scope(parts[0][1])
    tops = {p[0] for p in parts}
    if len(tops) == 1 and all(len(p) > 1 for p in parts):
        top = next(iter(tops))
        if top.lower() not in _GENERIC_DIRS:
            return _clean_scope(top)
    return None


def _clean_scope(name: str) -> str | None:
    scope = _SCOPE_CHARS.sub("-", name.lower()).strip("-.")
    return scope or None


def _subject(
    commit_type: str, scope: str | None, task: str | None, files: Sequence[StagedFile]
) -> str:
    text = " ".join((task or "").split()).rstrip(".!?;: ")
    if text:
        first, _, rest = text.partition(" ")
        if rest and first.lower().rstrip(":") in _LEADING_TYPE_WORD.get(commit_type, set()):
            text = rest
        if len(text) > 1 and not text[1].isupper():
            text = text[0].lower() + text[1:]
    elif len(files) == 1:
        verb = {"A": "add", "D": "remove"}.get(files[0].status, "update")
        text = f"{verb} {files[0].path}"
    else:
        text = f"update {len(files)} files"
    room = _HEADER_MAX - len(commit_type) - (len(scope) + 2 if scope else 0) - 2
    if len(text) > room:
        cut = text[:room].rsplit(" ", 1)[0]
        text = cut if len(cut) >= room // 2 else text[:room]
    return text


def rule_body(files: Sequence[StagedFile]) -> str:
    """The default body: one line per file with its status and line counts."""
    verbs = {"A": "add", "D": "delete", "M": "modify", "T": "retype"}
    lines = ["Files:"]
    for f in files[:_LISTED_FILES]:
        counts = "binary" if f.binary else f"+{f.added} -{f.deleted}"
        lines.append(f"- {verbs.get(f.status, 'change')} {f.path} ({counts})")
    if len(files) > _LISTED_FILES:
        lines.append(f"- ... and {len(files) - _LISTED_FILES} more")
    return "\n".join(lines)


def draft_message(
    files: Sequence[StagedFile],
    *,
    task: str | None = None,
    branch: str | None = None,
    diff: str = "",
) -> MessageDraft:
    """The rule-based message for these staged files."""
    commit_type = infer_type(files, task, branch)
    scope = infer_scope(files)
    return MessageDraft(
        type=commit_type,
        scope=scope,
        subject=_subject(commit_type, scope, task, files),
        body=rule_body(files),
        files=tuple(files),
        task=task,
        branch=branch,
        diff=diff,
    )


async def write_message(
    draft: MessageDraft, writer: MessageWriter | None, context: WorkflowContext
) -> str:
    """The final message: the draft's header with ``writer``'s body (or the rule body).

    A writer that fails or returns nothing leaves the rule-based body in place (and
    logs a warning): a commit never fails because a model did.
    """
    if writer is None:
        return draft.render()
    try:
        if isinstance(writer, WorkflowPrimitive):
            body = await writer.execute(draft, context)
        else:
            body = await writer(draft)
    except Exception as error:
        logger.warning("commit message writer failed (%s); using the rule-based body", error)
        return draft.render()
    text = str(body).strip()[:_BODY_MAX].strip()
    return replace(draft, body=text).render() if text else draft.render()
