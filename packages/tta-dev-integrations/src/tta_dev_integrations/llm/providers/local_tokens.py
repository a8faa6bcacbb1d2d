"""Count a chat request's input tokens the way llama.cpp's chat completion does.

``create_chat_completion`` renders the messages with the model's chat template (the
role markers, the default system prompt, the generation prompt) and reports the
tokens of that text; a stream reports no usage at all. Counting only the messages'
text, as a stream's usage once did, gave 4 input tokens where the same request
without streaming reported 34. :func:`chat_prompt_tokens` renders the template the
same way the model's default chat handler does, so both paths report one count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["DEFAULT_TEMPLATE_FORMAT", "chat_prompt_tokens"]

#: The chat format llama-cpp-python gives a model whose GGUF carries its own template.
DEFAULT_TEMPLATE_FORMAT = "chat_template.default"


def chat_prompt_tokens(model: Llama, messages: Sequence[dict[str, Any]]) -> int | None:
    """Tokens of ``messages`` rendered with ``model``'s own chat template, or ``None``.

    ``None`` when the model is driven by another chat format or handler (a named
    format such as ``llama-2``, or a custom handler): the caller then counts otherwise.
    """
    template = model.metadata.get("tokenizer.chat_template")
    if model.chat_handler is not None or model.chat_format != DEFAULT_TEMPLATE_FORMAT:
        return None
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos_id, bos_id = model.token_eos(), model.token_bos()
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(model, eos_id),
        bos_token=_token_text(model, bos_id),
        stop_token_ids=[eos_id],
    )
    rendered = formatter(messages=list(messages))  # type: ignore[arg-type]
    tokens = model.tokenize(
        rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
    )
    return len(tokens)


def _token_text(model: Llama, token: int) -> str:
    # As Llama.__init__ does for the template's eos_token and bos_token.
    return model._model.token_get_text(token) if token != -1 else ""
