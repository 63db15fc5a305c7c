"""B2: peak memory of extracting a base64 video from a JSON response body, streaming vs naive.

For 50, 100 and 200 MB videos (a real mp4 padded with a trailing `free` box, so the result still
decodes) the response body is built on disk; each measurement then runs in a fresh subprocess
that reports its RSS after imports and its peak RSS (`ru_maxrss`) after the work.

Target: streaming growth flat in the video size and <= 64 MB.
Run: .venv/bin/python bench/b64_memory.py
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES_MB = (50, 100, 200)
CHUNK = 64 * 1024
TARGET_MB = 64
RESULTS = Path(__file__).parent / "results" / "b64_memory.json"


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KiB on Linux


def worker(mode: str, body: Path, out: Path) -> None:
    """Runs in a fresh interpreter: extract `body` into `out`, print the memory figures."""
    from prefect_oxen.media import extract_b64_video

    baseline = current_rss_mb()
    started = time.perf_counter()
    if mode == "streaming":
        with open(body, "rb") as src, open(out, "wb") as sink:
            result = extract_b64_video(iter(lambda: src.read(CHUNK), b""), sink)
        digest = result.sha256
    else:
        document = json.loads(body.read_bytes())
        video = base64.b64decode(document["videos"][0]["b64_json"])
        out.write_bytes(video)
        digest = hashlib.sha256(video).hexdigest()
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "baseline_rss_mb": baseline,
                "peak_rss_mb": peak_rss_mb(),
                "seconds": elapsed,
                "sha256": digest,
            }
        )
    )


def make_body(directory: Path, size_mb: int) -> tuple[Path, str]:
    """Write a JSON body carrying a `size_mb` MB mp4 as base64; return it and the mp4's sha256."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "media"))
    from conftest import write_video  # the same tiny real mp4 the tests use

    mp4 = write_video(directory / "seed.mp4", seconds=1.0).read_bytes()
    padding = size_mb * 1_000_000 - len(mp4) - 8
    box = padding + 8
    digest = hashlib.sha256()
    body = directory / f"body-{size_mb}mb.json"
    with open(body, "wb") as f:
        f.write(b'{"model": "kling-video-v2-6-pro-text-to-video", "created": 1775090508, ')
        f.write(b'"videos": [{"b64_json": "')
        head = mp4 + box.to_bytes(4, "big") + b"free"
        pending = head
        digest.update(head)
        remaining = padding
        block = os.urandom(3 * 1024 * 1024)
        while remaining or pending:
            take = min(remaining, len(block))
            piece = block[:take]
            digest.update(piece)
            remaining -= take
            data = pending + piece
            whole = len(data) - len(data) % 3 if remaining else len(data)
            f.write(base64.b64encode(data[:whole]))
            pending = data[whole:]
        f.write(b'"}]}')
    return body, digest.hexdigest()


def run_case(mode: str, body: Path, out: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--worker", mode, str(body), str(out)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    figures["growth_mb"] = figures["peak_rss_mb"] - figures["baseline_rss_mb"]
    return figures


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent))
    from prefect_oxen.media import verify_video

    results: dict[str, object] = {"chunk_bytes": CHUNK, "cases": []}
    with tempfile.TemporaryDirectory(prefix="b64-bench-") as tmp:
        directory = Path(tmp)
        streaming_growth = []
        naive_growth_200 = None
        for size in SIZES_MB:
            body, expected_sha = make_body(directory, size)
            out = directory / f"out-{size}.mp4"
            stream = run_case("streaming", body, out)
            assert stream["sha256"] == expected_sha, "streaming output differs from the source"
            verify_video(out)  # the padded mp4 still decodes after the round trip
            case = {"video_mb": size, "body_mb": body.stat().st_size / 1e6, "streaming": stream}
            streaming_growth.append(stream["growth_mb"])
            print(
                f"{size:>4} MB video: streaming growth {stream['growth_mb']:6.1f} MB "
                f"({stream['seconds']:.2f} s, {size / stream['seconds']:.0f} MB/s)"
            )
            if size == max(SIZES_MB):
                naive = run_case("naive", body, out)
                assert naive["sha256"] == expected_sha
                naive_growth_200 = naive["growth_mb"]
                case["naive"] = naive
                print(
                    f"{size:>4} MB video: naive json.loads+b64decode growth "
                    f"{naive['growth_mb']:6.1f} MB ({naive['seconds']:.2f} s)"
                )
            results["cases"].append(case)  # type: ignore[union-attr]
            body.unlink()
            out.unlink()
    peak = max(streaming_growth)
    flat = max(streaming_growth) - min(streaming_growth)
    results.update(
        {
            "B2_peak_rss_growth_mb": round(peak, 1),
            "B2_streaming_spread_mb": round(flat, 1),
            "B2_naive_growth_mb": round(naive_growth_200 or 0.0, 1),
            "target": f"streaming growth flat in size and <= {TARGET_MB} MB",
            "passed": peak <= TARGET_MB and flat <= 8,
        }
    )
    print(
        f"B2_peak_rss_growth_mb = {peak:.1f} (target <= {TARGET_MB}; spread over sizes "
        f"{flat:.1f} MB)  B2_naive_growth_mb = {naive_growth_200:.1f}  "
        f"{'PASS' if results['passed'] else 'FAIL'}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "BODY", "OUT"))
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, str(Path(__file__).parent.parent))
        worker(args.worker[0], Path(args.worker[1]), Path(args.worker[2]))
    else:
        main()
