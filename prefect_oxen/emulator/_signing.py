"""Signed, expiring result URLs shaped like the hub's repository file URLs."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from enum import Enum
from urllib.parse import urlencode


class Verdict(Enum):
    """Outcome of checking a signed URL."""

    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def result_path(namespace: str, generation_id: str, extension: str) -> str:
    """The URL path under which a generation's result file is served."""
    return f"/api/repos/{namespace}/emulator-results/files/generations/{generation_id}.{extension}"


class UrlSigner:
    """HMAC-signs paths with an expiry; the key derives from the seed so a restarted emulator
    with the same seed and state_dir still honours URLs it handed out earlier."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"oxen-emulator-url-key:{seed}".encode()).digest()

    def _signature(self, path: str, expires: int) -> str:
        """The HMAC-SHA256 of `path` and `expires` under the signing key."""
        message = f"{path}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, path: str, ttl: float, now: float | None = None) -> str:
        """An absolute URL for `path` valid for `ttl` seconds (rounded up to whole seconds)."""
        expires = math.ceil((time.time() if now is None else now) + ttl)
        query = urlencode({"expires": expires, "signature": self._signature(path, expires)})
        return f"{base_url.rstrip('/')}{path}?{query}"

    def verify(
        self, path: str, expires: str | None, signature: str | None, now: float | None = None
    ) -> Verdict:
        """Whether the query parameters sign `path` and have not expired yet."""
        if not expires or not signature or not expires.isdigit():
            return Verdict.INVALID
        if not hmac.compare_digest(self._signature(path, int(expires)), signature):
            return Verdict.INVALID
        if (time.time() if now is None else now) >= int(expires):
            return Verdict.EXPIRED
        return Verdict.VALID
