"""Where a client's configuration comes from: an argument, else the environment, else a default.

The only place that reads ``OXEN_API_KEY`` / ``OXEN_BASE_URL``, and the only place that decides
whether a URL may be sent the key.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from prefect_oxen._version import __version__
from prefect_oxen.client._errors import AuthenticationError
from prefect_oxen.client._settings import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL

USER_AGENT = f"prefect-oxen/{__version__}"


def resolve_api_key(api_key: str | None) -> str:
    """The API key from `api_key`, else ``OXEN_API_KEY``.

    Args:
        api_key: The key given by the caller, or None to read the environment.

    Returns:
        The key with surrounding whitespace removed.

    Raises:
        AuthenticationError: Neither the argument nor the environment holds a key.
    """
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    if not key or not key.strip():
        raise AuthenticationError(
            f"No Oxen API key: pass api_key=..., set {API_KEY_ENV}, or load an OxenCredentials "
            "block."
        )
    return key.strip()


def resolve_base_url(base_url: str | None) -> str:
    """The API root from `base_url`, else ``OXEN_BASE_URL``, else the hosted API.

    Args:
        base_url: The root given by the caller, or None.

    Returns:
        The root without a trailing slash.
    """
    url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return str(url).rstrip("/")


def same_origin(url: str, base_url: str) -> bool:
    """Whether `url` is served by the API host itself (so sending the key there is safe).

    Args:
        url: The URL about to be requested.
        base_url: The API root.

    Returns:
        True when scheme, host and port are the same.
    """
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
