"""The per-item engine: plain async machinery the tasks and flows share.

Nothing here is a Prefect task or flow; it is the pacing, claiming and progress plumbing that
makes a batch fast and safe (how many generations are on the API at once, which run owns an item,
who is told when an item ends).
"""

from prefect_oxen.engine.admission import GenerationSlots, ItemPacing, current_pacing, pacing_scope
from prefect_oxen.engine.claims import ItemClaim, claim_item
from prefect_oxen.engine.progress import ItemFinished, announce_item, watching_items

__all__ = [
    "GenerationSlots",
    "ItemClaim",
    "ItemFinished",
    "ItemPacing",
    "announce_item",
    "claim_item",
    "current_pacing",
    "pacing_scope",
    "watching_items",
]
