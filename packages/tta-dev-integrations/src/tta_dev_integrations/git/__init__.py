"""The git workflow primitives: branch, smart commit, push coordination, cleanup.

``GitBranchPrimitive() >> work >> GitCommitPrimitive() >> GitPushPrimitive()``
starts a task on ``agent/<slug>``, commits what the work changed (secrets
refused, a Conventional Commits message written) and pushes the branch, never
the default or a protected one. Everything runs the real ``git`` binary with
argument lists, no shell; every agent-supplied name is validated first.
"""

from tta_dev_integrations.git.branch import GitBranchPrimitive, StartBranch, TaskBranch, slugify
from tta_dev_integrations.git.cleanup import CleanupReport, CleanupRequest, GitCleanupPrimitive
from tta_dev_integrations.git.commit import (
    CommitInput,
    CommitRequest,
    CommitResult,
    GitCommitPrimitive,
)
from tta_dev_integrations.git.errors import (
    GitCommandError,
    GitError,
    GitTimeoutError,
    LockTimeoutError,
    NothingToCommitError,
    ProtectedBranchError,
    PushRejectedError,
    RebaseConflictError,
    RepositoryStateError,
    SecretFileError,
    SecretFinding,
    SecretsFoundError,
    UnsafeInputError,
)
from tta_dev_integrations.git.lock import RepoLock
from tta_dev_integrations.git.message import MessageDraft, MessageWriter, draft_message
from tta_dev_integrations.git.policy import DEFAULT_PROTECTED, DEFAULT_SECRET_FILES, GitPolicy
from tta_dev_integrations.git.push import GitPushPrimitive, PushInput, PushRequest, PushResult
from tta_dev_integrations.git.repo import GitPrimitive, GitRepo
from tta_dev_integrations.git.runner import GitOutput, GitRunner
from tta_dev_integrations.git.state import RepoState, read_state
from tta_dev_integrations.git.validation import (
    parse_push_refspec,
    validate_branch_name,
    validate_remote_url,
)

__all__ = [
    "DEFAULT_PROTECTED",
    "DEFAULT_SECRET_FILES",
    "CleanupReport",
    "CleanupRequest",
    "CommitInput",
    "CommitRequest",
    "CommitResult",
    "GitBranchPrimitive",
    "GitCleanupPrimitive",
    "GitCommandError",
    "GitCommitPrimitive",
    "GitError",
    "GitOutput",
    "GitPolicy",
    "GitPrimitive",
    "GitPushPrimitive",
    "GitRepo",
    "GitRunner",
    "GitTimeoutError",
    "LockTimeoutError",
    "MessageDraft",
    "MessageWriter",
    "NothingToCommitError",
    "ProtectedBranchError",
    "PushInput",
    "PushRejectedError",
    "PushRequest",
    "PushResult",
    "RebaseConflictError",
    "RepoLock",
    "RepoState",
    "RepositoryStateError",
    "SecretFileError",
    "SecretFinding",
    "SecretsFoundError",
    "StartBranch",
    "TaskBranch",
    "UnsafeInputError",
    "draft_message",
    "parse_push_refspec",
    "read_state",
    "slugify",
    "validate_branch_name",
    "validate_remote_url",
]
