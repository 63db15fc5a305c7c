"""The budget guard: reservations up to the budget, refunds when an item ends cheaper."""

from __future__ import annotations

import pytest

from prefect_oxen.engine import SpendGuard


def test_reservations_stop_at_the_budget_and_a_refused_one_reserves_nothing() -> None:
    guard = SpendGuard(1.0)
    assert guard.reserve(0.4) and guard.reserve(0.6)
    assert not guard.reserve(0.01)
    assert guard.committed == pytest.approx(1.0)
    assert guard.refusal() == "budget $1.00 reached (spent or committed $1.00)"


def test_settling_a_failed_item_frees_its_share_for_later_items() -> None:
    guard = SpendGuard(1.0)
    assert guard.reserve(0.7)
    assert not guard.reserve(0.5)
    guard.settle(0.7, None)  # failed before anything was paid
    assert guard.committed == pytest.approx(0.0)
    assert guard.reserve(0.5)


def test_settling_replaces_the_estimate_by_the_actual_cost() -> None:
    guard = SpendGuard(None)
    assert guard.reserve(0.35)
    guard.settle(0.35, 0.5)
    assert guard.committed == pytest.approx(0.5)


def test_no_budget_reserves_anything_and_unpriced_items_are_free() -> None:
    guard = SpendGuard(None)
    assert all(guard.reserve(100.0) for _ in range(10))
    limited = SpendGuard(0.0)
    assert limited.reserve(None) and not limited.reserve(0.01)
