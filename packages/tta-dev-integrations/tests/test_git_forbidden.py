"""The battery of forbidden operations: none is carried out, each fails with a typed error.

Every case runs against a real clone whose bare remote has a pre-receive hook
rejecting non-fast-forwards (and ``receive.denyNonFastForwards``). After each
attempt: the remote's refs are unchanged, the clone's refs are unchanged (no
commit was created), and no marker file was created by an injected command.
The package README reports ``len(FORBIDDEN)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from git_repos import Clone, isolated_git, make_clone, remote_refs, second_clone
from tta_dev_integrations.git import (
    CommitRequest,
    GitBranchPrimitive,
    GitCommandError,
    GitCommitPrimitive,
    GitError,
    GitPushPrimitive,
    GitRunner,
    ProtectedBranchError,
    PushRequest,
    RebaseConflictError,
    RepositoryStateError,
    SecretFileError,
    SecretsFoundError,
    StartBranch,
    UnsafeInputError,
)
from tta_dev_primitives import WorkflowContext

pytestmark = pytest.mark.usefixtures("isolated_git")
_ = isolated_git

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key id  # pragma: allowlist secret
GITHUB_TOKEN = "ghp_" + "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----\n"
)
CREDENTIAL = "s3cr3t-pa55w0rd"


def ctx() -> WorkflowContext:
    return WorkflowContext()


def on_task_branch(clone: Clone, name: str = "agent/work") -> None:
    clone.git("switch", "-q", "-c", name)
    clone.write("src/work.py", "def work():\n    return 'w'\n")
    clone.commit_all("feat: work")


def pushed_task_branch(clone: Clone, name: str = "agent/work") -> None:
    on_task_branch(clone, name)
    clone.git("push", "-q", "-u", "origin", name)


def detached(clone: Clone) -> None:
    clone.git("switch", "-q", "--detach", "HEAD")
    clone.write("src/app.py", "def main():\n    return 2\n")


def mid_rebase(clone: Clone) -> None:
    clone.git("switch", "-q", "-c", "agent/rebasing")
    clone.write("src/app.py", "def main():\n    return 'ours'\n")
    clone.commit_all("ours")
    clone.git("switch", "-q", "main")
    clone.write("src/app.py", "def main():\n    return 'theirs'\n")
    clone.commit_all("theirs")
    clone.git("switch", "-q", "agent/rebasing")
    clone.git("rebase", "main", check=False)
    clone.write("src/new.py", "x = 1\n")


def mid_merge(clone: Clone) -> None:
    mid_rebase(clone)
    clone.git("rebase", "--abort")
    clone.git("merge", "main", check=False)


def diverged(clone: Clone, tmp_path: Path) -> None:
    """The task branch was pushed, someone else pushed on top, ours was rewritten."""
    pushed_task_branch(clone)
    other = second_clone(clone, tmp_path)
    other.git("switch", "-q", "agent/work")
    other.write("src/work.py", "def work():\n    return 'theirs'\n")
    other.commit_all("theirs")
    other.git("push", "-q", "origin", "agent/work")
    clone.write("src/work.py", "def work():\n    return 'ours'\n")
    clone.git("commit", "-q", "-a", "--amend", "-m", "ours, rewritten")


def ext_remote(clone: Clone, marker: Path) -> None:
    on_task_branch(clone)
    clone.git("remote", "set-url", "origin", f"ext::sh -c touch% {marker}")


def ext_push_url(clone: Clone, marker: Path) -> None:
    on_task_branch(clone)
    clone.git("remote", "set-url", "--push", "origin", f"ext::sh -c touch% {marker}")


def commit_on_current(clone: Clone) -> None:
    clone.write("src/app.py", "x = 2\n")
    clone.commit_all("on the current branch")


def set_origin(clone: Clone, url: str) -> None:
    clone.git("remote", "set-url", "origin", url)


def write_on_task_branch(
    clone: Clone, path: str, text: str, branch: str | None = "agent/work"
) -> None:
    if branch is not None:
        clone.git("switch", "-q", "-c", branch)
    clone.write(path, text)


def credentials_remote(clone: Clone) -> None:
    on_task_branch(clone)
    set_origin(clone, f"https://bot:{CREDENTIAL}@example.invalid/r")


def stage(clone: Clone, path: str, text: str) -> None:
    clone.git("switch", "-q", "-c", "agent/work")
    clone.write(path, text)
    clone.git("add", "--", path)


@dataclass(frozen=True)
class Forbidden:
    id: str
    setup: Callable[[Clone, Path, Path], None]
    attempt: Callable[[Clone, Path], Awaitable[object]]
    error: type[GitError]
    hidden: str | None = None  # must not appear in the error message
    default: str = "main"


def push(request: PushRequest | str | None = None) -> Callable[[Clone, Path], Awaitable[object]]:
    async def attempt(clone: Clone, marker: Path) -> object:
        return await GitPushPrimitive(clone.work).execute(request, ctx())

    return attempt


def commit(request: CommitRequest | None = None) -> Callable[[Clone, Path], Awaitable[object]]:
    async def attempt(clone: Clone, marker: Path) -> object:
        return await GitCommitPrimitive(clone.work).execute(request, ctx())

    return attempt


def start(request: StartBranch) -> Callable[[Clone, Path], Awaitable[object]]:
    async def attempt(clone: Clone, marker: Path) -> object:
        return await GitBranchPrimitive(clone.work).execute(request, ctx())

    return attempt


async def raw_ext_fetch(clone: Clone, marker: Path) -> object:
    """Even a caller bypassing validation cannot use ext:: through the runner."""
    return await GitRunner(clone.work).run("ls-remote", f"ext::sh -c touch% {marker}")


def nothing(clone: Clone, marker: Path, tmp_path: Path) -> None:
    return None


def upload_pack_name(marker: Path) -> str:
    return f"--upload-pack=touch {marker}"


FORBIDDEN = [
    Forbidden(
        "push-current-default-branch",
        lambda c, m, t: commit_on_current(c),
        push(),
        ProtectedBranchError,
    ),
    Forbidden(
        "push-named-default-branch",
        lambda c, m, t: pushed_task_branch(c),
        push(PushRequest(branch="main")),
        ProtectedBranchError,
    ),
    Forbidden(
        "push-full-refspec-to-default-branch",
        lambda c, m, t: on_task_branch(c),
        push("refs/heads/main:refs/heads/main"),
        ProtectedBranchError,
    ),
    Forbidden(
        "push-release-branch",
        lambda c, m, t: on_task_branch(c, "release/1.0"),
        push(),
        ProtectedBranchError,
    ),
    Forbidden(
        "push-detected-default-branch-trunk",
        lambda c, m, t: commit_on_current(c),
        push(),
        ProtectedBranchError,
        default="trunk",
    ),
    Forbidden(
        "force-push-plus-refspec",
        lambda c, m, t: pushed_task_branch(c),
        push("+agent/work"),
        UnsafeInputError,
    ),
    Forbidden(
        "force-push-plus-full-refspec",
        lambda c, m, t: pushed_task_branch(c),
        push("+refs/heads/agent/work:refs/heads/agent/work"),
        UnsafeInputError,
    ),
    Forbidden(
        "force-with-lease-on-default-branch",
        lambda c, m, t: commit_on_current(c),
        push(PushRequest(branch="main", force_with_lease=True)),
        ProtectedBranchError,
    ),
    Forbidden(
        "diverged-history-is-never-forced",
        lambda c, m, t: diverged(c, t),
        push(),
        RebaseConflictError,
    ),
    Forbidden(
        "delete-refspec",
        lambda c, m, t: pushed_task_branch(c),
        push(":agent/work"),
        UnsafeInputError,
    ),
    Forbidden(
        "delete-refspec-full-ref",
        lambda c, m, t: pushed_task_branch(c),
        push(":refs/heads/main"),
        UnsafeInputError,
    ),
    Forbidden(
        "push-to-another-name",
        lambda c, m, t: pushed_task_branch(c),
        push("agent/work:main"),
        UnsafeInputError,
    ),
    Forbidden(
        "wildcard-refspec",
        lambda c, m, t: pushed_task_branch(c),
        push("refs/heads/*:refs/heads/*"),
        UnsafeInputError,
    ),
    Forbidden(
        "option-like-branch-to-push",
        lambda c, m, t: on_task_branch(c),
        lambda c, m: push(upload_pack_name(m))(c, m),
        UnsafeInputError,
    ),
    Forbidden(
        "option-like-base-branch",
        nothing,
        lambda c, m: start(StartBranch("task", base=upload_pack_name(m)))(c, m),
        UnsafeInputError,
    ),
    Forbidden(
        "option-like-branch-prefix",
        nothing,
        lambda c, m: start(StartBranch("task", prefix=f"--upload-pack=touch {m}/"))(c, m),
        UnsafeInputError,
    ),
    Forbidden(
        "reflog-syntax-base-branch",
        nothing,
        start(StartBranch("task", base="@{-1}")),
        UnsafeInputError,
    ),
    Forbidden(
        "ext-remote-on-push",
        lambda c, m, t: ext_remote(c, m),
        push(),
        UnsafeInputError,
    ),
    Forbidden(
        "ext-push-url-on-push",
        lambda c, m, t: ext_push_url(c, m),
        push(),
        UnsafeInputError,
    ),
    Forbidden(
        "ext-remote-on-start",
        lambda c, m, t: set_origin(c, f"ext::sh -c touch% {m}"),
        start(StartBranch("task")),
        UnsafeInputError,
    ),
    Forbidden(
        "ext-transport-through-the-runner",
        nothing,
        raw_ext_fetch,
        GitCommandError,
    ),
    Forbidden(
        "credentials-in-remote-url",
        lambda c, m, t: credentials_remote(c),
        push(),
        UnsafeInputError,
        hidden=CREDENTIAL,
    ),
    Forbidden(
        "commit-on-detached-head",
        lambda c, m, t: detached(c),
        commit(),
        RepositoryStateError,
    ),
    Forbidden(
        "commit-mid-rebase",
        lambda c, m, t: mid_rebase(c),
        commit(),
        RepositoryStateError,
    ),
    Forbidden(
        "commit-mid-merge-with-conflicts",
        lambda c, m, t: mid_merge(c),
        commit(),
        RepositoryStateError,
    ),
    Forbidden(
        "start-on-detached-head",
        lambda c, m, t: detached(c),
        start(StartBranch("task")),
        RepositoryStateError,
    ),
    Forbidden(
        "start-mid-rebase",
        lambda c, m, t: mid_rebase(c),
        start(StartBranch("task")),
        RepositoryStateError,
    ),
    Forbidden(
        "commit-on-default-branch",
        lambda c, m, t: write_on_task_branch(c, "src/app.py", "x = 2\n", branch=None),
        commit(),
        ProtectedBranchError,
    ),
    Forbidden(
        "staged-dotenv",
        lambda c, m, t: stage(c, ".env", "API_TOKEN=abc\n"),
        commit(),
        SecretFileError,
    ),
    Forbidden(
        "staged-dotenv-variant",
        lambda c, m, t: stage(c, "config/.env.production", "DB=postgres://x\n"),
        commit(),
        SecretFileError,
    ),
    Forbidden(
        "staged-private-key-file",
        lambda c, m, t: stage(c, "deploy/id_rsa", PRIVATE_KEY),
        commit(CommitRequest(stage_all=True)),
        SecretFileError,
    ),
    Forbidden(
        "staged-pem-file",
        lambda c, m, t: stage(c, "certs/server.pem", PRIVATE_KEY),
        commit(),
        SecretFileError,
    ),
    Forbidden(
        "private-key-in-innocent-file",
        lambda c, m, t: stage(c, "notes/setup.txt", "keep this:\n" + PRIVATE_KEY),
        commit(),
        SecretsFoundError,
    ),
    Forbidden(
        "planted-aws-key",
        lambda c, m, t: stage(c, "src/client.py", f'KEY_ID = "{AWS_KEY}"\n'),
        commit(),
        SecretsFoundError,
        hidden=AWS_KEY,
    ),
    Forbidden(
        "planted-high-entropy-token",
        lambda c, m, t: stage(c, "src/github.py", f'token = "{GITHUB_TOKEN}"\n'),
        commit(),
        SecretsFoundError,
        hidden=GITHUB_TOKEN,
    ),
    Forbidden(
        "planted-password-unstaged",
        lambda c, m, t: write_on_task_branch(c, "src/db.py", f'password = "{CREDENTIAL}"\n'),
        commit(),
        SecretsFoundError,
        hidden=CREDENTIAL,
    ),
]


def local_refs(clone: Clone) -> dict[str, str]:
    """Branches, tags and HEAD (remote-tracking refs may move: a fetch is no harm)."""
    out = clone.git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags")
    refs = dict(line.split(" ", 1) for line in out.splitlines())
    refs["HEAD"] = clone.git("rev-parse", "HEAD")
    return refs


@pytest.mark.parametrize("case", FORBIDDEN, ids=[case.id for case in FORBIDDEN])
async def test_forbidden_operation_is_not_carried_out(case: Forbidden, tmp_path: Path) -> None:
    clone = make_clone(tmp_path, hook=True, default=case.default)
    marker = tmp_path / "pwned"
    case.setup(clone, marker, tmp_path)
    remote_before = remote_refs(clone.remote)
    local_before = local_refs(clone)

    with pytest.raises(case.error) as caught:
        await case.attempt(clone, marker)

    message = str(caught.value)
    assert caught.value.hint, f"{case.id}: the error says how to get out: {message}"
    if isinstance(caught.value, SecretsFoundError):
        # Refused, and not left staged for the next plain `git commit` to take.
        flagged = {finding.path for finding in caught.value.findings}
        assert caught.value.unstaged == tuple(sorted(flagged))
        assert not flagged & set(clone.git("diff", "--cached", "--name-only").splitlines())
        assert "unstaged" in message
    if case.hidden is not None:
        assert case.hidden not in message
        assert case.hidden not in repr(caught.value)
    assert remote_refs(clone.remote) == remote_before, "the remote was changed"
    assert local_refs(clone) == local_before, "a commit or ref was created"
    assert not marker.exists(), "an injected command ran"


def test_battery_covers_every_issue_category() -> None:
    ids = " ".join(case.id for case in FORBIDDEN)
    for needed in ("default-branch", "force-push", "delete-refspec", "option-like", "ext-",
                   "detached", "mid-rebase", "dotenv", "private-key", "aws-key"):  # fmt: skip
        assert needed in ids


def test_readme_reports_the_battery() -> None:
    """Fails until the lead merges /tmp/readme-git.md into the package README."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"{len(FORBIDDEN)} forbidden operations tried, 0 carried out" in readme


async def test_a_refused_secret_is_unstaged_and_the_work_tree_and_other_files_kept(
    tmp_path: Path,
) -> None:
    clone = make_clone(tmp_path, hook=True)
    clone.git("switch", "-q", "-c", "agent/work")
    clone.write("src/app.py", "def main():\n    return 3\n")  # tracked, changed, clean
    leaked = f'KEY_ID = "{AWS_KEY}"\n'
    clone.write("src/client.py", leaked)  # new, with a key
    clone.git("add", "--", "src/app.py", "src/client.py")

    with pytest.raises(SecretsFoundError) as caught:
        await GitCommitPrimitive(clone.work).execute(None, ctx())

    assert caught.value.unstaged == ("src/client.py",)
    assert clone.git("diff", "--cached", "--name-only").splitlines() == ["src/app.py"]
    assert (clone.work / "src/client.py").read_text() == leaked  # the work tree untouched
    assert "?? src/client.py" in clone.git("status", "--porcelain").splitlines()
    # The plain git commit a user might run next cannot take the key any more.
    clone.git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "x")
    assert AWS_KEY not in clone.git("show", "HEAD")
