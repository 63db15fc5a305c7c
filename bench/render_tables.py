"""Write the benchmark tables of README.md and bench/README.md from bench/results/*.json.

The tables sit between ``<!-- bench-table:start -->`` and ``<!-- bench-table:end -->`` markers, so
the figures people read are always the ones last measured (run_all.py calls this at the end).

    .venv/bin/python bench/render_tables.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS_DIR, ROOT

START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def _read(name: str) -> dict[str, Any]:
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _rounds(values: list[float], fmt: str = "{:.2f}") -> str:
    return ", ".join(fmt.format(v) for v in values)


def rows() -> list[tuple[str, str, str, str]]:
    """(figure, value with its rounds, target, how measured) for every benchmark."""
    out: list[tuple[str, str, str, str]] = []
    cli, flow = _read("b1_cli"), _read("b1_makespan")
    for slots, target in (("16", "≤ 1.10"), ("64", "≤ 1.25")):
        if slots in cli.get("by_slots", {}):
            b = cli["by_slots"][slots]
            out.append(
                (
                    f"B1 `prefect-oxen batch FILE` (no tuning flag), 200 videos x 2 s, {slots} API slots: makespan / ideal "
                    f"({b['ideal_seconds']:.0f} s)",
                    f"**{b['median_ratio']:.3f}** ({_rounds([r['ratio'] for r in b['rounds']], '{:.3f}')})",
                    target,
                    "from the flow run's start to the last archived mp4; Prefect's start-up excluded",
                )
            )
    for slots, target in (("16", "≤ 1.10"), ("64", "≤ 1.25")):
        if slots in flow.get("by_slots", {}):
            b = flow["by_slots"][slots]
            out.append(
                (
                    f"B1 `batch_flow(...)` with default parameters, {slots} API slots: makespan / ideal",
                    f"**{b['median_ratio']:.3f}** ({_rounds([r['ratio'] for r in b['rounds']], '{:.3f}')})",
                    target,
                    "the whole call: validation, generation, delivery, report",
                )
            )
    if flow.get("B1_naive_ratio"):
        out.append(
            (
                'B1 baselines, 16 slots: hand-written sequential script / "enqueue all, poll every 5 s"',
                f"{flow['B1_naive_ratio']} / {flow.get('B1_naive_enqueue_all_ratio')}",
                "(baseline)",
                "same emulator",
            )
        )
    for database in ("postgres", "sqlite"):
        shared = _read(f"b1_shared_limit_{database}")
        if shared:
            label = "PostgreSQL" if database == "postgres" else "SQLite (the default)"
            out.append(
                (
                    f"B1 shared: two CLI batches of 100 at once, `oxen-generations` = 16 via `prefect gcl`, "
                    f"`prefect server start` on {label}: makespan / ideal (26 s)",
                    f"**{shared['median_ratio']:.3f}** ({_rounds([r['ratio'] for r in shared['rounds']], '{:.3f}')}); "
                    f"max unfinished on the API {shared['max_unfinished_on_api']}; admission "
                    f"{shared['admission_calls_per_item']:.2f} Prefect API calls/item",
                    "≤ 1.15, ≤ 16",
                    "emulator with 64 slots, so only the shared limit holds it to 16",
                )
            )
    b2, b3, b4, b5 = (
        _read("b64_memory"),
        _read("archive_throughput"),
        _read("b4_api_calls"),
        _read("b5_overhead"),
    )
    if b2:
        out.append(
            (
                "B2 peak memory growth persisting a 50/100/200 MB `b64_json` video",
                f"{b2['B2_peak_rss_growth_mb']} MB, flat",
                "≤ 64 MB",
                f"naive `response.json()` + `b64decode`: {b2['B2_naive_growth_mb']} MB",
            )
        )
    if b3:
        out.append(
            (
                "B3 `archive_video` throughput / raw boto3 `upload_file` (1 GB to moto)",
                f"{b3['B3_throughput_ratio']}",
                "≥ 0.90",
                "moto's server is the bottleneck; noisy",
            )
        )
    if b4:
        out.append(
            (
                f"B4 API requests per video (queue mode, {b4['latency_seconds']:g} s generations, flow defaults)",
                f"{b4['B4_calls_per_job']}",
                "≤ 3",
                "one enqueue, one download; one event stream and one cost read per batch",
            )
        )
    for size, target in (("tiny", "(reference)"), ("8MB", "≤ 50 ms")):
        if size in b5.get("sizes", {}):
            b = b5["sizes"][size]
            out.append(
                (
                    f"B5 overhead per video over raw async httpx, zero latency, {size} videos (flow defaults)",
                    f"**{b['median_overhead_ms']} ms** ({_rounds([r['overhead_ms'] for r in b['rounds']], '{:.1f}')})",
                    target,
                    f"{b['rounds'][0]['prefect_oxen_ms_per_video']} vs {b['rounds'][0]['raw_ms_per_video']} ms/video in round 1",
                )
            )
    return out


def table() -> str:
    lines = ["| figure | value (median; every round) | target | notes |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows()]
    return "\n".join(lines)


def replace_between_markers(path: Path, text: str) -> None:
    content = path.read_text()
    if START not in content or END not in content:
        raise SystemExit(f"{path} has no {START} ... {END} markers")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main() -> None:
    text = table()
    for path in (ROOT / "README.md", ROOT / "bench" / "README.md"):
        replace_between_markers(path, text)
    print(text)


if __name__ == "__main__":
    main()
