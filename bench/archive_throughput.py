"""B3: S3Archive.put throughput vs raw boto3 upload_file, 1 GB to moto's server over HTTP.

8 x 128 MB files go to moto's `ThreadedMotoServer`, run in a child process so the server's CPU
work does not share the client's GIL. moto is the bottleneck: it uses about one core per upload
while the client uses about a quarter (measured with per-process CPU times), so the figures say
more about moto than about S3; the ratio is what matters. Variants, each on the same files and the same
TransferConfig (64 MiB threshold, 16 MiB parts, 8 threads):
  raw          boto3 upload_file, botocore's default checksum (CRC32)
  raw_sha256   boto3 upload_file with ChecksumAlgorithm=SHA256 (what S3Archive asks for)
  archive      S3Archive.put with a precomputed sha256: head_object, upload, composite-checksum
               verification (part hashes computed in a thread during the upload), manifest
  archive_no_verify  the same with verify_checksum=False: isolates the cost of re-hashing parts
Target: archive / raw >= 0.9. Run: .venv/bin/python bench/archive_throughput.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig

sys.path.insert(0, str(Path(__file__).parent.parent))

from prefect_oxen.storage import ArchiveManifest, S3Archive, sha256_file, sha256_parts

MiB = 1024 * 1024
FILES, FILE_MB = 8, 128
PART = 16 * MiB
TARGET = 0.9
RESULTS = Path(__file__).parent / "results" / "archive_throughput.json"
SERVER = """
import sys, threading
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # run until the parent closes our stdin
server.stop()
"""


def make_files(directory: Path) -> list[Path]:
    block = os.urandom(MiB)
    paths = []
    for i in range(FILES):
        path = directory / f"video-{i}.mp4"
        with open(path, "wb") as f:
            for j in range(FILE_MB):
                f.write(i.to_bytes(4, "big") + j.to_bytes(4, "big") + block[8:])
        paths.append(path)
    return paths


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def empty_bucket(client, bucket: str) -> None:
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])


def main() -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    os.environ.update(env)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        endpoint = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="bench")
        config = TransferConfig(
            multipart_threshold=64 * MiB, multipart_chunksize=PART, max_concurrency=8
        )
        archive = S3Archive(client, "bench", multipart_threshold=64 * MiB, multipart_chunksize=PART)
        with tempfile.TemporaryDirectory(prefix="archive-bench-") as tmp:
            paths = make_files(Path(tmp))
            total_mb = FILES * FILE_MB * MiB / 1e6
            hash_s = timed(lambda: [sha256_file(p) for p in paths])
            shas = [sha256_file(p) for p in paths]
            parts_s = timed(lambda: [sha256_parts(p, PART) for p in paths])

            def raw(extra: dict[str, str]):
                def upload(i: int) -> None:
                    client.upload_file(
                        str(paths[i]), "bench", f"raw/{i}.mp4", ExtraArgs=extra, Config=config
                    )

                return upload

            unverified = S3Archive(
                client,
                "bench",
                multipart_threshold=64 * MiB,
                multipart_chunksize=PART,
                verify_checksum=False,
            )

            def put(target: S3Archive):
                def upload(i: int) -> None:
                    manifest = ArchiveManifest(key="k", model="m")
                    record = target.put(paths[i], f"archive/{i}.mp4", manifest, sha256=shas[i])
                    assert record.uploaded

                return upload

            variants = {
                "raw": raw({"ContentType": "video/mp4"}),
                "archive": put(archive),
                "archive_no_verify": put(unverified),
                "raw_sha256": raw({"ContentType": "video/mp4", "ChecksumAlgorithm": "SHA256"}),
            }
            # moto's speed drifts as the run goes on, so interleave: every file is uploaded by
            # every variant back to back (order rotated per file), then deleted again.
            timings: dict[str, list[float]] = {name: [0.0, 0.0] for name in variants}
            names = list(variants)
            for round_ in range(2):
                for i in range(FILES):
                    for name in names[i % len(names) :] + names[: i % len(names)]:
                        timings[name][round_] += timed(lambda: variants[name](i))  # noqa: B023
                        empty_bucket(client, "bench")
            head_s = (
                timed(lambda: [archive.exists(f"archive/{i}.mp4", "x") for i in range(50)]) / 50
            )

        best = {name: min(values) for name, values in timings.items()}
        mbps = {name: total_mb / seconds for name, seconds in best.items()}
        ratio = mbps["archive"] / mbps["raw"]
        results = {
            "files": FILES,
            "file_mb": FILE_MB,
            "part_mib": PART // MiB,
            "seconds": timings,
            "mb_per_s": {k: round(v, 1) for k, v in mbps.items()},
            "B3_throughput_ratio": round(ratio, 3),
            "archive_vs_raw_sha256_ratio": round(mbps["archive"] / mbps["raw_sha256"], 3),
            "archive_without_composite_check_ratio": round(
                mbps["archive_no_verify"] / mbps["raw"], 3
            ),
            "sha256_full_file_mb_per_s": round(total_mb / hash_s, 1),
            "sha256_parts_mb_per_s": round(total_mb / parts_s, 1),
            "head_object_ms": round(head_s * 1000, 2),
            "target": f"B3_throughput_ratio >= {TARGET}",
            "passed": ratio >= TARGET,
        }
        for name in variants:
            print(
                f"{name:>11}: {mbps[name]:7.1f} MB/s  (runs: {', '.join(f'{s:.2f}s' for s in timings[name])})"
            )
        print(
            f"hashing alone: {results['sha256_full_file_mb_per_s']} MB/s full-file, "
            f"{results['sha256_parts_mb_per_s']} MB/s per-part; head_object {results['head_object_ms']} ms"
        )
        print(
            f"B3_throughput_ratio = {ratio:.3f} (target >= {TARGET}) "
            f"{'PASS' if results['passed'] else 'FAIL'}; archive vs raw+SHA256 = "
            f"{results['archive_vs_raw_sha256_ratio']:.3f}"
        )
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
