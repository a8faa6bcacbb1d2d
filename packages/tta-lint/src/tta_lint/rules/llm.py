"""TTA006: a provider SDK, or a raw HTTP POST to an LLM endpoint, outside the LLM layer."""

from __future__ import annotations

import ast

from tta_lint.context import FileContext
from tta_lint.model import Rule
from tta_lint.rules.base import Checker

__all__ = ["LLM_ENDPOINT_MARKERS", "PROVIDER_SDKS", "DirectLLMChecker"]

#: Top-level modules of provider SDKs (and of SDK-style routers).
PROVIDER_SDKS = frozenset(
    {
        "anthropic",
        "cohere",
        "google.genai",
        "google.generativeai",
        "groq",
        "litellm",
        "mistralai",
        "ollama",
        "openai",
        "together",
        "vertexai",
    }
)

#: Substrings (lower case) of URLs that only LLM APIs serve.
LLM_ENDPOINT_MARKERS = (
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "openrouter.ai",
    "api.groq.com",
    "api.mistral.ai",
    "api.cohere.com",
    "api.cohere.ai",
    "api.together.xyz",
    "api.deepseek.com",
    "api.x.ai",
    "api.fireworks.ai",
    "/chat/completions",
    "/v1/completions",
    "/v1/messages",
    ":generatecontent",
    ":streamgeneratecontent",
)

_POST_METHODS = frozenset({"request", "stream", "build_request"})


class DirectLLMChecker(Checker):
    """An SDK import, or ``.post(url)`` / ``.request("POST", url)`` to an LLM URL.

    The URL may be a literal, an f-string, a concatenation, or a name bound to a
    string constant in the same file.
    """

    rule = Rule(
        "TTA006",
        "direct-llm-call",
        "direct LLM provider call outside the LLM layer (no budget, routing or trace)",
        "call the model through LLMPrimitive(alias) or UniversalLLMPrimitive() "
        "from tta_dev_integrations.llm",
    )
    node_types = (ast.Import, ast.ImportFrom, ast.Call, ast.FunctionDef, ast.AsyncFunctionDef)

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self._urls: list[tuple[ast.Call, ast.expr]] = []
        self._decorators: set[int] = set()

    def visit(self, node: ast.AST) -> None:
        """Report SDK imports now; keep HTTP calls until the file's constants are known."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                sdk = _sdk_of(alias.name)
                if sdk:
                    self.report(node, f"direct import of the {sdk} SDK: {self.rule.message}")
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                return
            sdk = _sdk_of(node.module) or next(
                (s for a in node.names if (s := _sdk_of(f"{node.module}.{a.name}"))), None
            )
            if sdk:
                self.report(node, f"direct import of the {sdk} SDK: {self.rule.message}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # `@router.post("/v1/chat/completions")` serves the endpoint, it does not call it.
            self._decorators.update(id(d) for d in node.decorator_list)
        elif isinstance(node, ast.Call) and id(node) not in self._decorators:
            url = _posted_url(node)
            if url is not None:
                self._urls.append((node, url))

    def finish(self) -> None:
        """Report POSTs whose URL is an LLM endpoint."""
        for call, url_expr in self._urls:
            url = self._string_value(url_expr).lower()
            marker = next((m for m in LLM_ENDPOINT_MARKERS if m in url), None)
            if marker:
                self.report(call, f"raw HTTP POST to an LLM endpoint ({marker}): "
                            f"{self.rule.message}")  # fmt: skip

    def _string_value(self, expr: ast.expr) -> str:
        """The known text of a URL expression (unknown parts are left out)."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.Name):
            return self.ctx.constants.get(expr.id, "")
        if isinstance(expr, ast.JoinedStr):
            return "".join(self._string_value(part) for part in expr.values)
        if isinstance(expr, ast.FormattedValue):
            return self._string_value(expr.value)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return self._string_value(expr.left) + self._string_value(expr.right)
        return ""


def _sdk_of(module: str) -> str | None:
    """The SDK ``module`` belongs to (``openai.types`` -> ``openai``), if any."""
    parts = module.split(".")
    for size in (2, 1):
        candidate = ".".join(parts[:size])
        if len(parts) >= size and candidate in PROVIDER_SDKS:
            return candidate
    return None


def _posted_url(call: ast.Call) -> ast.expr | None:
    """The URL argument of ``x.post(url)`` or ``x.request("POST", url)``, if it is one."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    keywords = {kw.arg: kw.value for kw in call.keywords if kw.arg}
    if func.attr == "post":
        return call.args[0] if call.args else keywords.get("url")
    if func.attr in _POST_METHODS:
        method = call.args[0] if call.args else keywords.get("method")
        if isinstance(method, ast.Constant) and str(method.value).upper() == "POST":
            return call.args[1] if len(call.args) > 1 else keywords.get("url")
    return None
