"""Signed result URLs: expiry, tampering, HEAD, ranges (resume) and ETag."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.emulator.conftest import configure, enqueue, stats, wait_terminal
from tests.support import FAST, wait_for


def _video_url(client: httpx.Client, **body: object) -> str:
    response = client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "dl", "duration": 2, **body}
    )
    assert response.status_code == 200
    return response.json()["videos"][0]["url"]


def _assert_403(response: httpx.Response) -> None:
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "error"
    assert body["error"]["type"] == "forbidden"


def test_expired_url_is_403_and_the_row_gives_a_fresh_one(
    client: httpx.Client, plain: httpx.Client
) -> None:
    configure(client, url_ttl=1)
    [gid] = enqueue(client, model=FAST, prompt="ttl", duration=1)
    url = wait_terminal(client, gid)["result_url"]
    assert plain.get(url).status_code == 200  # fresh: valid for at least one more second
    wait_for(lambda: plain.head(url).status_code == 403, timeout=5, interval=0.05)
    _assert_403(plain.get(url))
    configure(client, url_ttl=3600)
    fresh = client.get(f"/api/ai/queue/{gid}").json()["result_url"]
    assert plain.get(fresh).status_code == 200


def test_tampered_or_unsigned_urls_are_403(client: httpx.Client, plain: httpx.Client) -> None:
    url = _video_url(client)
    base, query = url.split("?")
    _assert_403(plain.get(base))
    _assert_403(plain.get(url[:-4] + "0000"))
    other = base.replace("/emulator-user/", "/someone-else/")
    _assert_403(plain.get(f"{other}?{query}"))
    expires = int(query.split("expires=")[1].split("&")[0])
    _assert_403(plain.get(url.replace(f"expires={expires}", f"expires={expires + 100}")))


def test_head_range_and_etag(client: httpx.Client, plain: httpx.Client) -> None:
    url = _video_url(client)
    full = plain.get(url)
    size = len(full.content)
    sha = hashlib.sha256(full.content).hexdigest()
    assert full.headers["etag"] == f'"{sha}"'
    assert full.headers["accept-ranges"] == "bytes"
    assert int(full.headers["content-length"]) == size
    head = plain.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == size
    assert head.headers["etag"] == full.headers["etag"]
    tail = plain.get(url, headers={"Range": "bytes=100-"})
    assert tail.status_code == 206
    assert tail.headers["content-range"] == f"bytes 100-{size - 1}/{size}"
    assert tail.content == full.content[100:]
    middle = plain.get(url, headers={"Range": "bytes=10-19"})
    assert (middle.status_code, middle.content) == (206, full.content[10:20])
    suffix = plain.get(url, headers={"Range": "bytes=-7"})
    assert suffix.content == full.content[-7:]
    beyond = plain.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    logged = client.get("/_emulator/generations").json()["generations"][0]
    assert (logged["sha256"], logged["size"]) == (sha, size)
    assert stats(client)["bytes_served"] == size + (size - 100) + 10 + 7


@pytest.mark.parametrize("path_kind", ["unknown-id", "wrong-extension"])
def test_valid_signature_for_a_missing_file_is_404(
    client: httpx.Client, plain: httpx.Client, path_kind: str
) -> None:
    # Only the emulator can sign, so reuse its signer through a real URL of a forgotten generation.
    url = _video_url(client)
    if path_kind == "unknown-id":
        client.post("/_emulator/reset?generations=true")
        assert plain.get(url).status_code == 404
    else:
        bad = url.replace(".mp4?", ".png?")
        assert plain.get(bad).status_code == 403  # the signature covers the extension
