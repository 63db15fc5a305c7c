"""Object keys for archived videos: rendering a template from untrusted fields, safely.

Field values (model names, prompts' hashes, user prefixes) end up as S3 keys and local paths, so
each is reduced to a conservative ASCII alphabet that is safe in both, in URLs and in shells.
A value that had to change gets a short hash of the original appended, so two different inputs
never map to the same key component (a plain slug, as `python-slugify` makes, would).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import string
import unicodedata

from prefect_oxen.storage._errors import InvalidItemId, InvalidObjectKey

DEFAULT_KEY_TEMPLATE = "{prefix}/{date}/{model}/{key}.mp4"
MAX_COMPONENT_LENGTH = 100
MAX_KEY_LENGTH = 1024  # S3's limit, in UTF-8 bytes (keys here are ASCII, so characters)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_KEY = re.compile(r"[A-Za-z0-9._/-]+")
_HASH_LENGTH = 8
_ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ITEM_ID_RULE = (
    "ASCII letters (A-Z, a-z), digits (0-9), '.', '_' and '-', starting with a letter or digit, "
    "at most 128 characters"
)
_MULTI_SEGMENT_FIELDS = frozenset({"prefix"})


def sanitize_key_component(value: object, *, max_length: int = MAX_COMPONENT_LENGTH) -> str:
    """Map any value to one safe key segment of `[A-Za-z0-9._-]`, deterministically.

    Accents are transliterated (``é`` -> ``e``), other characters become ``_``, leading dots are
    dropped; if anything changed, ``-<8 hex of sha256(original)>`` is appended to keep it unique.

    Args:
        value: Any value; dates use their ISO form, everything else `str()`.
        max_length: The longest segment returned (at least 16).

    Returns:
        `value` unchanged when it is already safe, else its cleaned form with the hash suffix.

    Raises:
        ValueError: `max_length` is too small to hold a hash suffix.
    """
    if max_length < 2 * _HASH_LENGTH:
        raise ValueError(f"max_length must be at least {2 * _HASH_LENGTH}, got {max_length}")
    original = value.isoformat() if isinstance(value, dt.date) else str(value)
    folded = unicodedata.normalize("NFKD", original)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    cleaned = _UNSAFE.sub("_", folded).lstrip(".")
    if cleaned == original and 0 < len(cleaned) <= max_length:
        return cleaned
    suffix = "-" + hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    head = cleaned[: max_length - len(suffix)].rstrip("._-")
    return (head or "_") + suffix


def validate_item_id(item_id: str) -> str:
    """Return `item_id` if it may name an item's files and keys as it is, else raise.

    One rule for every command and flow: ASCII letters and digits, ``.``, ``_`` and ``-``, at
    most 128 characters, starting with a letter or digit. Ids are refused rather than
    sanitised, because a silently renamed id would archive a paid video where its owner does
    not look for it.

    Only ASCII, on purpose: an id is a file name and an S3 key, compared byte for byte. A
    non-ASCII letter has several spellings (``é`` is one code point, or ``e`` plus a combining
    accent, and macOS rewrites file names to the second), so one id could name two files or
    keys, or two different ids look the same (Latin ``a`` and Cyrillic U+0430); object keys here
    are ASCII too (`validate_object_key`).

    Args:
        item_id: The id given by a batch line, ``--id`` or a flow parameter.

    Returns:
        `item_id` unchanged.

    Raises:
        InvalidItemId: The id breaks the rule.
    """
    if not isinstance(item_id, str) or not _ITEM_ID.fullmatch(item_id):
        raise InvalidItemId(
            f"id {item_id!r} may only contain {ITEM_ID_RULE}",
            item_id=str(item_id),
        )
    return item_id


def render_object_key(template: str = DEFAULT_KEY_TEMPLATE, **fields: object) -> str:
    """Render `template` with sanitised `fields` into a relative, ASCII-only object key.

    `prefix` may contain ``/`` (each segment is sanitised; empty means no prefix); every other
    field is one segment. Raises `InvalidObjectKey` for unknown, missing or computed fields, and
    for templates whose literal text is absolute or contains ``..``.

    Args:
        template: A `str.format` template over the fields (default `DEFAULT_KEY_TEMPLATE`).
        **fields: The values of the template's fields.

    Returns:
        The rendered key.

    Raises:
        InvalidObjectKey: A field is unknown, missing or computed, or the template's literal
            text would escape its prefix.
    """
    names = _template_fields(template)
    missing = names - fields.keys()
    if missing:
        raise InvalidObjectKey(
            f"key template {template!r} needs field(s) {sorted(missing)}; pass them to "
            "render_object_key or remove them from the template",
            key_or_template=template,
        )
    unknown = fields.keys() - names
    if unknown:
        raise InvalidObjectKey(
            f"field(s) {sorted(unknown)} are not used by key template {template!r}; available "
            f"fields are {sorted(names)}. Fix the field name or add it to the template.",
            key_or_template=template,
        )
    rendered = template.format_map({name: _render_field(name, fields[name]) for name in names})
    key = "/".join(segment for segment in rendered.split("/") if segment)
    return validate_object_key(key)


def validate_object_key(key: str) -> str:
    """Return `key` if it is a safe relative key (ASCII `[A-Za-z0-9._/-]`, no ``.``/``..`` segment).

    Archives call this on every key they receive, so a hand-built key cannot escape their root.

    Args:
        key: The key to check.

    Returns:
        `key` unchanged.

    Raises:
        InvalidObjectKey: The key is empty, absolute, too long, or has unsafe characters or
            segments.
    """
    problem = None
    if not key:
        problem = "it is empty"
    elif key.startswith("/"):
        problem = "it is absolute (starts with '/')"
    elif not _SAFE_KEY.fullmatch(key):
        problem = "it contains characters outside [A-Za-z0-9._/-]"
    elif any(segment in ("", ".", "..") for segment in key.split("/")):
        problem = "it has an empty, '.' or '..' segment"
    elif len(key) > MAX_KEY_LENGTH:
        problem = f"it is longer than {MAX_KEY_LENGTH} characters"
    if problem:
        raise InvalidObjectKey(
            f"object key {key[:200]!r} is unsafe: {problem}. Build keys with render_object_key, "
            "which sanitises every field.",
            key_or_template=key,
        )
    return key


def _template_fields(template: str) -> set[str]:
    """The field names a key template uses, refusing malformed or unknown ones."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidObjectKey(
            f"key template {template!r} is not a valid format string ({exc}); "
            "write fields as {name} and literal braces as {{ }}",
            key_or_template=template,
        ) from exc
    for literal, name, spec, conversion in parsed:
        _check_literal(template, literal)
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise InvalidObjectKey(
                f"key template {template!r} has field {{{name}}} with an index, attribute, format "
                "spec or conversion; only plain named fields like {model} are allowed",
                key_or_template=template,
            )
        names.add(name)
    if not names:
        raise InvalidObjectKey(
            f"key template {template!r} has no fields, so every video would get the same key; "
            "include at least {key}",
            key_or_template=template,
        )
    return names


def _check_literal(template: str, literal: str) -> None:
    """Refuse a template whose literal text could leave its prefix."""
    if template.startswith("/") or "\\" in literal or ".." in literal.split("/"):
        raise InvalidObjectKey(
            f"key template {template!r} would escape its prefix (absolute path, '..' segment or "
            "backslash in its literal text); use a relative template such as "
            f"{DEFAULT_KEY_TEMPLATE!r}",
            key_or_template=template,
        )
    if not _SAFE_KEY.fullmatch(literal.replace("/", "") or "a"):
        raise InvalidObjectKey(
            f"key template {template!r} has literal text {literal!r} outside [A-Za-z0-9._/-]; "
            "keep literal parts of the template ASCII-safe",
            key_or_template=template,
        )


def _render_field(name: str, value: object) -> str:
    """One template field as a safe key fragment (some fields may span segments)."""
    if name in _MULTI_SEGMENT_FIELDS:
        segments = str(value).replace("\\", "/").split("/")
        return "/".join(sanitize_key_component(s) for s in segments if s and s != ".")
    return sanitize_key_component(value)
