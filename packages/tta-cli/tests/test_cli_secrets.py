import json
import os
import subprocess
import sys
import threading

import pytest
import typer
from typer.testing import CliRunner

from tta_cli.commands import secrets as secrets_command
from tta_secrets import SecretLoader, default_loader, reset_default_loader, set_default_loader
from tta_secrets.redaction import clear_registered_secrets

OPENAI = "sk-cli-value-000000000000wxyz"
DB_URL = "postgresql://app:db-password-123@db.internal/app"
VAULT_TOKEN = "cli-vault-token-0000000009"


@pytest.fixture(autouse=True)
def _clean():
    clear_registered_secrets()
    reset_default_loader()
    yield
    reset_default_loader()
    clear_registered_secrets()


@pytest.fixture
def app():
    app = typer.Typer()

    @app.callback()
    def _root():
        """Test root."""

    secrets_command.register(app)
    return app


def use_loader(tmp_path, environ, dotenv=""):
    (tmp_path / ".env").write_text(dotenv)
    loader = SecretLoader.from_environment(environ, cwd=tmp_path)
    set_default_loader(loader)
    return loader


def run(app, *args):
    return CliRunner().invoke(app, ["secrets", "check", *args], env={"COLUMNS": "250"})


def test_table_shows_every_provider_and_known_secret_masked(app, tmp_path):
    use_loader(
        tmp_path,
        {"OPENAI_API_KEY": OPENAI, "TTA_SECRETS_ORDER": "env,dotenv"},
        dotenv=f"DATABASE_URL={DB_URL}\n",
    )
    result = run(app)
    assert result.exit_code == 0, result.output
    out = result.output
    for provider in ("openai", "anthropic", "gemini", "openrouter", "huggingface", "ollama"):
        assert provider in out
    for name in secrets_command.KNOWN_SECRETS:
        assert name in out
    assert "env:OPENAI_API_KEY" in out
    assert f"dotenv:{tmp_path / '.env'}#DATABASE_URL" in out
    assert "****wxyz" in out
    assert "missing (GEMINI_API_KEY or GOOGLE_API_KEY)" in out
    assert "no key needed" in out
    assert OPENAI not in out
    assert "db-password-123" not in out


def test_json_report(app, tmp_path):
    use_loader(
        tmp_path,
        {"TTA_SECRETS_ORDER": "env,dotenv", "VAULT_NAMESPACE": "team-a"},
        dotenv=f"ANTHROPIC_API_KEY={OPENAI}\nVAULT_TOKEN={VAULT_TOKEN}\n",
    )
    result = run(app, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["sources"] == ["env", f"dotenv:{tmp_path / '.env'}"]
    rows = {(r["kind"], r["name"]): r for r in report["secrets"]}
    anthropic = rows[("provider", "anthropic")]
    assert anthropic["status"] == "configured"
    assert anthropic["source"] == f"dotenv:{tmp_path / '.env'}#ANTHROPIC_API_KEY"
    assert anthropic["value"] == "****wxyz"
    assert rows[("provider", "openai")]["status"] == "missing"
    assert rows[("provider", "local")]["status"] == "no key needed"
    assert rows[("secret", "SUPABASE_KEY")]["status"] == "missing"
    assert rows[("setting", "VAULT_NAMESPACE")]["value"] == "team-a"  # not secret: shown
    token = rows[("setting", "VAULT_TOKEN")]
    assert token["status"] == "configured"
    assert token["value"] == "****0009"
    assert OPENAI not in result.output
    assert VAULT_TOKEN not in result.output


def test_a_failing_vault_is_reported_not_a_crash(app, tmp_path):
    use_loader(
        tmp_path,
        {"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": VAULT_TOKEN, "TTA_VAULT_TTL": "1"},
    )
    vault = default_loader().sources[-1]
    vault.client.retries = 0  # connection refused fails at once instead of after backoff
    result = run(app, "--json")
    assert result.exit_code == 1, result.output  # a failed source is a failed check
    report = json.loads(result.stdout)
    rows = {(r["kind"], r["name"]): r for r in report["secrets"]}
    assert rows[("provider", "openai")]["status"] == "error"
    assert "VaultUnavailableError" in rows[("provider", "openai")]["error"]
    assert report["failed_sources"][0]["source"] == "vault:secret/tta"
    assert "VaultUnavailableError" in str(result.exception)
    assert VAULT_TOKEN not in result.output


def test_bad_settings_are_one_readable_error(app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TTA_SECRETS_ORDER", "env,bogus")
    result = run(app)
    assert result.exit_code == 1
    assert "TTA_SECRETS_ORDER" in str(result.exception)


def test_help_lists_check(app):
    result = CliRunner().invoke(app, ["secrets", "--help"])
    assert result.exit_code == 0
    assert "check" in result.output


_STANDALONE = """
import sys, typer
from tta_cli.commands.secrets import register
app = typer.Typer()
@app.callback()
def root():
    \"\"\"tta.\"\"\"
register(app)
app(args=sys.argv[1:], prog_name="tta")
"""


def test_real_process_with_the_real_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "TTA_", "OPENAI"))}
    env.update({"OPENAI_API_KEY": OPENAI, "COLUMNS": "250"})
    (tmp_path / ".env").write_text(f"SUPABASE_KEY={VAULT_TOKEN}\n")
    result = subprocess.run(
        [sys.executable, "-c", _STANDALONE, "secrets", "check", "--json"],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)["secrets"]}
    assert rows["openai"]["source"] == "env:OPENAI_API_KEY"
    assert rows["SUPABASE_KEY"]["source"] == f"dotenv:{tmp_path / '.env'}#SUPABASE_KEY"
    assert OPENAI not in result.stdout
    assert VAULT_TOKEN not in result.stdout


class FakeVault:
    """A loopback Vault that answers every request with one status (503 sealed, 403...)."""

    def __init__(self, status, body):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "error", "advice"),
    [
        (503, {"errors": ["Vault is sealed"]}, "VaultSealedError", "unseal"),
        (403, {"errors": ["permission denied"]}, "VaultAuthError", "VAULT_TOKEN"),
    ],
    ids=["sealed", "refusing-the-token"],
)
def test_a_sealed_or_refusing_vault_fails_the_check_and_says_how_to_fix_it(
    app, tmp_path, status, body, error, advice
):
    vault = FakeVault(status, body)
    try:
        use_loader(tmp_path, {"VAULT_ADDR": vault.url, "VAULT_TOKEN": VAULT_TOKEN})
        result = run(app)
    finally:
        vault.close()
    assert result.exit_code == 1, result.output
    message = str(result.exception)
    assert "vault:secret/tta" in message
    assert error in message
    assert advice in message
    assert VAULT_TOKEN not in result.output + message


def test_only_what_is_needed_and_absent_is_missing(app, tmp_path):
    use_loader(tmp_path, {"TTA_SECRETS_ORDER": "env,dotenv"})
    result = run(app, "--json")
    assert result.exit_code == 0, result.output
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.output)["secrets"]}
    settings = {name: row for (kind, name), row in rows.items() if kind == "setting"}
    assert not [n for n, row in settings.items() if row["status"] == "missing"]
    assert settings["TTA_VAULT_MOUNT"]["status"] == "default"
    assert settings["TTA_VAULT_MOUNT"]["value"] == "secret"
    assert settings["TTA_DOTENV"]["value"] == ".env"
    assert settings["VAULT_ADDR"]["status"] == "not set"
    assert settings["VAULT_TOKEN"]["status"] == "not set"
    assert rows[("provider", "openai")]["status"] == "missing"  # a key is what it needs
    assert rows[("secret", "DATABASE_URL")]["status"] == "missing"
