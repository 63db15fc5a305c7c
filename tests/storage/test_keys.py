"""Object keys: sanitised fields, templates that cannot escape their prefix."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_oxen.storage import (
    DEFAULT_KEY_TEMPLATE,
    InvalidItemId,
    InvalidObjectKey,
    render_object_key,
    sanitize_key_component,
    validate_item_id,
    validate_object_key,
)

SAFE_KEY = re.compile(r"[A-Za-z0-9._/-]+")
FIELDS = {"prefix": "oxen", "date": "2026-08-01", "model": "kling-v2", "key": "abc123"}


def test_default_template() -> None:
    assert DEFAULT_KEY_TEMPLATE == "{prefix}/{date}/{model}/{key}.mp4"
    assert render_object_key(**FIELDS) == "oxen/2026-08-01/kling-v2/abc123.mp4"


def test_dates_and_multi_segment_prefix() -> None:
    key = render_object_key(prefix="team/videos/", date=dt.date(2026, 8, 1), model="m", key="k")
    assert key == "team/videos/2026-08-01/m/k.mp4"


def test_empty_prefix_leaves_no_leading_slash() -> None:
    assert render_object_key(**{**FIELDS, "prefix": ""}) == "2026-08-01/kling-v2/abc123.mp4"


@pytest.mark.parametrize(
    ("value", "start"),
    [
        ("../../etc/passwd", "_.._etc_passwd-"),
        ("/abs", "_abs-"),
        ("a\\b", "a_b-"),
        ("new\nline\x00", "new_line-"),
        ("Café vidéo", "Cafe_video-"),
        ("日本語", "_-"),
        ("..", "_-"),
    ],
)
def test_unsafe_values_are_rewritten_with_a_hash(value: str, start: str) -> None:
    cleaned = sanitize_key_component(value)
    assert cleaned.startswith(start)
    assert re.fullmatch(r".*-[0-9a-f]{8}", cleaned)
    assert sanitize_key_component(value) == cleaned  # deterministic


def test_safe_values_are_untouched() -> None:
    assert sanitize_key_component("kling-video-v2-6-pro_text.to.video") == (
        "kling-video-v2-6-pro_text.to.video"
    )


def test_different_inputs_do_not_collide() -> None:
    assert sanitize_key_component("a b") != sanitize_key_component("a_b")
    assert sanitize_key_component("日本") != sanitize_key_component("中国")


def test_length_is_capped() -> None:
    long = "x" * 500
    assert len(sanitize_key_component(long)) == 100
    assert sanitize_key_component(long) != sanitize_key_component(long + "y")


@pytest.mark.parametrize(
    ("template", "fields", "message"),
    [
        ("{prefix}/{key}.mp4", {"prefix": "p", "key": "k", "model": "m"}, "not used"),
        ("{prefix}/{model}/{key}.mp4", {"prefix": "p", "key": "k"}, "needs field"),
        ("../{key}.mp4", {"key": "k"}, "escape its prefix"),
        ("/{key}.mp4", {"key": "k"}, "escape its prefix"),
        ("{prefix}/../{key}", {"prefix": "p", "key": "k"}, "escape its prefix"),
        ("{prefix}\\{key}", {"prefix": "p", "key": "k"}, "escape its prefix"),
        ("{key.__class__}", {"key": "k"}, "only plain named fields"),
        ("{key!r}", {"key": "k"}, "only plain named fields"),
        ("{}", {}, "only plain named fields"),
        ("static.mp4", {}, "no fields"),
        ("{key", {"key": "k"}, "not a valid format string"),
        ("vidéos/{key}", {"key": "k"}, "ASCII-safe"),
    ],
)
def test_bad_templates_raise(template: str, fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidObjectKey, match=message) as info:
        render_object_key(template, **fields)
    assert info.value.key_or_template == template


@pytest.mark.parametrize("key", ["", "/a.mp4", "a/../b.mp4", "a//b", "./a", "a/é.mp4", "a\\b"])
def test_validate_object_key_rejects(key: str) -> None:
    with pytest.raises(InvalidObjectKey, match="unsafe"):
        validate_object_key(key)


@given(
    prefix=st.text(max_size=40),
    date=st.text(max_size=20),
    model=st.text(max_size=60),
    key=st.text(max_size=200),
)
def test_rendered_keys_are_always_safe(prefix: str, date: str, model: str, key: str) -> None:
    rendered = render_object_key(prefix=prefix, date=date, model=model, key=key)
    assert SAFE_KEY.fullmatch(rendered)  # ASCII, no control characters, no backslashes
    assert rendered.isascii()
    assert not rendered.startswith("/")
    segments = rendered.split("/")
    assert all(s not in ("", ".", "..") for s in segments)
    assert rendered.endswith(".mp4")
    assert validate_object_key(rendered) == rendered


@given(value=st.text())
def test_components_are_single_safe_segments(value: str) -> None:
    cleaned = sanitize_key_component(value)
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", cleaned)
    assert 1 <= len(cleaned) <= 100


@pytest.mark.parametrize("item_id", ["fox", "clip-01", "a.b_c", "7", "A" * 128])
def test_item_ids_that_name_files_as_they_are(item_id: str) -> None:
    assert validate_item_id(item_id) == item_id


@pytest.mark.parametrize(
    "item_id",
    [
        "../../etc/x",
        "a/b",
        "",
        ".hidden",
        "-flag",
        "with space",
        "é",
        "A" * 129,
        "fox\n",
        "fox\x00",
    ],
)
def test_item_ids_that_would_be_renamed_are_refused(item_id: str) -> None:
    with pytest.raises(InvalidItemId) as caught:
        validate_item_id(item_id)
    assert caught.value.item_id == item_id
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == (
        f"id {item_id!r} may only contain ASCII letters (A-Z, a-z), digits (0-9), '.', '_' and "
        "'-', starting with a letter or digit, at most 128 characters"
    )


@pytest.mark.parametrize("item_id", ["é", "café", "naïve", "Ä", "\u0430", "日本", "e\u0301"])
def test_non_ascii_letters_are_refused_and_the_message_says_ascii(item_id: str) -> None:
    """Issue 21: the message said "letters" and refused é; one spelling per id is the point."""
    with pytest.raises(InvalidItemId, match=r"may only contain ASCII letters \(A-Z, a-z\)"):
        validate_item_id(item_id)
