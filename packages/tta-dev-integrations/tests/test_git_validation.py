"""Validation of agent-supplied names, the policy's globs, slugs and message inference."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from git_repos import git, isolated_git
from tta_dev_integrations.git import (
    GitPolicy,
    GitRunner,
    UnsafeInputError,
    draft_message,
    parse_push_refspec,
    slugify,
    validate_branch_name,
    validate_remote_url,
)
from tta_dev_integrations.git.message import file_category, infer_scope, infer_type
from tta_dev_integrations.git.runner import redact_url
from tta_dev_integrations.git.secret_scan import added_lines
from tta_dev_integrations.git.staging import StagedFile
from tta_dev_integrations.git.validation import check_branch_syntax, validate_sha

_ = isolated_git


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/org/repo.git",
        "ssh://git@github.com/org/repo.git",
        "git@github.com:org/repo.git",
        "file:///srv/git/repo.git",
        "/srv/git/repo.git",
        "../remote.git",
        "/tmp/path with spaces/repo.git",
    ],
)
def test_plain_remote_urls_pass(url: str) -> None:
    assert validate_remote_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ext::sh -c touch% /tmp/pwned", "remote helpers"),
        ("fd::17", "remote helpers"),
        ("foo::https://example.com/x", "remote helpers"),
        ("https://user:hunter2@example.com/r.git", "credentials"),
        ("https://ghp_token@example.com/r.git", "credentials"),
        ("ssh://git:pw@example.com/r.git", "credentials"),
        ("bot:pw@example.com:org/r.git", "credentials"),
        ("--upload-pack=touch /tmp/x", "option-like"),
        ("ssh://-oProxyCommand=touch%20x/r", "option-like host"),
        ("-oProxyCommand=x:repo", "option-like"),
        ("gopher://example.com/r", "scheme"),
        ("https://example.com/r\n[core]", "control"),
        ("", "empty"),
    ],
)
def test_unsafe_remote_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(UnsafeInputError) as caught:
        validate_remote_url(url)
    assert why in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert caught.value.hint


def test_redact_url_hides_user_info() -> None:
    text = "fatal: unable to access 'https://bot:s3cret@example.com/r.git/'"
    assert "s3cret" not in redact_url(text)
    assert "https://***@example.com" in redact_url(text)


@pytest.mark.parametrize(
    "name",
    ["-x", "--upload-pack=touch /tmp/x", "@{-1}", "HEAD", "a b", "a\nb", "", "x" * 201],
)
def test_branch_syntax_refuses_what_git_would_misread(name: str) -> None:
    with pytest.raises(UnsafeInputError):
        check_branch_syntax(name)


@pytest.mark.usefixtures("isolated_git")
@pytest.mark.parametrize("name", ["a..b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a.lock", "a/"])
async def test_git_check_ref_format_rejects(tmp_path: Path, name: str) -> None:
    git(tmp_path, "init", "-q", "repo")
    with pytest.raises(UnsafeInputError, match="check-ref-format"):
        await validate_branch_name(GitRunner(tmp_path / "repo"), name)


@pytest.mark.usefixtures("isolated_git")
async def test_git_check_ref_format_accepts_task_branches(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "repo")
    runner = GitRunner(tmp_path / "repo")
    assert await validate_branch_name(runner, "agent/fix-login-2") == "agent/fix-login-2"


@pytest.mark.parametrize(
    ("spec", "branch"),
    [
        ("agent/x", "agent/x"),
        ("agent/x:agent/x", "agent/x"),
        ("refs/heads/agent/x:refs/heads/agent/x", "agent/x"),
    ],
)
def test_push_refspecs_to_the_same_name_pass(spec: str, branch: str) -> None:
    assert parse_push_refspec(spec) == branch


@pytest.mark.parametrize(
    "spec",
    ["+agent/x", "+agent/x:agent/x", ":agent/x", "agent/x:", "agent/x:main", "refs/heads/*",
     "a:b:c", "--force"],
)  # fmt: skip
def test_forcing_deleting_renaming_refspecs_are_refused(spec: str) -> None:
    with pytest.raises(UnsafeInputError):
        parse_push_refspec(spec)


def test_validate_sha() -> None:
    assert validate_sha("a" * 40) == "a" * 40
    with pytest.raises(UnsafeInputError):
        validate_sha("HEAD~1")


@pytest.mark.parametrize(
    ("task", "slug"),
    [
        ("Fix the login redirect!", "fix-the-login-redirect"),
        ("  Ünïcödé   naïve café ", "unicode-naive-cafe"),
        ("--upload-pack=touch /tmp/x", "upload-pack-touch-tmp-x"),
        ("日本語", "task"),
        ("", "task"),
    ],
)
def test_slugify(task: str, slug: str) -> None:
    assert slugify(task) == slug


def test_slugify_cuts_at_a_word_boundary() -> None:
    slug = slugify("implement the very long feature description that goes on and on", 30)
    assert len(slug) <= 30
    assert slug == "implement-the-very-long"


@given(st.text(max_size=200), st.integers(min_value=8, max_value=64))
def test_slugify_is_always_branch_safe(task: str, limit: int) -> None:
    slug = slugify(task, limit)
    assert 1 <= len(slug) <= limit
    assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert not slug.startswith("-")
    assert not slug.endswith("-")
    check_branch_syntax(f"agent/{slug}")


def test_policy_protects_default_and_globs() -> None:
    policy = GitPolicy()
    assert policy.is_protected("main", "trunk")
    assert policy.is_protected("trunk", "trunk")
    assert policy.is_protected("release/2.0", None)
    assert not policy.is_protected("agent/release-notes", "main")
    assert GitPolicy(protected=("prod",)).is_protected("prod", None)


@pytest.mark.parametrize(
    "path",
    [".env", "app/.env.local", "prod.env", "id_rsa", "home/.ssh/id_ed25519.pub", "tls/site.PEM",
     "x.key", "cert.p12", ".aws/credentials", "gcp/service-account-prod.json", ".netrc"],
)  # fmt: skip
def test_secret_looking_files(path: str) -> None:
    assert GitPolicy().is_secret_file(path)


@pytest.mark.parametrize("path", ["src/env.py", "environment.md", "keys.py", "docs/pem.md"])
def test_ordinary_files_are_not_secret_looking(path: str) -> None:
    assert not GitPolicy().is_secret_file(path)


def test_added_lines_from_a_zero_context_diff() -> None:
    diff = (
        "diff --git a/x b/x\n--- a/x\n+++ b/x\n"
        "@@ -1 +1 @@\n-a\n+b\n"
        "@@ -5,0 +6,3 @@\n+c\n+d\n+e\n"
        "@@ -9,2 +11,0 @@\n-f\n-g\n"
    )
    assert added_lines(diff) == {1, 6, 7, 8}


def staged(path: str, status: str = "M") -> StagedFile:
    return StagedFile(status=status, path=path, added=1, deleted=0)


@pytest.mark.parametrize(
    ("path", "category"),
    [
        (".github/workflows/ci.yml", "ci"),
        (".ci/run", "ci"),
        ("pyproject.toml", "build"),
        ("uv.lock", "build"),
        ("requirements-dev.txt", "build"),
        ("packages/a/tests/test_x.py", "test"),
        ("src/foo_test.go", "test"),
        ("web/app.spec.ts", "test"),
        ("docs/guide/conf.py", "docs"),
        ("README.md", "docs"),
        ("src/app.py", "source"),
    ],
)
def test_file_category(path: str, category: str) -> None:
    assert file_category(path) == category


@pytest.mark.parametrize(
    ("files", "task", "commit_type"),
    [
        ([staged("docs/a.md"), staged("README.md")], None, "docs"),
        ([staged("tests/test_a.py", "A")], "add the parser", "test"),
        ([staged(".github/workflows/ci.yml")], None, "ci"),
        ([staged("pyproject.toml"), staged("uv.lock")], None, "build"),
        ([staged("src/a.py")], "Fix crash on empty input", "fix"),
        ([staged("src/a.py"), staged("tests/test_a.py")], "the login bug", "fix"),
        ([staged("src/new.py", "A")], "parser", "feat"),
        ([staged("src/a.py")], "add retries", "feat"),
        ([staged("src/a.py")], "rename helpers", "refactor"),
        ([staged("src/a.py")], "speed up the scanner", "perf"),
        ([staged("src/a.py")], "adjust", "refactor"),
        ([staged("docs/a.md"), staged("tests/test_a.py")], "misc", "chore"),
    ],
)
def test_infer_type(files: list[StagedFile], task: str | None, commit_type: str) -> None:
    assert infer_type(files, task) == commit_type


def test_infer_type_reads_the_branch_name() -> None:
    assert infer_type([staged("src/a.py")], None, "agent/fix-login") == "fix"


@pytest.mark.parametrize(
    ("paths", "scope"),
    [
        (["packages/tta-cli/src/a.py", "packages/tta-cli/tests/t.py"], "tta-cli"),
        (["src/mypkg/a.py", "src/mypkg/b/c.py"], "mypkg"),
        (["web/a.ts", "web/b/c.ts"], "web"),
        (["src/a.py", "tests/b.py"], None),
        (["README.md"], None),
        (["packages/a/x.py", "packages/b/y.py"], None),
    ],
)
def test_infer_scope(paths: list[str], scope: str | None) -> None:
    assert infer_scope([staged(p) for p in paths]) == scope


def test_draft_message_header_and_body() -> None:
    files = [staged("packages/core/src/x.py", "A"), staged("packages/core/tests/test_x.py", "A")]
    draft = draft_message(files, task="Add the X parser.", branch="agent/x")
    assert draft.header == "feat(core): add the X parser"
    message = draft.render()
    assert message.startswith("feat(core): add the X parser\n\nFiles:\n")
    assert "- add packages/core/src/x.py (+1 -0)" in message


def test_draft_message_drops_a_repeated_type_word_and_bounds_the_header() -> None:
    draft = draft_message([staged("src/a.py")], task="Fix " + "very " * 30 + "long bug")
    assert draft.header.startswith("fix: very very")
    assert len(draft.header) <= 72


def test_draft_message_without_task_names_the_file() -> None:
    assert draft_message([staged("src/a.py", "D")]).subject == "remove src/a.py"
    assert draft_message([staged("a"), staged("b")]).subject == "update 2 files"
