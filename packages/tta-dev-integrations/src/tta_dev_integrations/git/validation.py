"""Checks on every agent-supplied name before it reaches git.

Branch names go through ``git check-ref-format --branch`` after a syntactic
pre-check that refuses what that command would misread (a leading ``-`` is an
option, ``@{-1}`` is expanded to another branch). Remote URLs are refused when
they name a remote helper (``ext::``, ``fd::`` run programs), embed credentials,
or look like an option.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tta_dev_integrations.git.errors import UnsafeInputError
from tta_dev_integrations.git.runner import GitRunner, redact_url

__all__ = [
    "check_branch_syntax",
    "parse_push_refspec",
    "validate_branch_name",
    "validate_remote_name",
    "validate_remote_url",
    "validate_sha",
]

_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_URL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HELPER = re.compile(r"[A-Za-z0-9][A-Za-z0-9+.-]*::")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP_LIKE = re.compile(r"(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?!//)")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SCHEMES = {"https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"}
_MAX_BRANCH = 200


def check_branch_syntax(name: str) -> str:
    """Refuse what ``git check-ref-format`` would misread; return ``name``.

    Refused: empty, a leading ``-`` (an option), ``@{`` (reflog syntax that
    ``--branch`` expands), ``HEAD``, whitespace or control characters, over 200
    characters.
    """
    if not name:
        raise UnsafeInputError("empty branch name", hint="give the branch a name")
    shown = redact_url(name)[:80]
    if name.startswith("-"):
        raise UnsafeInputError(
            f"refusing branch name {shown!r}: it starts with '-' and git would read it "
            "as an option",
            hint="branch names start with a letter or digit",
        )
    if "@{" in name or name in {"@", "HEAD"}:
        raise UnsafeInputError(
            f"refusing branch name {shown!r}: it is revision syntax, not a branch name",
            hint="name the branch explicitly",
        )
    if _CONTROL.search(name) or len(name) > _MAX_BRANCH:
        raise UnsafeInputError(
            f"refusing branch name {shown!r}: whitespace, control characters or over "
            f"{_MAX_BRANCH} characters",
            hint="use letters, digits, '-', '_', '.' and '/'",
        )
    return name


async def validate_branch_name(runner: GitRunner, name: str) -> str:
    """``name`` if git accepts it as a branch name, else :class:`UnsafeInputError`."""
    check_branch_syntax(name)
    result = await runner.run("check-ref-format", "--branch", name, check=False)
    if not result.ok or result.stdout.strip() != name:
        raise UnsafeInputError(
            f"refusing branch name {name!r}: `git check-ref-format --branch` rejects it",
            hint="see `git help check-ref-format`: no '..', '~', '^', ':', '?', '*', '[', "
            "'\\', no trailing '/' or '.lock'",
        )
    return name


def validate_remote_name(name: str) -> str:
    """``name`` if it is a plain remote name (letters, digits, ``.``, ``_``, ``-``)."""
    if not _REMOTE_NAME.fullmatch(name):
        raise UnsafeInputError(
            f"refusing remote name {redact_url(name)[:80]!r}",
            hint="remote names are letters, digits, '.', '_' and '-', not starting with '-'",
        )
    return name


def validate_remote_url(url: str) -> str:
    """``url`` if it is a plain transport without embedded credentials.

    Refused: a leading ``-``; remote helpers (``ext::``, ``fd::``, any
    ``<transport>::``), which run programs; schemes other than https, http, ssh,
    git and file; a password in the URL, or any user-info in an http(s), git or
    file URL (tokens hide there); a host starting with ``-`` (ssh option injection);
    control characters.
    """
    shown = redact_url(url)[:120]
    if _HELPER.match(url):
        raise UnsafeInputError(
            f"refusing remote URL {shown!r}: '<transport>::' remote helpers such as ext:: "
            "and fd:: run arbitrary programs",
            hint="use an https://, ssh:// or file path URL",
        )
    if not url or url.startswith("-") or _URL_CONTROL.search(url):
        raise UnsafeInputError(
            f"refusing remote URL {shown!r}: empty, option-like or with control characters",
            hint="use an https://, ssh:// or file path URL",
        )
    scheme = _SCHEME.match(url)
    if scheme:
        _check_scheme_url(url, scheme.group(1).lower(), shown)
        return url
    scp = _SCP_LIKE.match(url)
    if scp and "/" not in url.split(":", 1)[0]:
        user, host = scp.group("user"), scp.group("host")
        if user is not None and ":" in user:
            raise _credentials(shown)
        if host.startswith("-") or (user or "").startswith("-"):
            raise UnsafeInputError(
                f"refusing remote URL {shown!r}: an option-like host or user",
                hint="fix the URL's host",
            )
    return url


def _check_scheme_url(url: str, scheme: str, shown: str) -> None:
    if scheme not in _SCHEMES:
        raise UnsafeInputError(
            f"refusing remote URL {shown!r}: scheme {scheme!r} is not allowed",
            hint=f"use one of {', '.join(sorted(_SCHEMES))}",
        )
    parts = urlsplit(url)
    if parts.password is not None:
        raise _credentials(shown)
    if parts.username is not None and scheme not in {"ssh", "git+ssh", "ssh+git"}:
        raise _credentials(shown)
    if (parts.hostname or "").startswith("-"):
        raise UnsafeInputError(
            f"refusing remote URL {shown!r}: an option-like host",
            hint="fix the URL's host",
        )


def _credentials(shown: str) -> UnsafeInputError:
    return UnsafeInputError(
        f"refusing remote URL {shown!r}: it embeds credentials",
        hint="remove them from the URL and use a credential helper (`git help credential`) "
        "or an ssh key",
    )


def parse_push_refspec(refspec: str) -> str:
    """The branch a push refspec names; only ``b``, ``b:b`` or the full-ref form pass.

    Refused: force updates (a leading ``+``), deletions (an empty source, ``:b``),
    wildcards, and pushing one branch to a different name.
    """
    shown = refspec[:80]
    if refspec.startswith("+"):
        raise UnsafeInputError(
            f"refusing refspec {shown!r}: a leading '+' force-updates the remote branch",
            hint="push without '+'; ask for force_with_lease=True if you must replace it",
        )
    if refspec.startswith(":") or refspec.endswith(":"):
        raise UnsafeInputError(
            f"refusing refspec {shown!r}: an empty side deletes or pushes nothing",
            hint="branch deletion is what `tta git cleanup` does for merged branches",
        )
    if "*" in refspec or refspec.count(":") > 1:
        raise UnsafeInputError(
            f"refusing refspec {shown!r}: wildcards and multiple ':' are not allowed",
            hint="push one branch: 'agent/x' or 'refs/heads/agent/x:refs/heads/agent/x'",
        )
    src, _, dst = refspec.partition(":")
    src_name = src.removeprefix("refs/heads/")
    dst_name = (dst or src).removeprefix("refs/heads/")
    if src_name != dst_name:
        raise UnsafeInputError(
            f"refusing refspec {shown!r}: it pushes {src_name!r} to another name {dst_name!r}",
            hint="a task branch is pushed to its own name only",
        )
    check_branch_syntax(src_name)
    return src_name


def validate_sha(value: str) -> str:
    """``value`` if it is a full lower-case hex object id (SHA-1 or SHA-256)."""
    if not _SHA.fullmatch(value):
        raise UnsafeInputError(
            f"refusing object id {value[:80]!r}: expected 40 or 64 lower-case hex digits",
            hint="pass the full commit id from `git rev-parse`",
        )
    return value
