"""The glue between `RetryPolicy` and stamina, the one retry engine behind every retried call.

Every retry in the client (API calls, the enqueue's reconcile-then-resend, downloads, the
streamed synchronous generation, the event-stream connect) is a ``stamina.retry_context`` built
here, so backoff, jitter, caps and ``Retry-After`` are decided in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any

import stamina

from prefect_oxen.client._errors import OxenError, RateLimited
from prefect_oxen.client._settings import RetryPolicy

#: What a stamina ``on=`` hook returns: retry or not, or retry after exactly this many seconds.
Decision = bool | float
Hook = Callable[[Exception], Decision]


def backoff_hook(policy: RetryPolicy) -> Hook:
    """A stamina hook: retry what is transient, and wait as long as a 429's Retry-After asks.

    Args:
        policy: Supplies the cap on a server-requested wait.

    Returns:
        The hook, for ``stamina.retry_context(on=...)``.
    """

    def hook(exc: Exception) -> Decision:
        if isinstance(exc, RateLimited):
            if exc.retry_after is not None:
                return min(exc.retry_after, policy.max_retry_after)
            return True
        if isinstance(exc, OxenError):
            return exc.retryable
        return False

    return hook


def retry_kwargs(policy: RetryPolicy) -> dict[str, Any]:
    """The stamina keyword arguments that `policy` stands for.

    Args:
        policy: The retry policy.

    Returns:
        ``attempts``, ``timeout`` and the ``wait_*`` arguments of ``stamina.retry_context``.
    """
    return {
        "attempts": policy.attempts,
        "timeout": policy.timeout,
        "wait_initial": policy.wait_initial,
        "wait_max": policy.wait_max,
        "wait_jitter": policy.wait_jitter,
    }


def attempts(
    policy: RetryPolicy,
    on: Hook | None = None,
    **overrides: Any,
) -> AsyncIterable[stamina.Attempt]:
    """Attempts of one retried operation under `policy`.

    Args:
        policy: Backoff, attempt and time limits.
        on: Which failures to retry (default: `backoff_hook` of `policy`).
        **overrides: stamina arguments that differ from the policy (e.g. ``attempts``,
            ``timeout=None``).

    Returns:
        The async iterable of ``stamina.Attempt`` context managers.
    """
    kwargs = {**retry_kwargs(policy), **overrides}
    return stamina.retry_context(on=on or backoff_hook(policy), **kwargs)
