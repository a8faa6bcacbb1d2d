"""A small, synchronous Vault KV v2 client: token or AppRole, bounded retries, typed errors.

Only what the loader needs: read a secret (latest or a given version) and write one
(optionally check-and-set). Every HTTP status that stops us becomes one error of
:mod:`tta_secrets.errors`, mapped in :func:`_error_for` and nowhere else.

Retries: connection failures and the statuses in :data:`RETRIED_STATUSES` (rate
limited, and 5xx other than 503) are retried ``retries`` times with doubling
backoff, then :class:`~tta_secrets.errors.VaultUnavailableError`. 503 means
sealed, which waiting a second does not fix, so it fails at once. A write is
retried only when the request cannot have reached the server (a connect error),
so a retry never writes twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # httpx loads on the first Vault request: most processes never talk to Vault.
    import httpx

from tta_secrets.errors import (
    VaultAuthError,
    VaultCheckAndSetError,
    VaultError,
    VaultPathNotFoundError,
    VaultRequestError,
    VaultSealedError,
    VaultUnavailableError,
)
from tta_secrets.redaction import register_secret, url_without_credentials

__all__ = ["RETRIED_STATUSES", "KVVersion", "VaultClient"]

#: Statuses retried with backoff: rate limited, internal error, bad gateway, gateway timeout.
RETRIED_STATUSES = frozenset({429, 500, 502, 504})

#: A token from an AppRole login is renewed (by logging in again) at this share of its TTL.
_RENEW_AT = 0.8


@dataclass(frozen=True, slots=True)
class KVVersion:
    """One version of a KV v2 secret: its fields (values are ``str``), version, creation time."""

    data: Mapping[str, str] = field(repr=False)
    version: int
    created_time: str


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _messages(response: httpx.Response) -> tuple[list[str], Any]:
    try:
        body = response.json()
    except ValueError:
        return [response.text[:200]] if response.text else [], None
    errors = body.get("errors") if isinstance(body, dict) else None
    return [str(e) for e in errors] if isinstance(errors, list) else [], body


def _not_found(mount: str, path: str, body: Any, errors: list[str]) -> VaultPathNotFoundError:
    where = f"{mount}/{path}"
    data = body.get("data") if isinstance(body, dict) else None
    metadata = data.get("metadata") if isinstance(data, dict) else None
    if isinstance(metadata, dict):
        version = metadata.get("version")
        if metadata.get("destroyed"):
            return VaultPathNotFoundError(
                f"version {version} of Vault secret {where} was destroyed and cannot be "
                f"restored; write a new version (`bao kv put -mount={mount} {path} KEY=...`)",
                path=where, destroyed=True, version=version,
            )  # fmt: skip
        if metadata.get("deletion_time"):
            return VaultPathNotFoundError(
                f"version {version} of Vault secret {where} was soft-deleted at "
                f"{metadata['deletion_time']}; restore it with `bao kv undelete -mount={mount} "
                f"-versions={version} {path}` (or POST /v1/{mount}/undelete/{path} "
                f'{{"versions": [{version}]}})',
                path=where, deleted=True, version=version,
            )  # fmt: skip
    detail = f" ({'; '.join(errors)})" if errors else ""
    return VaultPathNotFoundError(
        f"no Vault secret at {where}{detail}: write it with `bao kv put -mount={mount} {path} "
        "KEY=value`, or check TTA_VAULT_MOUNT, TTA_VAULT_PATH and VAULT_NAMESPACE",
        path=where,
    )


def _error_for(
    response: httpx.Response, what: str, *, mount: str = "", path: str = ""
) -> VaultError:
    status = response.status_code
    errors, body = _messages(response)
    detail = "; ".join(errors) or "no detail"
    if status == 404 and mount:
        return _not_found(mount, path, body, errors)
    if status == 403:
        return VaultAuthError(
            f"Vault refused {what} (403: {detail}): check VAULT_TOKEN or the AppRole, and that "
            "its policy grants this path",
            status=status,
        )
    if status == 503:
        return VaultSealedError(
            f"Vault is sealed ({what} answered 503: {detail}): unseal it (`bao operator unseal`) "
            "before secrets can be read",
            status=status,
        )
    if status == 400 and any("check-and-set" in e for e in errors):
        return VaultCheckAndSetError(
            f"Vault refused {what}: {detail}; read the current version and retry with it as cas",
            status=status,
        )
    return VaultRequestError(f"Vault refused {what} ({status}: {detail})", status=status)


class VaultClient:
    """A Vault server's KV v2 API, authenticated with a token or an AppRole.

    Give ``token``, or ``role_id`` and ``secret_id`` (logged in on first use at
    ``auth/{auth_mount}/login`` and again when the token nears its TTL or is refused).
    ``namespace`` is sent as ``X-Vault-Namespace`` on every request. The token and
    the secret ID are registered for redaction and never shown.
    """

    def __init__(
        self,
        addr: str,
        *,
        token: str | None = None,
        role_id: str | None = None,
        secret_id: str | None = None,
        namespace: str | None = None,
        auth_mount: str = "approle",
        timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.25,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        ca_cert: str | None = None,
        ca_path: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        skip_verify: bool = False,
    ) -> None:
        if token and (role_id or secret_id):
            raise ValueError(
                "give Vault either a token or an AppRole (role_id, secret_id), not both"
            )
        if not token and not (role_id and secret_id):
            raise ValueError(
                "Vault needs a token (VAULT_TOKEN) or an AppRole "
                "(VAULT_ROLE_ID and VAULT_SECRET_ID)"
            )
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.addr = addr.rstrip("/")
        #: The address for messages and reprs: without a user name or password in it.
        self.shown_addr = url_without_credentials(self.addr)
        self.namespace = namespace or None
        self.auth_mount = auth_mount.strip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self._static_token = token or None
        self._role_id = role_id
        self._secret_id = secret_id
        for credential in (token, secret_id):
            if credential:
                register_secret(credential)
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._login_token: tuple[str, float] | None = None  # token, renew-after (clock)
        headers = {"X-Vault-Namespace": self.namespace} if self.namespace else {}
        import httpx

        from tta_secrets.sources.vault_tls import vault_ssl_context

        # TLS as the Vault CLI sets it up (VAULT_CACERT, VAULT_CAPATH, client cert, ...).
        tls = vault_ssl_context(
            ca_cert=ca_cert,
            ca_path=ca_path,
            client_cert=client_cert,
            client_key=client_key,
            skip_verify=skip_verify,
        )
        self._http = httpx.Client(
            base_url=f"{self.addr}/v1/",
            timeout=httpx.Timeout(timeout_s),
            headers=headers,
            transport=transport,
            verify=tls,
        )

    def __repr__(self) -> str:
        auth = "token" if self._static_token else "approle"
        shown = self.shown_addr
        return f"VaultClient(addr={shown!r}, auth={auth!r}, namespace={self.namespace!r})"

    @property
    def uses_approle(self) -> bool:
        """Whether this client logs in with an AppRole."""
        return self._static_token is None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def read(self, mount: str, path: str, version: int | None = None) -> KVVersion:
        """Read ``path`` of the KV v2 mount ``mount`` (the latest version, or ``version``)."""
        params = {"version": str(version)} if version is not None else None
        response = self._authenticated(
            "GET", f"{mount}/data/{path}", what=f"reading {mount}/{path}",
            mount=mount, path=path, params=params,
        )  # fmt: skip
        try:
            data = response.json()["data"]
            fields = data["data"] or {}
            return KVVersion(
                {key: _as_text(value) for key, value in fields.items()},
                int(data["metadata"]["version"]),
                str(data["metadata"].get("created_time", "")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise VaultRequestError(
                f"Vault's answer for {mount}/{path} is not a KV v2 secret "
                f"({type(error).__name__}); is {mount!r} a KV version 2 mount?"
            ) from None

    def write(
        self, mount: str, path: str, data: Mapping[str, str], *, cas: int | None = None
    ) -> int:
        """Write a new version of ``path``; returns its number.

        ``cas=0`` writes only if the secret does not exist; ``cas=N`` only if the
        current version is N (else :class:`~tta_secrets.errors.VaultCheckAndSetError`).
        """
        body: dict[str, Any] = {"data": dict(data)}
        if cas is not None:
            body["options"] = {"cas": cas}
        response = self._authenticated(
            "POST", f"{mount}/data/{path}", what=f"writing {mount}/{path}", json_body=body,
        )  # fmt: skip
        try:
            return int(response.json()["data"]["version"])
        except (ValueError, KeyError, TypeError) as error:
            raise VaultRequestError(
                f"Vault's answer to writing {mount}/{path} has no version ({type(error).__name__})"
            ) from None

    def _authenticated(
        self,
        method: str,
        url: str,
        *,
        what: str,
        mount: str = "",
        path: str = "",
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        response = self._send(method, url, token=self._token(), params=params, json_body=json_body)
        if response.status_code == 403 and self.uses_approle:
            # The login token may have expired or been revoked: log in once more.
            with self._lock:
                self._login_token = None
            response = self._send(
                method, url, token=self._token(), params=params, json_body=json_body
            )
        if response.status_code >= 400:
            raise _error_for(response, what, mount=mount, path=path)
        return response

    def _token(self) -> str:
        if self._static_token is not None:
            return self._static_token
        with self._lock:
            if self._login_token is not None and self._clock() < self._login_token[1]:
                return self._login_token[0]
            token, lease_s = self._login()
            renew_after = self._clock() + lease_s * _RENEW_AT if lease_s > 0 else float("inf")
            self._login_token = (token, renew_after)
            return token

    def _login(self) -> tuple[str, float]:
        response = self._send(
            "POST", f"auth/{self.auth_mount}/login", token=None,
            json_body={"role_id": self._role_id, "secret_id": self._secret_id},
        )  # fmt: skip
        if response.status_code >= 400:
            errors, _ = _messages(response)
            detail = "; ".join(errors) or "no detail"
            if response.status_code in (400, 401, 403):
                raise VaultAuthError(
                    f"Vault refused the AppRole login at auth/{self.auth_mount} "
                    f"({response.status_code}: {detail}): check VAULT_ROLE_ID and VAULT_SECRET_ID",
                    status=response.status_code,
                )
            raise _error_for(response, f"the AppRole login at auth/{self.auth_mount}")
        try:
            auth = response.json()["auth"]
            token = str(auth["client_token"])
            lease_s = float(auth.get("lease_duration") or 0)
        except (ValueError, KeyError, TypeError) as error:
            raise VaultRequestError(
                f"Vault's answer to the AppRole login has no token ({type(error).__name__})"
            ) from None
        register_secret(token)
        return token, lease_s

    def _send(
        self,
        method: str,
        url: str,
        *,
        token: str | None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        import httpx

        headers = {"X-Vault-Token": token} if token else None
        idempotent = method == "GET"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(min(self.backoff_s * 2 ** (attempt - 1), 5.0))
            try:
                response = self._http.request(
                    method, url, params=params, json=json_body, headers=headers
                )
            except httpx.TransportError as error:
                from tta_secrets.sources.vault_tls import tls_advice

                advice = tls_advice(error)
                if advice is not None:  # trying again meets the same certificate
                    raise VaultUnavailableError(f"Vault at {self.shown_addr}: {advice}") from None
                if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
                    last = f"{type(error).__name__}"
                    continue
                if not idempotent:
                    raise VaultUnavailableError(
                        f"Vault at {self.shown_addr} failed during {method} {url} "
                        f"({type(error).__name__}); the write may or may not have happened"
                    ) from None
                last = f"{type(error).__name__}"
                continue
            if response.status_code in RETRIED_STATUSES and idempotent:
                last = f"HTTP {response.status_code}"
                continue
            return response
        raise VaultUnavailableError(
            f"Vault at {self.shown_addr} unreachable after {self.retries + 1} attempts ({last}): "
            "check VAULT_ADDR and that the server is running"
        )
