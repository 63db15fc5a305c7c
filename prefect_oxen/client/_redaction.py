"""Keep secrets out of logs: API keys and the signatures in temporary result URLs.

Result URLs are bearer credentials in their own right (anyone holding one can download the video
until it expires), so every URL that reaches a log line, an exception or an artifact goes through
`redact_url`. httpx logs each request URL at INFO level; `install_httpx_redaction` puts a filter
on its logger so those lines are redacted too.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["RedactingFilter", "install_httpx_redaction", "redact_text", "redact_url"]

REDACTED = "[REDACTED]"

# A URL with a query string, anywhere in free text.
_URL_WITH_QUERY = re.compile(r"(https?://[^\s\"'<>?]+)\?[^\s\"'<>]*")
# Bearer tokens that slipped into text (e.g. a header dump).
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact_url(url: str) -> str:
    """Return `url` with its query string (signature, expiry, tokens) and any userinfo removed.

    Args:
        url: Any URL, signed or not.

    Returns:
        The URL safe to log (``[REDACTED]`` if it cannot be parsed at all).
    """
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return REDACTED
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Redact signed URLs, bearer tokens and each of `secrets` wherever they occur in `text`.

    Args:
        text: Free text (a log line, an error message, a report).
        secrets: Further strings to hide (ignored when shorter than 8 characters).

    Returns:
        The text with every secret replaced by ``[REDACTED]``.
    """
    text = _URL_WITH_QUERY.sub(lambda m: f"{m.group(1)}?{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    for secret in secrets:
        # Very short strings would redact ordinary words; real keys are long.
        if secret and len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts signed URLs and bearer tokens in a record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's message in place.

        Args:
            record: The log record.

        Returns:
            Always True: no record is dropped.
        """
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install_httpx_redaction() -> None:
    """Attach a `RedactingFilter` to the ``httpx`` and ``httpcore`` loggers (idempotent)."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
