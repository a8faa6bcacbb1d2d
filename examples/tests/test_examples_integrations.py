"""The integrations examples run offline, as a user runs them, and do what they print."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

import postgres_for_tests as pg
from tta_dev_primitives import ParallelPrimitive

EXAMPLES = Path(__file__).resolve().parents[1] / "integrations"
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
TASK_BRANCH = "agent/add-a-word-count-helper"
LEAKY_BRANCH = "agent/load-the-storage-settings"


def run(script: str, tmp_path: Path, *args: str, **env: str) -> str:
    """Run an example in a fresh process; its temporary files go under ``tmp_path``."""
    environment = {**os.environ, "TMPDIR": str(tmp_path), **env}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def kept(out: str) -> str:
    match = re.search(r"^kept: (\S+)", out, re.M)
    assert match is not None, out
    return match.group(1)


def note_id(out: str) -> str:
    match = re.search(r"valid token\s+-> 201 note (\w+), rows written", out)
    assert match is not None, out
    return match.group(1)


def refusals(out: str) -> list[str]:
    return re.findall(r"-> (\d{3} \w+Error):", out)


def sqlite_rows(path: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id, author, body FROM notes").fetchall()


def test_notes_without_postgres_write_the_valid_note_to_sqlite_only(tmp_path: Path) -> None:
    out = run(
        "authenticated_notes.py",
        tmp_path,
        "--keep",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{pg.free_port()}/postgres",
    )
    assert "is not reachable, so notes go to SQLite only" in out
    assert "rows written [1]" in out  # one store: SQLite
    assert refusals(out) == [
        "401 TokenExpiredError",
        "401 SignatureInvalidError",
        "403 InsufficientScopeError",
    ]
    database = kept(out)
    assert Path(database).is_relative_to(tmp_path)
    assert sqlite_rows(database) == [(note_id(out), "ada", "from the valid token")]


def test_notes_leave_no_file_behind_without_keep(tmp_path: Path) -> None:
    out = run(
        "authenticated_notes.py",
        tmp_path,
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{pg.free_port()}/postgres",
    )
    assert "-> 201 note" in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.needs("postgresql")
def test_notes_write_the_valid_note_to_postgres_and_sqlite(tmp_path: Path) -> None:
    with pg.test_database() as url:
        out = run("authenticated_notes.py", tmp_path, "--keep", DATABASE_URL=url)
        schema = re.search(r"^kept: \S+ and schema (\w+)$", out, re.M)
        assert schema is not None, out
        assert "rows written [1, 1]" in out
        assert len(refusals(out)) == 3
        expected = [(note_id(out), "ada", "from the valid token")]
        assert sqlite_rows(kept(out)) == expected
        with psycopg.connect(url) as conn:
            table = f'"{schema.group(1)}".notes'
            rows = conn.execute(f"SELECT id, author, body FROM {table}").fetchall()
        assert rows == expected

        again = run("authenticated_notes.py", tmp_path, DATABASE_URL=url)
        used = re.search(r"^PostgreSQL: .*, schema (\w+)$", again, re.M)
        assert used is not None, again
        with psycopg.connect(url) as conn:
            schemas = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'notes_example_%'"
            ).fetchall()
        assert schemas == [(schema.group(1),)]  # the second run dropped its own
        assert used.group(1) != schema.group(1)


def load_notes_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "authenticated_notes_example", EXAMPLES / "authenticated_notes.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_the_endpoint_refuses_a_missing_and_an_unsigned_token(tmp_path: Path) -> None:
    example = load_notes_example()
    auth, calls = example.identity_provider()
    db = example.SQLitePrimitive(tmp_path / "notes.db")
    await db.run(example.TABLE.format("notes"))
    endpoint = auth >> example.take_note >> ParallelPrimitive([example.insert_into(db, "notes")])
    claims = {"sub": "eve", "scope": "notes:write", "iss": example.ISSUER, "exp": 4102444800}
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    body = json.dumps({"text": "hi"}).encode()
    valid = {"Authorization": f"Bearer {calls[0][1]}"}
    try:
        missing = await example.answer(endpoint, {"Content-Type": "application/json"}, body)
        bare = await example.answer(endpoint, {"Authorization": f"Bearer {unsigned}"}, body)
        garbled = await example.answer(endpoint, valid, b"text=hi")
        stored = await example.answer(endpoint, valid, body)
        rows = await db.fetch_all("SELECT author, body FROM notes")
    finally:
        await db.aclose()
    assert (missing[0], missing[1]["error"]) == (401, "TokenMissingError")
    assert bare[0] == 401
    assert unsigned not in json.dumps(bare[1])  # the answer never echoes the token
    assert (garbled[0], garbled[1]["error"]) == (400, "BadRequest")
    assert (stored[0], stored[1]["rows_written"]) == (201, [1])
    assert rows == [{"author": "ada", "body": "hi"}]


async def test_a_failed_write_answers_503_and_says_what_failed(tmp_path: Path) -> None:
    example = load_notes_example()
    auth, calls = example.identity_provider()
    db = example.SQLitePrimitive(tmp_path / "notes.db")  # no notes table: the insert fails
    endpoint = auth >> example.take_note >> ParallelPrimitive([example.insert_into(db, "notes")])
    headers = {"Authorization": f"Bearer {calls[0][1]}"}
    try:
        status, body = await example.answer(endpoint, headers, b'{"text": "hi"}')
    finally:
        await db.aclose()
    assert (status, body["error"]) == (503, "QuerySyntaxError")
    assert "notes" in body["detail"]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_coding_agent_pushes_its_branch_and_commits_no_secret(tmp_path: Path) -> None:
    # A hostile user config: signing that cannot work, and someone else's identity.
    hostile = tmp_path / "hostile.gitconfig"
    hostile.write_text("[commit]\n\tgpgsign = true\n[user]\n\tname = Not The Agent\n")
    out = run(
        "coding_agent_git.py",
        tmp_path,
        "--keep",
        GIT_CONFIG_GLOBAL=str(hostile),
        GIT_AUTHOR_NAME="Someone Else",
    )
    folder = Path(kept(out))
    remote, work = folder / "remote.git", folder / "work"
    refs = dict(
        line.split(" ", 1)
        for line in git(remote, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    )
    # Pushed, then merged by the maintainer (a fast-forward): main is the task's commit.
    assert set(refs) == {f"refs/heads/{TASK_BRANCH}", "refs/heads/main"}
    task_sha = refs[f"refs/heads/{TASK_BRANCH}"]
    assert refs["refs/heads/main"] == task_sha
    message = git(remote, "log", "-1", "--format=%s%n%an", task_sha).splitlines()
    assert message == ["feat: add a word count helper", "Example Agent"]
    assert git(remote, "show", "--name-only", "--format=", task_sha) == "src/words.py"
    assert "    | feat: add a word count helper" in out

    # The leaky task: refused, nothing committed anywhere, the key not printed.
    assert "refused (SecretsFoundError)" in out
    assert "src/settings.py:2 (AWS Access Key)" in out
    assert AWS_KEY_ID not in out
    assert git(work, "rev-parse", LEAKY_BRANCH) == task_sha
    assert git(work, "log", "--all", "--format=%H", "--", "src/settings.py") == ""
    assert git(remote, "log", "--all", "--format=%H", "--", "src/settings.py") == ""
    assert "a push to main: refused (ProtectedBranchError)" in out
    assert "the remote's branches are unchanged: True" in out

    # The dry run named the merged branch and deleted nothing.
    assert f"would delete here: {TASK_BRANCH}" in out
    assert f"would delete on the remote: origin/{TASK_BRANCH}" in out
    assert git(work, "rev-parse", f"refs/heads/{TASK_BRANCH}") == task_sha
    assert f"refs/heads/{TASK_BRANCH}" in git(remote, "for-each-ref", "--format=%(refname)")


def test_coding_agent_leaves_no_folder_behind_without_keep(tmp_path: Path) -> None:
    out = run("coding_agent_git.py", tmp_path)
    assert "4. cleanup, dry run" in out
    assert list(tmp_path.iterdir()) == []
