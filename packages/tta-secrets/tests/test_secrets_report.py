import tta_secrets
from tta_secrets import (
    SecretLoader,
    SecretSource,
    VaultSealedError,
    provider_status,
    secret_status,
    set_default_loader,
)


class DictSource(SecretSource):
    def __init__(self, label, values, error=None):
        self._label = label
        self.values = values
        self.error = error

    @property
    def label(self):
        return self._label

    def lookup(self, name):
        if self.error is not None and name not in self.values:
            raise self.error
        return self.values.get(name)


KEYS = {
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "ollama": (),
}


def test_provider_status_reports_configured_missing_and_source_never_the_value():
    loader = SecretLoader([
        DictSource("env", {"OPENAI_API_KEY": "sk-openai-value-0001"}),
        DictSource("vault", {"GOOGLE_API_KEY": "google-value-000000001"}),
    ])  # fmt: skip
    statuses = {s.name: s for s in provider_status(KEYS, loader)}
    assert list(statuses) == ["openai", "gemini", "anthropic", "ollama"]
    assert statuses["openai"].configured
    assert statuses["openai"].source == "env#OPENAI_API_KEY"
    assert statuses["gemini"].source == "vault#GOOGLE_API_KEY"
    assert statuses["gemini"].preview == "****0001"
    assert not statuses["anthropic"].configured
    assert statuses["anthropic"].source is None
    assert statuses["anthropic"].names == ("ANTHROPIC_API_KEY",)
    assert statuses["ollama"].configured
    assert not statuses["ollama"].key_required
    text = repr(list(statuses.values()))
    assert "sk-openai-value-0001" not in text
    assert "google-value-000000001" not in text


def test_a_failing_source_is_reported_per_provider_not_raised():
    loader = SecretLoader([
        DictSource("env", {"OPENAI_API_KEY": "sk-openai-value-0001"}),
        DictSource("vault", {}, error=VaultSealedError("Vault is sealed")),
    ])  # fmt: skip
    statuses = {s.name: s for s in provider_status(KEYS, loader)}
    assert statuses["openai"].configured
    assert not statuses["anthropic"].configured
    assert statuses["anthropic"].error == "VaultSealedError: Vault is sealed"


def test_secret_status_uses_the_default_loader():
    set_default_loader(SecretLoader([DictSource("env", {"DATABASE_URL": "postgres://u:p@h/db"})]))
    statuses = secret_status(["DATABASE_URL", "SUPABASE_KEY"])
    assert [(s.name, s.configured, s.source) for s in statuses] == [
        ("DATABASE_URL", True, "env#DATABASE_URL"),
        ("SUPABASE_KEY", False, None),
    ]


def test_the_integrations_report_covers_every_catalog_provider():
    from tta_dev_integrations.llm.keys import provider_key_status
    from tta_dev_integrations.llm.providers.registry import PROVIDER_SPECS

    loader = SecretLoader([DictSource("env", {"HF_TOKEN": "hf-value-0000000001"})])
    statuses = provider_key_status(loader)
    assert [s.name for s in statuses] == list(PROVIDER_SPECS)
    by_name = {s.name: s for s in statuses}
    assert by_name["huggingface"].source == "env#HF_TOKEN"
    assert by_name["gemini"].names == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert not by_name["local"].key_required


def test_public_surface():
    assert tta_secrets.__all__ == sorted(tta_secrets.__all__)
    for name in tta_secrets.__all__:
        assert getattr(tta_secrets, name) is not None
    assert {
        "Secret", "SecretLoader", "default_loader", "provider_status", "EnvSource",
        "DotenvSource", "VaultSource", "SecretNotFoundError", "VaultAuthError",
        "VaultSealedError", "VaultPathNotFoundError", "VaultUnavailableError",
    } <= set(tta_secrets.__all__)  # fmt: skip


def test_redaction_names_the_observability_setup_imports():
    from tta_secrets.redaction import RedactingLogFilter, RedactingSpanProcessor

    assert RedactingLogFilter.__module__ == "tta_secrets.redaction"
    assert RedactingSpanProcessor.__name__ == "RedactingSpanProcessor"


def test_error_tree():
    from tta_secrets import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.SecretsError)
    assert issubclass(errors.VaultPathNotFoundError, errors.SecretNotFoundError)
    assert issubclass(errors.VaultPathNotFoundError, errors.VaultError)
    assert issubclass(errors.SecretNotFoundError, LookupError)
    assert not issubclass(errors.VaultSealedError, errors.SecretNotFoundError)


def test_importing_tta_secrets_pulls_in_neither_integrations_nor_the_otel_sdk():
    import subprocess
    import sys

    code = (
        "import sys, tta_secrets, tta_secrets.redaction; "
        "bad = [m for m in sys.modules if m.startswith(('tta_dev', 'opentelemetry.sdk'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
