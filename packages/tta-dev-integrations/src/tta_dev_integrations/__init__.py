"""TTA.dev integrations: LLM providers and the primitives built on them."""

__all__: list[str] = []
