"""One interface to every LLM: providers, the catalog, LLMPrimitive, UniversalLLMPrimitive.

>>> from tta_dev_integrations.llm import LLMPrimitive
>>> answer = await LLMPrimitive("local").execute("Say hi", WorkflowContext())  # doctest: +SKIP
"""

from tta_dev_integrations.llm.catalog import Catalog, ModelInfo, load_catalog
from tta_dev_integrations.llm.errors import (
    TRANSIENT_ERRORS,
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    LLMError,
    ProviderUnavailableError,
    RateLimitError,
    ResponseError,
    StreamInterruptedError,
    UnknownModelError,
)
from tta_dev_integrations.llm.primitive import LLMPrimitive, LLMStream, shared_provider
from tta_dev_integrations.llm.providers.base import Provider
from tta_dev_integrations.llm.providers.registry import PROVIDER_SPECS, create_provider
from tta_dev_integrations.llm.types import (
    ImagePart,
    LLMRequest,
    LLMResponse,
    Message,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)
from tta_dev_integrations.llm.universal import BudgetAlert, UniversalLLMPrimitive

__all__ = [
    "PROVIDER_SPECS",
    "TRANSIENT_ERRORS",
    "AuthenticationError",
    "BadRequestError",
    "BudgetAlert",
    "Catalog",
    "ContentFilterError",
    "ContextLengthError",
    "ImagePart",
    "LLMError",
    "LLMPrimitive",
    "LLMRequest",
    "LLMResponse",
    "LLMStream",
    "Message",
    "ModelInfo",
    "Provider",
    "ProviderUnavailableError",
    "RateLimitError",
    "ResponseError",
    "StreamInterruptedError",
    "TextPart",
    "Tool",
    "ToolCall",
    "UniversalLLMPrimitive",
    "UnknownModelError",
    "Usage",
    "create_provider",
    "load_catalog",
    "shared_provider",
]
