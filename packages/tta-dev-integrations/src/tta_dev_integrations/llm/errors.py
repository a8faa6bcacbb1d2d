"""Errors of the LLM layer, one tree, converted from HTTP and library errors in one place.

::

    TTAError (tta_dev_primitives)
    └── LLMError                        provider, model and HTTP status when known
        ├── AuthenticationError         401/403, or no key configured: names the variable
        ├── RateLimitError              429; ``retry_after`` seconds when the provider said
        ├── ProviderUnavailableError    5xx, connection refused, timeouts, read errors
        ├── BadRequestError             400/404/422: fix the request, retrying won't help
        │   ├── ContextLengthError      the prompt does not fit the model's context
        │   └── ContentFilterError      the provider refused the content
        ├── ResponseError               the provider answered something we cannot read
        │   └── StreamInterruptedError  the stream ended before it finished
        └── UnknownModelError           (also ValueError) an alias missing from the catalog

``RetryPrimitive`` retries what is transient: :data:`TRANSIENT_ERRORS`. Messages never
contain a key, a token or a URL's query string.
"""

from __future__ import annotations

from collections.abc import Sequence

from tta_dev_primitives import TTAError

__all__ = [
    "TRANSIENT_ERRORS",
    "AuthenticationError",
    "BadRequestError",
    "ContentFilterError",
    "ContextLengthError",
    "LLMError",
    "ProviderUnavailableError",
    "RateLimitError",
    "ResponseError",
    "StreamInterruptedError",
    "UnknownModelError",
]


class LLMError(TTAError):
    """Base of every LLM-layer error."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.message = message
        self.provider = provider
        self.model = model
        self.status_code = status_code
        super().__init__(message)

    def __str__(self) -> str:
        # Computed when shown: the provider fills in provider/model after an adapter
        # raised the error.
        where = " ".join(
            part
            for part in (
                self.provider and f"provider={self.provider}",
                self.model and f"model={self.model}",
                self.status_code and f"status={self.status_code}",
            )
            if part
        )
        return f"{self.message} [{where}]" if where else self.message


class AuthenticationError(LLMError):
    """The provider refused the credentials, or none were configured."""

    def __init__(
        self,
        message: str,
        *,
        env_vars: Sequence[str] = (),
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.env_vars = tuple(env_vars)
        if self.env_vars:
            names = " or ".join(self.env_vars)
            message = f"{message}; set {names} (e.g. `export {self.env_vars[0]}=...`)"
        super().__init__(message, provider=provider, model=model, status_code=status_code)


class RateLimitError(LLMError):
    """Too many requests; ``retry_after`` says how long the provider asked to wait."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = 429,
    ) -> None:
        self.retry_after = retry_after
        if retry_after is not None:
            message = f"{message}; retry after {retry_after:g}s"
        super().__init__(message, provider=provider, model=model, status_code=status_code)


class ProviderUnavailableError(LLMError):
    """The provider could not be reached or failed on its side (5xx, network, timeout)."""


class BadRequestError(LLMError):
    """The provider rejected the request itself; retrying the same request won't help."""


class ContextLengthError(BadRequestError):
    """The prompt (plus max_tokens) does not fit the model's context window."""


class ContentFilterError(BadRequestError):
    """The provider's safety system refused the prompt or the completion."""


class ResponseError(LLMError):
    """The provider's answer could not be read (malformed JSON, unexpected shape)."""


class StreamInterruptedError(ResponseError):
    """A streamed answer stopped before its end; ``partial_text`` is what arrived."""

    def __init__(
        self,
        message: str,
        *,
        partial_text: str = "",
        provider: str | None = None,
        model: str | None = None,
    ) -> None:
        self.partial_text = partial_text
        super().__init__(message, provider=provider, model=model)


class UnknownModelError(LLMError, ValueError):
    """A model alias that the catalog does not have."""

    def __init__(self, alias: str, known: Sequence[str]) -> None:
        self.alias = alias
        choices = ", ".join(sorted(known))
        super().__init__(
            f"unknown model {alias!r}; the catalog has: {choices}. "
            "Add it to your catalog file (TTA_CATALOG) to use it"
        )


TRANSIENT_ERRORS: tuple[type[LLMError], ...] = (
    RateLimitError,
    ProviderUnavailableError,
    StreamInterruptedError,
)
"""The errors worth retrying: ``RetryPrimitive(llm, retry_on=TRANSIENT_ERRORS)``."""
