"""Server-side validation Discord performs and discord.py does not.

Errors are collected in Discord's "Invalid Form Body" (code 50035) shape::

    {"code": 50035, "message": "Invalid Form Body",
     "errors": {"embeds": {"0": {"title": {"_errors": [{"code": ..., "message": ...}]}}}}}
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from .builders import MessageFlag

Path = tuple[str | int, ...]

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000
ACTION_ROWS_MAX = 5
BUTTONS_PER_ROW_MAX = 5
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
SELECT_OPTIONS_MAX = 25
SELECT_PLACEHOLDER_MAX = 150
ATTACHMENTS_MAX = 10
COMPONENTS_V2_MAX = 40
TEXT_DISPLAY_TOTAL_MAX = 4000
MODAL_TITLE_MAX = 45
MODAL_COMPONENTS_MAX = 5
AUTOCOMPLETE_CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_VALUE_MAX = 100
THREAD_NAME_MAX = 100

_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)
_URL_SCHEMES = {"http", "https", "attachment"}


class FormErrors:
    """Collects field errors keyed by their JSON path."""

    def __init__(self) -> None:
        self.items: list[tuple[Path, str, str]] = []

    def add(self, path: Path, code: str, message: str) -> None:
        """Record an error at ``path``."""
        self.items.append((path, code, message))

    def max_len(self, path: Path, value: Any, limit: int) -> None:
        """Error if ``value`` is a string longer than ``limit``."""
        if isinstance(value, str) and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def length(self, path: Path, value: Any, low: int, high: int, *, required: bool = True) -> None:
        """Error unless ``low <= len(value) <= high`` (strings and lists)."""
        if value is None:
            if required:
                self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return
        if not isinstance(value, str | list):
            self.add(path, "BASE_TYPE_BAD_TYPE", "Bad type.")
            return
        if not low <= len(value) <= high:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def __bool__(self) -> bool:
        return bool(self.items)

    def to_errors(self) -> dict[str, Any]:
        """Nested ``errors`` object as Discord returns it."""
        root: dict[str, Any] = {}
        for path, code, message in self.items:
            node = root
            for part in path:
                node = node.setdefault(str(part), {})
            node.setdefault("_errors", []).append({"code": code, "message": message})
        return root

    def summary(self) -> list[str]:
        """Flat ``path: message`` strings, handy in assertion messages."""
        return [f"{'.'.join(map(str, p)) or '<root>'}: {m} ({c})" for p, c, m in self.items]


def _valid_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    if parsed.scheme not in _URL_SCHEMES:
        return False
    return bool(parsed.netloc) or parsed.scheme == "attachment"


def embed_length(embed: dict[str, Any]) -> int:
    """Characters counted towards the 6000 total (title, description, fields, footer, author)."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for fld in embed.get("fields") or []:
        total += len(str(fld.get("name") or "")) + len(str(fld.get("value") or ""))
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def validate_embeds(embeds: Any, errors: FormErrors, path: Path) -> None:
    """Embed limits: count, per-field lengths, required names/values, URLs and the 6000 total."""
    if not isinstance(embeds, list):
        errors.add(path, "BASE_TYPE_BAD_TYPE", "Must be an array.")
        return
    if len(embeds) > EMBEDS_MAX:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {EMBEDS_MAX} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        p = (*path, i)
        if not isinstance(embed, dict):
            errors.add(p, "BASE_TYPE_BAD_TYPE", "Must be an object.")
            continue
        total += embed_length(embed)
        errors.max_len((*p, "title"), embed.get("title"), EMBED_TITLE_MAX)
        errors.max_len((*p, "description"), embed.get("description"), EMBED_DESCRIPTION_MAX)
        for key in ("url",):
            if embed.get(key) is not None and not _valid_url(embed[key]):
                errors.add((*p, key), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        for key in ("image", "thumbnail"):
            sub = embed.get(key)
            if isinstance(sub, dict) and not _valid_url(sub.get("url")):
                errors.add((*p, key, "url"), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        color = embed.get("color")
        if color is not None and not (isinstance(color, int) and 0 <= color <= 0xFFFFFF):
            errors.add((*p, "color"), "NUMBER_TYPE_MAX", "int value should be <= 16777215 and >= 0.")
        fields = embed.get("fields") or []
        if len(fields) > EMBED_FIELDS_MAX:
            errors.add((*p, "fields"), "BASE_TYPE_MAX_LENGTH", f"Must be {EMBED_FIELDS_MAX} or fewer in length.")
        for j, fld in enumerate(fields):
            fp = (*p, "fields", j)
            errors.length((*fp, "name"), fld.get("name"), 1, EMBED_FIELD_NAME_MAX)
            errors.length((*fp, "value"), fld.get("value"), 1, EMBED_FIELD_VALUE_MAX)
        footer = embed.get("footer")
        if isinstance(footer, dict):
            errors.length((*p, "footer", "text"), footer.get("text"), 1, EMBED_FOOTER_MAX)
            if footer.get("icon_url") is not None and not _valid_url(footer["icon_url"]):
                errors.add((*p, "footer", "icon_url"), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        author = embed.get("author")
        if isinstance(author, dict):
            errors.length((*p, "author", "name"), author.get("name"), 1, EMBED_AUTHOR_MAX)
            for key in ("url", "icon_url"):
                if author.get(key) is not None and not _valid_url(author[key]):
                    errors.add((*p, "author", key), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    if total > EMBED_TOTAL_MAX:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}")


def _walk_components(components: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for comp in components:
        if not isinstance(comp, dict):
            continue
        out.append(comp)
        out.extend(_walk_components(comp.get("components") or []))
        if isinstance(comp.get("component"), dict):
            out.extend(_walk_components([comp["component"]]))
        if isinstance(comp.get("accessory"), dict):
            out.extend(_walk_components([comp["accessory"]]))
    return out


def _validate_interactive(comp: dict[str, Any], errors: FormErrors, p: Path) -> None:
    ctype = comp.get("type")
    if ctype == 2:
        style = comp.get("style")
        if style == 5:
            if not _valid_url(comp.get("url")):
                errors.add((*p, "url"), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
            if comp.get("custom_id") is not None:
                errors.add((*p, "custom_id"), "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "Link buttons cannot have a custom_id")
        elif style != 6:
            errors.length((*p, "custom_id"), comp.get("custom_id"), 1, CUSTOM_ID_MAX)
        errors.max_len((*p, "label"), comp.get("label"), BUTTON_LABEL_MAX)
        if not comp.get("label") and not comp.get("emoji") and style != 6:
            errors.add((*p, "label"), "BASE_TYPE_REQUIRED", "A button needs a label or an emoji")
    elif ctype in (3, 5, 6, 7, 8):
        errors.length((*p, "custom_id"), comp.get("custom_id"), 1, CUSTOM_ID_MAX)
        errors.max_len((*p, "placeholder"), comp.get("placeholder"), SELECT_PLACEHOLDER_MAX)
        if ctype == 3:
            options = comp.get("options") or []
            errors.length((*p, "options"), options, 1, SELECT_OPTIONS_MAX)
            for k, opt in enumerate(options):
                errors.length((*p, "options", k, "label"), opt.get("label"), 1, 100)
                errors.length((*p, "options", k, "value"), opt.get("value"), 1, 100)
                errors.max_len((*p, "options", k, "description"), opt.get("description"), 100)
        min_v, max_v = comp.get("min_values", 1), comp.get("max_values", 1)
        if not (0 <= min_v <= 25 and 1 <= max_v <= 25 and min_v <= max_v):
            errors.add((*p, "max_values"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25.")
    elif ctype == 4:
        errors.length((*p, "custom_id"), comp.get("custom_id"), 1, CUSTOM_ID_MAX)
        errors.max_len((*p, "label"), comp.get("label"), MODAL_TITLE_MAX)
        errors.max_len((*p, "placeholder"), comp.get("placeholder"), 100)
        errors.max_len((*p, "value"), comp.get("value"), 4000)


def validate_components(components: Any, flags: int, errors: FormErrors, path: Path) -> None:
    """Action-row/button/select limits, custom_id rules and the Components V2 limits."""
    if not isinstance(components, list):
        errors.add(path, "BASE_TYPE_BAD_TYPE", "Must be an array.")
        return
    v2 = bool(flags & MessageFlag.IS_COMPONENTS_V2)
    everything = _walk_components(components)
    if v2:
        if len(everything) > COMPONENTS_V2_MAX:
            errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {COMPONENTS_V2_MAX} or fewer in total.")
        text = sum(len(c.get("content") or "") for c in everything if c.get("type") == 10)
        if text > TEXT_DISPLAY_TOTAL_MAX:
            errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Text displays exceed {TEXT_DISPLAY_TOTAL_MAX} characters.")
    elif len(components) > ACTION_ROWS_MAX:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {ACTION_ROWS_MAX} in length.")
    seen: set[str] = set()
    for comp in everything:
        cid = comp.get("custom_id")
        if isinstance(cid, str):
            if cid in seen:
                errors.add(path, "COMPONENT_CUSTOM_ID_DUPLICATED", f"Component custom id cannot be duplicated: {cid}")
            seen.add(cid)
    for i, row in enumerate(components):
        p = (*path, i)
        if not isinstance(row, dict):
            errors.add(p, "BASE_TYPE_BAD_TYPE", "Must be an object.")
            continue
        if not v2 and row.get("type") != 1:
            errors.add((*p, "type"), "UNION_TYPE_CHOICES", "Top-level components must be action rows.")
            continue
        if row.get("type") == 1:
            children = row.get("components") or []
            kinds = {c.get("type") for c in children if isinstance(c, dict)}
            if not children:
                errors.add((*p, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
            elif kinds == {2}:
                if len(children) > BUTTONS_PER_ROW_MAX:
                    errors.add(
                        (*p, "components"),
                        "BASE_TYPE_BAD_LENGTH",
                        f"Must be between 1 and {BUTTONS_PER_ROW_MAX} in length.",
                    )
            elif len(children) != 1:
                errors.add((*p, "components"), "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "A select menu fills a row.")
        for j, child in enumerate(_walk_components(row.get("components") or [])):
            _validate_interactive(child, errors, (*p, "components", j))
        if row.get("type") != 1:
            _validate_interactive(row, errors, p)


def validate_allowed_mentions(am: Any, errors: FormErrors, path: Path) -> None:
    """``parse`` and explicit lists are mutually exclusive; lists hold at most 100 ids."""
    if am is None:
        return
    if not isinstance(am, dict):
        errors.add(path, "BASE_TYPE_BAD_TYPE", "Must be an object.")
        return
    parse = am.get("parse") or []
    for kind in ("users", "roles"):
        ids = am.get(kind) or []
        if ids and kind in parse:
            errors.add(
                (*path, "parse"),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
        if len(ids) > 100:
            errors.add((*path, kind), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")


def validate_message(payload: dict[str, Any], errors: FormErrors, path: Path = (), *, file_count: int = 0) -> None:
    """Content, embeds, components, allowed_mentions and attachment-count limits."""
    content = payload.get("content")
    flags = int(payload.get("flags") or 0)
    if content is not None:
        if not isinstance(content, str):
            errors.add((*path, "content"), "BASE_TYPE_BAD_TYPE", "Must be a string.")
        else:
            errors.max_len((*path, "content"), content, CONTENT_MAX)
    if payload.get("embeds") is not None:
        validate_embeds(payload["embeds"], errors, (*path, "embeds"))
    if payload.get("components") is not None:
        validate_components(payload["components"], flags, errors, (*path, "components"))
    if flags & MessageFlag.IS_COMPONENTS_V2:
        if content:
            errors.add((*path, "content"), "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2", "Must be empty.")
        if payload.get("embeds"):
            errors.add((*path, "embeds"), "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2", "Must be empty.")
    validate_allowed_mentions(payload.get("allowed_mentions"), errors, (*path, "allowed_mentions"))
    attachments = payload.get("attachments")
    count = max(file_count, len(attachments) if isinstance(attachments, list) else 0)
    if count > ATTACHMENTS_MAX:
        errors.add((*path, "attachments"), "BASE_TYPE_MAX_LENGTH", f"Must be {ATTACHMENTS_MAX} or fewer in length.")
    nonce = payload.get("nonce")
    if isinstance(nonce, str):
        errors.max_len((*path, "nonce"), nonce, 25)


def is_empty_message(payload: dict[str, Any], file_count: int) -> bool:
    """Discord rejects messages with nothing to show (code 50006)."""
    content = payload.get("content")
    return not (
        (isinstance(content, str) and content.strip())
        or payload.get("embeds")
        or payload.get("components")
        or file_count
        or payload.get("attachments")
        or payload.get("sticker_ids")
        or payload.get("poll")
    )


def validate_modal(data: Any, errors: FormErrors, path: Path = ("data",)) -> None:
    """Modal: custom_id 1-100, title 1-45, 1-5 top-level components, valid text inputs."""
    if not isinstance(data, dict):
        errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return
    errors.length((*path, "custom_id"), data.get("custom_id"), 1, CUSTOM_ID_MAX)
    errors.length((*path, "title"), data.get("title"), 1, MODAL_TITLE_MAX)
    comps = data.get("components")
    errors.length((*path, "components"), comps, 1, MODAL_COMPONENTS_MAX)
    for i, comp in enumerate(comps or []):
        p = (*path, "components", i)
        ctype = comp.get("type")
        if ctype == 1:
            children = comp.get("components") or []
            if len(children) != 1:
                errors.add((*p, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 1 in length.")
            for j, child in enumerate(children):
                _validate_interactive(child, errors, (*p, "components", j))
        elif ctype == 18:
            errors.length((*p, "label"), comp.get("label"), 1, MODAL_TITLE_MAX)
            errors.max_len((*p, "description"), comp.get("description"), 100)
            if isinstance(comp.get("component"), dict):
                _validate_interactive(comp["component"], errors, (*p, "component"))
            else:
                errors.add((*p, "component"), "BASE_TYPE_REQUIRED", "This field is required")
        elif ctype != 10:
            errors.add((*p, "type"), "UNION_TYPE_CHOICES", "Value must be one of {1, 10, 18}.")


def validate_choices(data: Any, errors: FormErrors, path: Path = ("data",)) -> None:
    """Autocomplete result: at most 25 choices, names 1-100, string values at most 100."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        errors.add((*path, "choices"), "BASE_TYPE_REQUIRED", "This field is required")
        return
    choices = data["choices"]
    if len(choices) > AUTOCOMPLETE_CHOICES_MAX:
        errors.add(
            (*path, "choices"), "BASE_TYPE_MAX_LENGTH", f"Must be {AUTOCOMPLETE_CHOICES_MAX} or fewer in length."
        )
    for i, choice in enumerate(choices):
        errors.length((*path, "choices", i, "name"), choice.get("name"), 1, CHOICE_NAME_MAX)
        value = choice.get("value")
        if isinstance(value, str):
            errors.max_len((*path, "choices", i, "value"), value, CHOICE_VALUE_MAX)


def _validate_options(options: list[dict[str, Any]], errors: FormErrors, path: Path, depth: int) -> int:
    if len(options) > 25:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    chars = 0
    seen_optional = False
    names: set[str] = set()
    for i, opt in enumerate(options):
        p = (*path, i)
        name = opt.get("name")
        if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
            errors.add((*p, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        elif name in names:
            errors.add((*p, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option name already exists")
        names.add(name if isinstance(name, str) else "")
        errors.length((*p, "description"), opt.get("description"), 1, 100)
        chars += len(name or "") + len(opt.get("description") or "")
        otype = opt.get("type")
        if otype in (1, 2):
            if (otype == 2 and depth > 0) or (otype == 1 and depth > 1):
                errors.add((*p, "type"), "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Invalid subcommand nesting")
            chars += _validate_options(opt.get("options") or [], errors, (*p, "options"), depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                errors.add(
                    (*p, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            errors.add((*p, "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if choices and opt.get("autocomplete"):
            errors.add((*p, "autocomplete"), "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID", "Choices and autocomplete")
        for choice in choices:
            chars += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    return chars


def validate_commands(commands: Any, errors: FormErrors) -> None:
    """Bulk-overwrite body: names, descriptions, option rules, duplicates, counts, 4000 chars."""
    if not isinstance(commands, list):
        errors.add((), "BASE_TYPE_BAD_TYPE", "Must be an array.")
        return
    seen: set[tuple[int, str]] = set()
    counts: dict[int, int] = {}
    for i, cmd in enumerate(commands):
        ctype = int(cmd.get("type", 1))
        name = cmd.get("name")
        counts[ctype] = counts.get(ctype, 0) + 1
        if (ctype, name) in seen:
            errors.add(
                (i, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME", f"Application command names must be unique: {name}"
            )
        seen.add((ctype, str(name)))
        if ctype == 1:
            if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
                errors.add((i, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            errors.length((i, "description"), cmd.get("description"), 1, 100)
            chars = len(name or "") + len(cmd.get("description") or "")
            chars += _validate_options(cmd.get("options") or [], errors, (i, "options"), 0)
            if chars > 4000:
                errors.add((i,), "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)")
        else:
            errors.length((i, "name"), name, 1, 32)
            if cmd.get("description"):
                errors.add((i, "description"), "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION", "Must be empty.")
    for ctype, limit in ((1, 100), (2, 15), (3, 15)):
        if counts.get(ctype, 0) > limit:
            errors.add((), "BASE_TYPE_MAX_LENGTH", f"Too many commands of type {ctype} (max {limit}).")
