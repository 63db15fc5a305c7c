"""Waiting on a condition with a deadline: how tests synchronise with servers and processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T],
    *,
    timeout: float = 10.0,
    what: str = "the condition",
    interval: float = 0.02,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `check` until it returns something truthy and return that; fail after `timeout` s.

    Exceptions of the `tolerate` types count as "not yet" (a server still starting refuses
    connections); the last one is chained to the timeout's AssertionError.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
        except tolerate as exc:
            last_error = exc
        else:
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}"
            ) from last_error
        time.sleep(interval)
