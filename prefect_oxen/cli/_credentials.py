"""Which API key a command uses: a saved `OxenCredentials` block, or ``OXEN_API_KEY``.

Without a block name nothing here imports Prefect, so commands that only talk to the API
(`models`, `estimate`) start without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from prefect_oxen.cli._exit_codes import BadInput
from prefect_oxen.client import API_KEY_ENV, OxenClient

if TYPE_CHECKING:
    from prefect_oxen.blocks import OxenCredentials

__all__ = ["api_client", "cli_credentials", "load_credentials_block", "require_api_key"]


def require_api_key() -> str:
    """The API key from the environment.

    Returns:
        ``OXEN_API_KEY``, stripped.

    Raises:
        BadInput: The variable is unset or blank; the message says how to provide a key.
    """
    key = (os.environ.get(API_KEY_ENV) or "").strip()
    if not key:
        raise BadInput(
            f"No Oxen API key: set {API_KEY_ENV}, or pass --credentials-block NAME "
            "(create one with `prefect-oxen blocks create`)."
        )
    return key


def load_credentials_block(name: str) -> OxenCredentials:
    """A saved `OxenCredentials` block.

    Args:
        name: The block document's name.

    Returns:
        The loaded block.

    Raises:
        BadInput: No block of that name exists; the message names the command that creates it.
    """
    from prefect_oxen.blocks import OxenCredentials

    try:
        # Called from synchronous code, so Prefect's dual sync/async `load` returns the block.
        return cast("OxenCredentials", OxenCredentials.load(name))
    except ValueError:
        raise BadInput(
            f"No OxenCredentials block named {name!r}. Create it with "
            f"`prefect-oxen blocks create --name {name}` (reads {API_KEY_ENV})."
        ) from None


def cli_credentials(base_url: str | None, credentials_block: str | None) -> OxenCredentials:
    """The credentials a flow run gets: the saved block or the environment, `--base-url` on top.

    Args:
        base_url: ``--base-url``, or None to keep the block's (or the default) API root.
        credentials_block: ``--credentials-block``, or None to use ``OXEN_API_KEY``.

    Returns:
        The block to pass to the flow.

    Raises:
        BadInput: The block does not exist, or no key is available (neither in the block nor
            in the environment).
    """
    from prefect_oxen.blocks import OxenCredentials

    if credentials_block:
        credentials = load_credentials_block(credentials_block)
        if not credentials.api_key:
            require_api_key()  # the block may rely on the environment; say so if it is empty
    else:
        credentials = OxenCredentials(api_key=require_api_key())
    if base_url:
        credentials = credentials.model_copy(update={"base_url": base_url})
    return credentials


@contextmanager
def api_client(base_url: str | None, credentials_block: str | None) -> Iterator[OxenClient]:
    """A blocking API client for the command's own calls; without a block name, no Prefect.

    Args:
        base_url: ``--base-url``, or None for the default API root.
        credentials_block: ``--credentials-block``, or None to use ``OXEN_API_KEY``.

    Yields:
        An open `OxenClient`, closed when the block ends.

    Raises:
        BadInput: As `cli_credentials`.
    """
    if credentials_block:
        client = cli_credentials(base_url, credentials_block).get_client()
    else:
        client = OxenClient(api_key=require_api_key(), base_url=base_url)
    with client:
        yield client
