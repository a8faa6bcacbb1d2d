"""What the git workflow may touch: prefix, remote, protected branches, secret files."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = ["DEFAULT_PROTECTED", "DEFAULT_SECRET_FILES", "GitPolicy"]

#: Branches nobody's agent commits or pushes to (fnmatch globs).
DEFAULT_PROTECTED = ("main", "master", "release/*")

#: File names (fnmatch globs on the lower-cased base name, or on the whole path when
#: the glob has a ``/``) that are never staged and refused when staged by someone else.
DEFAULT_SECRET_FILES = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "*.kdbx",
    "*.asc",
    "*.gpg",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    ".htpasswd",
    "credentials",
    "credentials.json",
    "*credentials*.json",
    "client_secret*.json",
    "service-account*.json",
    "secrets.yml",
    "secrets.yaml",
    "secrets.json",
    "*.tfstate",
    "*.tfstate.*",
    ".aws/*",
    ".ssh/*",
    ".docker/config.json",
    ".kube/config",
)


@dataclass(frozen=True, slots=True)
class GitPolicy:
    """Rules shared by the branch, commit, push and cleanup primitives.

    * ``prefix``: task branches are ``<prefix><slug>``; cleanup of remote branches
      only touches this prefix unless told otherwise.
    * ``remote``: the remote to fetch from and push to.
    * ``protected``: globs of branches never committed to (unless
      ``allow_commit_on_protected``) and never pushed to; the default branch is
      always protected as well.
    * ``default_branch``: ``None`` detects it (``refs/remotes/<remote>/HEAD``,
      ``init.defaultBranch``, then ``main``/``master``).
    * ``secret_files``: globs of files never staged.
    * ``lock_timeout``: seconds to wait for another agent's lock on the clone.
    """

    prefix: str = "agent/"
    remote: str = "origin"
    protected: tuple[str, ...] = DEFAULT_PROTECTED
    default_branch: str | None = None
    allow_commit_on_protected: bool = False
    max_slug_length: int = 48
    secret_files: tuple[str, ...] = DEFAULT_SECRET_FILES
    lock_timeout: float = 120.0

    def is_protected(self, branch: str, default_branch: str | None) -> bool:
        """Whether ``branch`` is the default branch or matches a protected glob."""
        if default_branch is not None and branch == default_branch:
            return True
        return any(fnmatchcase(branch, pattern) for pattern in self.protected)

    def is_secret_file(self, path: str) -> bool:
        """Whether ``path`` (repository-relative, ``/``-separated) looks like a secret."""
        lowered = path.lower()
        name = lowered.rsplit("/", 1)[-1]
        for pattern in self.secret_files:
            if "/" in pattern:
                if fnmatchcase(lowered, pattern) or fnmatchcase(lowered, f"*/{pattern}"):
                    return True
            elif fnmatchcase(name, pattern):
                return True
        return False
