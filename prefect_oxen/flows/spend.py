"""Keeping a batch inside its budget."""

from __future__ import annotations

__all__ = ["SpendGuard"]


class SpendGuard:
    """Reserves each item's estimated cost before it is submitted; refuses past the budget.

    A reservation is replaced by the actual cost when the item ends (zero for an item that failed
    before anything was paid), so a failure frees its share of the budget for later items.
    """

    def __init__(self, budget: float | None) -> None:
        self.budget = budget
        self.committed = 0.0

    def reserve(self, estimate: float | None) -> bool:
        cost = estimate or 0.0
        if self.budget is not None and self.committed + cost > self.budget + 1e-9:
            return False
        self.committed += cost
        return True

    def settle(self, estimate: float | None, actual: float | None) -> None:
        self.committed += (actual or 0.0) - (estimate or 0.0)
