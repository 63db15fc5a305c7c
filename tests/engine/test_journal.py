"""The journal: durable lines, the newest state per identity, shared across readers and files."""

from __future__ import annotations

from pathlib import Path

from prefect_oxen.engine import GenerationJournal, JournalEntry
from prefect_oxen.engine._journal import journal_at


def test_latest_state_carries_generation_ids_forward(tmp_path: Path) -> None:
    journal = GenerationJournal(tmp_path / "j.jsonl")
    journal.record(JournalEntry(identity="a", state="submitting", mode="queue"))
    journal.record(
        JournalEntry(identity="a", state="enqueued", mode="queue", generation_ids=["g1"])
    )
    journal.record(JournalEntry(identity="a", state="archived", mode="queue"))
    entry = journal.lookup("a")
    assert entry.state == "archived" and entry.generation_ids == ["g1"]


def test_a_reader_sees_lines_appended_by_another_writer(tmp_path: Path) -> None:
    reader, writer = (
        GenerationJournal(tmp_path / "j.jsonl"),
        GenerationJournal(tmp_path / "j.jsonl"),
    )
    assert reader.lookup("a") is None
    writer.record(JournalEntry(identity="a", state="enqueued", generation_ids=["g1"]))
    assert reader.lookup("a").generation_ids == ["g1"]


def test_a_torn_last_line_is_ignored_until_complete(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = GenerationJournal(path)
    journal.record(JournalEntry(identity="a", state="enqueued", generation_ids=["g1"]))
    with open(path, "ab") as handle:
        handle.write(b'{"identity": "b", "state": "enq')  # a crash mid-write
    assert set(journal.latest()) == {"a"}


def test_a_deleted_or_replaced_journal_is_not_remembered(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = journal_at(path)
    journal.record(JournalEntry(identity="a", state="enqueued", generation_ids=["old"]))
    path.unlink()
    assert journal_at(path) is journal and journal.lookup("a") is None
    other = tmp_path / "other.jsonl"
    GenerationJournal(other).record(
        JournalEntry(identity="b", state="enqueued", generation_ids=["x"] * 50)
    )
    other.replace(path)  # a different, larger file under the same name
    assert journal.lookup("a") is None and journal.lookup("b").generation_ids[0] == "x"
