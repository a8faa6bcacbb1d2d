"""TLS to Vault as the Vault CLI configures it: CA file or directory, client certificate.

The variables are the CLI's own, so one environment serves both:

=====================  ==============================================================
``VAULT_CACERT``       a PEM file of CA certificates to trust for the server
``VAULT_CAPATH``       a directory of PEM CA certificate files (every file is loaded,
                       as the CLI does; no ``c_rehash`` names needed)
``VAULT_CLIENT_CERT``  a PEM client certificate, for servers that ask for one
``VAULT_CLIENT_KEY``   its private key (PEM); may be left out if the cert file holds it
``VAULT_SKIP_VERIFY``  ``true``: do not verify the server's certificate (logged loudly
                       as a warning: anyone on the path can read the secrets)
=====================  ==============================================================

With ``VAULT_CACERT`` or ``VAULT_CAPATH``, only those CAs are trusted (as by the CLI);
without, the server is verified as httpx does by default (``SSL_CERT_FILE``,
``SSL_CERT_DIR``, else certifi's bundle).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

__all__ = ["TRUE_VALUES", "tls_advice", "vault_ssl_context"]

logger = logging.getLogger("tta_secrets.vault")

#: What the Vault CLI takes as true for ``VAULT_SKIP_VERIFY`` (Go's ``strconv.ParseBool``).
TRUE_VALUES = frozenset({"1", "t", "true"})


def vault_ssl_context(
    *,
    ca_cert: str | None = None,
    ca_path: str | None = None,
    client_cert: str | None = None,
    client_key: str | None = None,
    skip_verify: bool = False,
) -> ssl.SSLContext:
    """The client TLS context for Vault; ``ValueError`` naming the variable that is wrong."""
    # With a CA of its own, trust that alone (verifying, nothing loaded yet), as the CLI.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if ca_cert or ca_path else _default_context()
    if ca_cert:
        _load_ca(context, Path(ca_cert).expanduser(), "VAULT_CACERT")
    if ca_path:
        directory = Path(ca_path).expanduser()
        if not directory.is_dir():
            raise ValueError(f"VAULT_CAPATH={ca_path!r} is not a directory of CA certificates")
        files = sorted(p for p in directory.iterdir() if p.is_file())
        if not files:
            raise ValueError(f"VAULT_CAPATH={ca_path!r} holds no certificate files")
        for file in files:
            _load_ca(context, file, "VAULT_CAPATH")
    if client_key and not client_cert:
        raise ValueError("VAULT_CLIENT_KEY is set without VAULT_CLIENT_CERT: set both")
    if client_cert:
        try:
            context.load_cert_chain(
                str(Path(client_cert).expanduser()),
                str(Path(client_key).expanduser()) if client_key else None,
            )
        except (OSError, ssl.SSLError) as error:
            raise ValueError(
                f"cannot load the client certificate VAULT_CLIENT_CERT={client_cert!r}"
                f"{f' with VAULT_CLIENT_KEY={client_key!r}' if client_key else ''} "
                f"({type(error).__name__}: {error}): both must be PEM files, the key unencrypted"
            ) from None
    if skip_verify:
        logger.warning(
            "VAULT_SKIP_VERIFY is set: the Vault server's TLS certificate is NOT verified, so "
            "anyone between this process and Vault can read or change the secrets. Use it only "
            "against a test server; set VAULT_CACERT to the CA that signed the server instead."
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _default_context() -> ssl.SSLContext:
    import os

    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _load_ca(context: ssl.SSLContext, file: Path, variable: str) -> None:
    try:
        context.load_verify_locations(cafile=str(file))
    except (OSError, ssl.SSLError) as error:
        raise ValueError(
            f"cannot load the CA certificate {variable}={str(file)!r} "
            f"({type(error).__name__}: {error}): it must be a PEM file"
        ) from None


def tls_advice(error: BaseException) -> str | None:
    """What to set when ``error`` (a failed connection) is a TLS failure; else ``None``."""
    seen: set[int] = set()
    current: BaseException | None = error
    text = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return _UNTRUSTED
        text += f" {current}"
        current = current.__cause__ or current.__context__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return _UNTRUSTED
    if "certificate required" in text.lower() or "CERTIFICATE_REQUIRED" in text:
        return (
            "the server asks for a client certificate: set VAULT_CLIENT_CERT and "
            "VAULT_CLIENT_KEY to one its CA signed"
        )
    if "SSL" in text or "TLS" in text:
        return (
            f"the TLS handshake failed ({text.strip()[:200]}): check VAULT_CACERT, "
            "VAULT_CAPATH, VAULT_CLIENT_CERT and VAULT_CLIENT_KEY"
        )
    return None


_UNTRUSTED = (
    "the server's TLS certificate is not trusted: set VAULT_CACERT (a PEM file) or "
    "VAULT_CAPATH (a directory) to the CA that signed it"
)
