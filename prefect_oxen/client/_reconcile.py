"""Recognising an enqueue whose answer was lost: which queue rows may be ours.

An enqueue that timed out (or got a 500/502/504) may have created its generations anyway. Before
anything is re-sent (which could pay twice), the queue is searched for rows that echo the request
and appeared after it was sent, leaving out every id already handed to a caller.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from prefect_oxen.client._errors import OutcomeUnknown
from prefect_oxen.client._models import Generation, VideoRequest

#: How far apart two clocks may be when matching our own enqueue in the queue list.
RECONCILE_SLACK_SECONDS = 120.0
# Generation ids handed out by enqueue that reconciliation must not hand out again; far more
# than can fall within the reconciling window above.
_ISSUED_KEPT = 50_000
_ECHOED = ("prompt", "duration", "aspect_ratio", "seed")


class IssuedIds:
    """Generation ids already returned to a caller, newest kept (each belongs to that caller)."""

    def __init__(self, keep: int = _ISSUED_KEPT) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._keep = keep

    def __contains__(self, generation_id: object) -> bool:
        return generation_id in self._ids

    def remember(self, generations: Iterable[Generation]) -> None:
        """Record `generations` as handed out.

        Args:
            generations: Rows just returned to a caller.
        """
        for generation in generations:
            self._ids[generation.generation_id] = None
        while len(self._ids) > self._keep:
            self._ids.popitem(last=False)


def may_be_ours(row: Generation, request: VideoRequest, *, since: float) -> bool:
    """Whether `row` was enqueued after `since` and echoes `request`'s parameters.

    Args:
        row: A queue row.
        request: The request whose enqueue is being looked for.
        since: Unix time the enqueue was sent.

    Returns:
        True when the row may be that enqueue's generation.
    """
    recent = row.enqueued_at is None or row.enqueued_at >= since - RECONCILE_SLACK_SECONDS
    return recent and _echoes(row, request)


def _echoes(row: Generation, request: VideoRequest) -> bool:
    """Whether a queue row echoes `request`'s parameters (how a lost enqueue is recognised)."""
    if row.model_name and row.model_name != request.model:
        return False
    echoed = row.model_dump()
    for name in _ECHOED:
        wanted = getattr(request, name)
        if wanted is not None and echoed.get(name) is not None and echoed[name] != wanted:
            return False
    if request.multi_prompt and echoed.get("multi_prompt") is not None:
        shots = [
            {"prompt": s.get("prompt"), "duration": s.get("duration")}
            for s in echoed["multi_prompt"]
            if isinstance(s, dict)
        ]
        return shots == [s.model_dump() for s in request.multi_prompt]
    return True


def why(lost: OutcomeUnknown) -> str:
    """A short reason for an unknown outcome: the server's status, or the broken connection.

    Args:
        lost: The unknown outcome.

    Returns:
        ``"HTTP 500"`` and the like, or ``"answer lost"``.
    """
    return f"HTTP {lost.status_code}" if lost.status_code else "answer lost"
