"""The most a paid request can cost: an upper bound on its input, a cap on its output.

``UniversalLLMPrimitive`` reserves this worst case before a paid call, and sends the
output cap with the request (``max_tokens`` and its per-provider spellings), so the
provider cannot bill more than was reserved.

**Input: an upper bound, not a guess.** Text counts one token per UTF-8 byte: the
byte-level BPE tokenizers of OpenAI and Anthropic never make a token shorter than a
byte, and SentencePiece (Gemini) falls back to one token per byte for what it does not
know. English runs about 4 bytes a token and Chinese about 3 bytes a character (about
one token), so the bound is 1 to 4 times the real count. System text, tool calls, tool
schemas (plus :data:`TOOLS_OVERHEAD_TOKENS` for the tool preamble a provider adds:
Anthropic documents 346 tokens), the JSON schema of structured output, and
:data:`MESSAGE_OVERHEAD_TOKENS` per message for role markers all count.

**Images** follow each provider's documented rule, from the image's size when its
bytes are at hand (PNG, JPEG, GIF, WebP headers), else the most that rule can give:

* Anthropic: ``width * height / 750`` tokens, at most 1,600 (larger images are scaled
  down to about 1.15 megapixels);
* OpenAI and OpenAI-compatible vendors: the larger of the tile rule of gpt-4o (85 + 170
  per 512-pixel tile after scaling into 2048x2048 and to 768 on the short side: at most
  1,445) and the patch rule of gpt-4.1 (a token per 32-pixel patch, at most 1,536),
  times the catalog's ``image_token_factor`` (gpt-4o-mini counts 33.34 times more);
* Gemini: 258 tokens up to 384 pixels a side, else 258 per 768-pixel tile; an image of
  unknown size counts :data:`GEMINI_UNKNOWN_IMAGE_TILES` tiles (3072x3072 pixels);
* any other provider (routers such as OpenRouter serve all three kinds): the largest.

**Output: a cap.** The caller's ``max_tokens``, else the model's ``max_output_tokens``
(catalog), lowered to what the money left (and the request's ``max_cost_usd``) pays
for, never below :data:`MIN_OUTPUT_TOKENS` (or the caller's smaller ``max_tokens``):
a model whose minimum does not fit is not called.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

from tta_dev_integrations.llm.budget.ledger import BudgetExceededError, to_micros
from tta_dev_integrations.llm.catalog import ModelInfo, PriceRef
from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.pricing import cost_of
from tta_dev_integrations.llm.types import ImagePart, LLMRequest, TextPart, Usage

__all__ = [
    "GEMINI_UNKNOWN_IMAGE_TILES",
    "MAX_USD",
    "MESSAGE_OVERHEAD_TOKENS",
    "MIN_OUTPUT_TOKENS",
    "TOOLS_OVERHEAD_TOKENS",
    "CostCapError",
    "SpendBound",
    "check_usd",
    "image_size",
    "image_tokens",
    "input_token_bound",
    "refuse_empty_prompt",
    "spend_bound",
]

MIN_OUTPUT_TOKENS = 256
"""The smallest output cap a paid call is made with (unless ``max_tokens`` asks less)."""

MESSAGE_OVERHEAD_TOKENS = 8
"""Tokens counted per message for the role markers and separators a provider adds."""

REQUEST_OVERHEAD_TOKENS = 16
"""Tokens counted per request for the reply's opening markers."""

TOOLS_OVERHEAD_TOKENS = 600
"""Tokens counted once when tools are offered (Anthropic's tool preamble is 346)."""

GEMINI_UNKNOWN_IMAGE_TILES = 16
"""768-pixel tiles counted for a Gemini image whose size cannot be read (3072x3072)."""

_ANTHROPIC_IMAGE_MAX = 1600
_OPENAI_TILE_MAX = 85 + 170 * 8
_OPENAI_PATCH_MAX = 1536
_GEMINI_TILE = 258
_DATA_URL = r"data:[^;,]*(;base64)?,(?P<data>.*)"  # compiled on first use, by re's cache


@dataclass(frozen=True, slots=True)
class SpendBound:
    """The worst case of one paid call: input bound, output cap, and their price."""

    input_tokens: int
    output_tokens: int
    usd: float


def input_token_bound(request: LLMRequest, model: ModelInfo) -> int:
    """At most how many input tokens ``request`` is billed on ``model`` (see the module)."""
    total = REQUEST_OVERHEAD_TOKENS
    for message in request.messages:
        total += MESSAGE_OVERHEAD_TOKENS + _utf8(message.tool_call_id or "")
        for part in message.parts:
            if isinstance(part, TextPart):
                total += _utf8(part.text)
            else:
                total += image_tokens(part, model)
        for call in message.tool_calls:
            total += MESSAGE_OVERHEAD_TOKENS + _utf8(call.id) + _utf8(call.name)
            total += _utf8(_json(call.arguments))
    if request.tools:
        total += TOOLS_OVERHEAD_TOKENS
        for tool in request.tools:
            total += MESSAGE_OVERHEAD_TOKENS + _utf8(tool.name) + _utf8(tool.description)
            total += _utf8(_json(tool.parameters))
    if request.response_format is not None:
        total += TOOLS_OVERHEAD_TOKENS + _utf8(_json(request.response_format))
    total += sum(_utf8(s) for s in request.stop)
    return total


def spend_bound(
    model: ModelInfo, request: LLMRequest, input_tokens: int, budget_usd: float | None
) -> SpendBound:
    """The output cap and worst-case price of ``request`` on paid ``model``.

    The cap is the caller's ``max_tokens`` (at most the model's ``max_output_tokens``),
    lowered so the worst case fits ``budget_usd`` when one is given, but not below the
    minimum (:data:`MIN_OUTPUT_TOKENS`, or ``max_tokens`` when smaller); the returned
    ``usd`` is then above the budget, and the model must not be called.
    """
    wanted = min(request.max_tokens or model.max_output_tokens, model.max_output_tokens)
    floor = min(wanted, MIN_OUTPUT_TOKENS)
    cap = wanted
    input_usd, per_token = _linear(model, input_tokens)
    if budget_usd is not None and per_token > 0:
        affordable = math.floor((budget_usd - input_usd) / per_token)
        cap = max(floor, min(wanted, affordable))
    usd = (input_usd + cap * per_token) * _FLOAT_MARGIN
    while budget_usd is not None and cap > floor and usd > budget_usd:
        cap -= 1  # float rounding left the sum a hair above the budget
        usd = (input_usd + cap * per_token) * _FLOAT_MARGIN
    return SpendBound(input_tokens, cap, usd)


_FLOAT_MARGIN = 1 + 1e-9
"""Keeps the worst case above the exact price of the same tokens despite float rounding."""


_LINEAR: dict[tuple[str, PriceRef | None, int], tuple[float, float]] = {}


def _linear(model: ModelInfo, input_tokens: int) -> tuple[float, float]:
    """The price of ``input_tokens`` on ``model`` and of each output token after them.

    Output prices depend on the input only through its tier (genai-prices' tiers are set
    by the input size), so the cost is linear in the output tokens. Kept per model and
    input size: genai-prices takes about 0.3 ms a calculation.
    """
    key = (model.alias, model.price, input_tokens)
    rates = _LINEAR.get(key)
    if rates is None:
        input_usd = cost_of(model, Usage(input_tokens, 0)).usd
        per_token = (cost_of(model, Usage(input_tokens, 1_000_000)).usd - input_usd) / 1e6
        if len(_LINEAR) >= 4096:
            _LINEAR.clear()
        rates = _LINEAR[key] = (input_usd, per_token)
    return rates


def image_tokens(image: ImagePart, model: ModelInfo) -> int:
    """At most how many input tokens ``image`` counts on ``model`` (see the module)."""
    size = image_size(_image_bytes(image))
    provider = model.provider
    if provider == "anthropic":
        return _anthropic(size)
    if provider == "gemini":
        return _gemini(size)
    openai = math.ceil(_openai(size) * model.image_token_factor)
    if provider == "openai":
        return openai
    return max(openai, _anthropic(size), _gemini(size))


def _anthropic(size: tuple[int, int] | None) -> int:
    if size is None:
        return _ANTHROPIC_IMAGE_MAX
    width, height = size
    return min(_ANTHROPIC_IMAGE_MAX, math.ceil(width * height / 750))


def _openai(size: tuple[int, int] | None) -> int:
    if size is None:
        return max(_OPENAI_TILE_MAX, _OPENAI_PATCH_MAX)
    width, height = size
    fit = min(1.0, 2048 / max(width, height))  # into 2048x2048, then 768 on the short side
    short = min(1.0, 768 / (min(width, height) * fit)) * fit
    tiles = math.ceil(width * short / 512) * math.ceil(height * short / 512)
    patches = math.ceil(width / 32) * math.ceil(height / 32)
    return max(85 + 170 * tiles, min(patches, _OPENAI_PATCH_MAX))


def _gemini(size: tuple[int, int] | None) -> int:
    if size is None:
        return _GEMINI_TILE * GEMINI_UNKNOWN_IMAGE_TILES
    width, height = size
    if width <= 384 and height <= 384:
        return _GEMINI_TILE
    return _GEMINI_TILE * math.ceil(width / 768) * math.ceil(height / 768)


def _image_bytes(image: ImagePart) -> bytes | None:
    if image.data is not None:
        return image.data
    match = re.fullmatch(_DATA_URL, image.url or "", re.DOTALL)
    if match is None or not match.group(1):
        return None
    from base64 import b64decode  # here, not at the top: only data URLs need it

    try:
        return b64decode(match.group("data")[:65536], validate=False)
    except ValueError:
        return None


def image_size(data: bytes | None) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF, JPEG or WebP header; ``None`` if unreadable."""
    if not data:
        return None
    try:
        size = _read_size(data)
    except (struct.error, IndexError):
        return None
    if size is None or size[0] < 1 or size[1] < 1:
        return None
    return size


def _read_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg(data)
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        at += 2 + length
    return None


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


MAX_USD = 1e9
"""The largest amount of dollars a limit or a cap may be (10**15 micro-dollars)."""


def check_usd(name: str, value: object) -> float | None:
    """``value`` as dollars (``None`` stays ``None``), or ``ValueError`` naming ``name``.

    ``True``, strings, lists and other non-numbers are refused, as are negative, infinite
    or NaN amounts and amounts above :data:`MAX_USD` (too large for the ledger).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number of dollars or None, got {value!r}")
    if not 0 <= value <= MAX_USD:  # NaN fails both comparisons
        raise ValueError(f"{name} must be between 0 and {MAX_USD:.0f} dollars, got {value!r}")
    return float(value)


def refuse_empty_prompt(request: LLMRequest) -> None:
    """``ValueError`` when the request carries nothing to answer (only blank text)."""
    for message in request.messages:
        if message.role == "system":
            continue
        if message.tool_calls or message.tool_call_id or message.text.strip():
            return
        if any(isinstance(part, ImagePart) for part in message.parts):
            return
    raise ValueError("the prompt is empty: give a non-blank prompt or messages")


class CostCapError(BudgetExceededError):
    """The request's ``max_cost_usd`` cannot pay for the smallest call of any paid model."""

    def __init__(self, max_cost_usd: float, needed_usd: float, model: str) -> None:
        self.scope = ""
        self.month = ""
        self.needed_micros = to_micros(needed_usd)
        self.remaining_micros = to_micros(max_cost_usd)
        LLMError.__init__(
            self,
            f"the request allows ${max_cost_usd:.6f} (max_cost_usd), the cheapest paid call "
            f"({model}, at least {MIN_OUTPUT_TOKENS} output tokens or max_tokens) may cost "
            f"${needed_usd:.6f}; raise max_cost_usd, shorten the prompt, or use a free model",
            model=model,
        )
