"""Keeping a batch inside its budget."""

from __future__ import annotations

__all__ = ["SpendGuard"]


class SpendGuard:
    """Reserves each item's estimated cost before it is submitted; refuses past the budget.

    A reservation is replaced by the actual cost when the item ends (zero for an item that failed
    before anything was paid), so a failure frees its share of the budget for later items.

    Args:
        budget: Most US dollars the batch may spend; None for no limit.
    """

    def __init__(self, budget: float | None) -> None:
        self.budget = budget
        self.committed = 0.0

    def reserve(self, estimate: float | None) -> bool:
        """Set aside `estimate` for one item, if the budget still has room for it.

        Args:
            estimate: The item's estimated cost (None counts as free).

        Returns:
            True when reserved; False when it would cross the budget (nothing is reserved).
        """
        cost = estimate or 0.0
        if self.budget is not None and self.committed + cost > self.budget + 1e-9:
            return False
        self.committed += cost
        return True

    def settle(self, estimate: float | None, actual: float | None) -> None:
        """Replace an item's reservation by what it actually cost.

        Args:
            estimate: What `reserve` set aside for it.
            actual: What it cost (None or 0 when nothing was paid).
        """
        self.committed += (actual or 0.0) - (estimate or 0.0)

    def refusal(self) -> str:
        """Why an item was not submitted, for its report.

        Returns:
            E.g. "budget $1.00 reached (spent or committed $0.98)".
        """
        return (
            f"budget ${self.budget or 0.0:.2f} reached (spent or committed ${self.committed:.2f})"
        )
