"""Budget profiles: how much freedom the router has to spend money."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["BudgetProfile", "parse_profile"]


class BudgetProfile(StrEnum):
    """How freely the router may spend.

    ``free``: $0 models only. ``careful``: free first; paid only when the task needs
    it, a valid justification is given and the limit has room. ``unlimited``: the best
    model for the task; spend is still tracked and a limit, if set, enforced.
    """

    FREE = "free"
    CAREFUL = "careful"
    UNLIMITED = "unlimited"


def parse_profile(name: str | BudgetProfile) -> BudgetProfile:
    """The profile called ``name`` (any case); ``ValueError`` listing the choices."""
    if isinstance(name, BudgetProfile):
        return name
    try:
        return BudgetProfile(str(name).strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in BudgetProfile)
        raise ValueError(f"unknown budget profile {name!r}; choose one of: {choices}") from None
