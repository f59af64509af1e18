"""Block Kit builders and Slack's message limits.

Slack rejects a whole message when one block breaks a limit
(``invalid_blocks``) or when the blocks are too large together
(``msg_blocks_too_long``). So every card goes through ``fit_blocks`` before
it is sent. Text that does not fit moves out as ``overflow_text`` for the
incident thread and labels are shortened, so a card is never rejected.

The builders shorten display labels themselves (header, button text,
placeholders, option text) because losing their tail is harmless. They raise
``ValueError`` for ids and values, whose truncation would break the listener
that reads them, and leave long section text and fields to ``fit_blocks``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from typing import Any

Block = dict[str, Any]

# Limits from Slack's Block Kit reference.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_PLACEHOLDER_TEXT = 150
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_MESSAGE_TEXT = 40_000

# NOTE: Slack documents no exact size limit for a message's blocks together;
# msg_blocks_too_long has been reported from about 13,000 characters of JSON,
# varying with content. 12,000 is an estimate with a margin below that.
MAX_BLOCKS_JSON = 12_000

ELLIPSIS = "…"
# Slack rejects empty text, so fit_blocks puts this in place of it.
EMPTY_TEXT = "—"
OVERFLOW_NOTICE = "_Some details did not fit in this message; they follow in the thread._"
BUTTON_STYLES = {"primary", "danger"}

# A section shortened by fit_blocks keeps at least this much of its text.
_MIN_KEPT_SECTION_TEXT = 200


# --- text helpers ---


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` so Slack shows them literally in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_block(text: str) -> str:
    """Wrap text in a code block that nothing inside can close or turn into a mention.

    Reports quote alert names and operator replies. A ``` in one would end the block
    early, and the ``<!channel>`` after it would notify the whole channel.
    """
    # A zero-width space between the backticks keeps them visible but no longer a fence.
    return "```\n" + escape(text).replace("```", "`\u200b`\u200b`") + "\n```"


def truncate(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ELLIPSIS), 0)] + ELLIPSIS


def plain_text(text: str, *, limit: int | None = None) -> Block:
    """Build a ``plain_text`` object, shortened to ``limit`` when given."""
    return {"type": "plain_text", "text": truncate(text, limit) if limit else text, "emoji": True}


def mrkdwn(text: str) -> Block:
    """Build a ``mrkdwn`` text object."""
    return {"type": "mrkdwn", "text": text}


# --- builders ---


def header(text: str, *, block_id: str | None = None) -> Block:
    """Build a header block; text past 150 characters is cut."""
    return _with_block_id({"type": "header", "text": plain_text(text, limit=MAX_HEADER_TEXT)}, block_id)


def section(text: str, *, accessory: Block | None = None, block_id: str | None = None) -> Block:
    """Build a mrkdwn section; ``fit_blocks`` moves text past 3000 characters to the overflow."""
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return _with_block_id(block, block_id)


def fields(texts: Sequence[str], *, block_id: str | None = None) -> Block:
    """Build a section of up to 10 mrkdwn fields.

    Raises:
        ValueError: for more than 10 fields; use ``field_sections`` to spread them.
    """
    if len(texts) > MAX_FIELDS:
        raise ValueError(
            f"a section can have at most {MAX_FIELDS} fields, got {len(texts)}: use field_sections() to spread them"
        )
    return _with_block_id({"type": "section", "fields": [mrkdwn(text) for text in texts]}, block_id)


def field_sections(texts: Sequence[str]) -> list[Block]:
    """Build as many field sections as needed, 10 fields each."""
    return [fields(texts[start : start + MAX_FIELDS]) for start in range(0, len(texts), MAX_FIELDS)]


def context(*texts: str, block_id: str | None = None) -> Block:
    """Build a context block of mrkdwn elements; past 10, the rest join the tenth."""
    items = list(texts)
    if len(items) > MAX_CONTEXT_ELEMENTS:
        items = items[: MAX_CONTEXT_ELEMENTS - 1] + [" · ".join(items[MAX_CONTEXT_ELEMENTS - 1 :])]
    elements = [mrkdwn(truncate(text, MAX_CONTEXT_TEXT)) for text in items]
    return _with_block_id({"type": "context", "elements": elements}, block_id)


def divider() -> Block:
    """Build a divider block."""
    return {"type": "divider"}


def button(
    text: str,
    action_id: str,
    value: str | None = None,
    style: str | None = None,
    *,
    url: str | None = None,
    confirm: Block | None = None,
) -> Block:
    """Build a button; its label is cut at 75 characters.

    Raises:
        ValueError: for an action_id past 255 characters, a value past 2000 or an unknown style.
    """
    _check_id("action_id", action_id)
    if value is not None and len(value) > MAX_BUTTON_VALUE:
        raise ValueError(f"button value of {len(value)} characters is over Slack's {MAX_BUTTON_VALUE}: store the data and pass its id")
    if style is not None and style not in BUTTON_STYLES:
        raise ValueError(f"button style {style!r} is invalid: use 'primary', 'danger' or None")

    element: Block = {"type": "button", "text": plain_text(text, limit=MAX_BUTTON_TEXT), "action_id": action_id}
    if value is not None:
        element["value"] = value
    if style is not None:
        element["style"] = style
    if url is not None:
        element["url"] = url
    if confirm is not None:
        element["confirm"] = confirm
    return element


def static_select(
    placeholder: str,
    action_id: str,
    options: Sequence[tuple[str, str]],
    *,
    initial_value: str | None = None,
) -> Block:
    """Build a static select from (label, value) pairs; labels are cut at 75 characters.

    Raises:
        ValueError: for no options or more than 100, a value past 150 characters,
            an action_id past 255, or an ``initial_value`` that is not an option.
    """
    _check_id("action_id", action_id)
    if not options or len(options) > MAX_OPTIONS:
        raise ValueError(f"a select needs 1 to {MAX_OPTIONS} options, got {len(options)}")

    built = [_option(label, value) for label, value in options]
    element: Block = {
        "type": "static_select",
        "placeholder": plain_text(placeholder, limit=MAX_PLACEHOLDER_TEXT),
        "action_id": action_id,
        "options": built,
    }
    if initial_value is not None:
        matching = [option for option in built if option["value"] == initial_value]
        if not matching:
            raise ValueError(f"initial value {initial_value!r} is not one of the select's options")
        element["initial_option"] = matching[0]
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    """Build an actions block.

    Raises:
        ValueError: for no elements or more than 25.
    """
    if not elements or len(elements) > MAX_ACTIONS_ELEMENTS:
        raise ValueError(f"an actions block needs 1 to {MAX_ACTIONS_ELEMENTS} elements, got {len(elements)}")
    return _with_block_id({"type": "actions", "elements": list(elements)}, block_id)


def _option(label: str, value: str) -> Block:
    if len(value) > MAX_OPTION_VALUE:
        raise ValueError(f"option value {value[:40]!r}… is over Slack's {MAX_OPTION_VALUE} characters")
    return {"text": plain_text(label, limit=MAX_OPTION_TEXT), "value": value}


def _with_block_id(block: Block, block_id: str | None) -> Block:
    if block_id is not None:
        _check_id("block_id", block_id)
        block["block_id"] = block_id
    return block


def _check_id(name: str, value: str) -> None:
    if not value or len(value) > MAX_ID:
        raise ValueError(f"{name} {value[:40]!r} must have 1 to {MAX_ID} characters, it has {len(value)}")


# --- limit checks ---


def blocks_json_length(blocks: Sequence[Block]) -> int:
    """Return the size of the blocks as compact JSON, the size Slack limits."""
    return len(json.dumps(list(blocks), separators=(",", ":"), ensure_ascii=False))


def check_blocks(blocks: Sequence[Block]) -> list[str]:
    """List every Slack limit the blocks break, each as ``<json pointer>: <problem>``."""
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"/blocks: {len(blocks)} blocks, limit {MAX_BLOCKS}")

    for index, block in enumerate(blocks):
        problems.extend(_check_block(block, f"/blocks/{index}"))

    size = blocks_json_length(blocks)
    if size > MAX_BLOCKS_JSON:
        problems.append(f"/blocks: {size} characters of JSON, limit {MAX_BLOCKS_JSON}")
    return problems


def _check_block(block: Block, pointer: str) -> list[str]:
    problems = _too_long(block.get("block_id"), MAX_ID, f"{pointer}/block_id")
    block_type = block.get("type")

    if block_type == "header":
        problems += _too_long(block.get("text", {}).get("text"), MAX_HEADER_TEXT, f"{pointer}/text/text")
    elif block_type == "section":
        problems += _check_section(block, pointer)
    elif block_type == "context":
        elements = block.get("elements", [])
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            problems.append(f"{pointer}/elements: {len(elements)} elements, limit {MAX_CONTEXT_ELEMENTS}")
        for index, element in enumerate(elements):
            problems += _too_long(element.get("text"), MAX_CONTEXT_TEXT, f"{pointer}/elements/{index}/text")
    elif block_type == "actions":
        elements = block.get("elements", [])
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            problems.append(f"{pointer}/elements: {len(elements)} elements, limit {MAX_ACTIONS_ELEMENTS}")
        for index, element in enumerate(elements):
            problems += _check_element(element, f"{pointer}/elements/{index}")
    return problems


def _check_section(block: Block, pointer: str) -> list[str]:
    problems: list[str] = []
    if "text" in block:
        problems += _too_long(block["text"].get("text"), MAX_SECTION_TEXT, f"{pointer}/text/text")

    section_fields = block.get("fields", [])
    if len(section_fields) > MAX_FIELDS:
        problems.append(f"{pointer}/fields: {len(section_fields)} fields, limit {MAX_FIELDS}")
    for index, field in enumerate(section_fields):
        problems += _too_long(field.get("text"), MAX_FIELD_TEXT, f"{pointer}/fields/{index}/text")

    if "accessory" in block:
        problems += _check_element(block["accessory"], f"{pointer}/accessory")
    return problems


def _check_element(element: Block, pointer: str) -> list[str]:
    problems = _too_long(element.get("action_id"), MAX_ID, f"{pointer}/action_id")
    if element.get("type") == "button":
        problems += _too_long(element.get("text", {}).get("text"), MAX_BUTTON_TEXT, f"{pointer}/text/text")
        problems += _too_long(element.get("value"), MAX_BUTTON_VALUE, f"{pointer}/value")
    if "placeholder" in element:
        problems += _too_long(element["placeholder"].get("text"), MAX_PLACEHOLDER_TEXT, f"{pointer}/placeholder/text")

    options = element.get("options", [])
    if len(options) > MAX_OPTIONS:
        problems.append(f"{pointer}/options: {len(options)} options, limit {MAX_OPTIONS}")
    for index, option in enumerate(options):
        problems += _too_long(option.get("text", {}).get("text"), MAX_OPTION_TEXT, f"{pointer}/options/{index}/text/text")
        problems += _too_long(option.get("value"), MAX_OPTION_VALUE, f"{pointer}/options/{index}/value")
    return problems


def _too_long(value: Any, limit: int, pointer: str) -> list[str]:
    if isinstance(value, str) and len(value) > limit:
        return [f"{pointer}: {len(value)} characters, limit {limit}"]
    if value == "":
        return [f"{pointer}: empty, Slack requires at least 1 character"]
    return []


# --- fitting ---


def fit_blocks(blocks: Sequence[Block], *, notice: str | None = OVERFLOW_NOTICE) -> tuple[list[Block], str]:
    """Make blocks acceptable to Slack, returning the fitted blocks and the text that was moved out.

    Long section text and fields are cut at a line boundary, and their rest
    moves to the overflow, as do fields and context elements past 10.
    Labels and ids are shortened. Past 50 blocks or past the total size,
    trailing content blocks move out, but every actions block stays, so the
    card keeps its buttons. When anything moved, ``notice`` is added as a
    context block. The input is not modified.
    """
    fitted = [copy.deepcopy(block) for block in blocks]
    overflow: list[str] = []

    for block in fitted:
        overflow.extend(_fit_block(block))

    if len(fitted) > MAX_BLOCKS:
        fitted, removed = _drop_content_blocks(fitted, MAX_BLOCKS - (1 if notice else 0))
        overflow.extend(removed)

    fitted, moved = _fit_total_size(fitted, notice=notice)
    overflow.extend(moved)

    if overflow and notice:
        if len(fitted) >= MAX_BLOCKS:
            fitted, removed = _drop_content_blocks(fitted, MAX_BLOCKS - 1)
            overflow.extend(removed)
        fitted.append(context(notice))
    return fitted, "\n\n".join(part for part in overflow if part)


def _fit_block(block: Block) -> list[str]:
    """Fit one block in place and return the text moved out of it."""
    overflow: list[str] = []
    if "block_id" in block:
        block["block_id"] = block["block_id"][:MAX_ID]
    block_type = block.get("type")

    if block_type == "header":
        block["text"]["text"] = _fit_label(block["text"]["text"], MAX_HEADER_TEXT)
    elif block_type == "section":
        if "text" in block:
            kept, rest = split_text(block["text"]["text"], MAX_SECTION_TEXT)
            block["text"]["text"] = kept or EMPTY_TEXT
            overflow.append(rest)
        if "fields" in block:
            for field in block["fields"][:MAX_FIELDS]:
                kept, rest = split_text(field["text"], MAX_FIELD_TEXT)
                field["text"] = kept or EMPTY_TEXT
                overflow.append(rest)
            overflow.extend(field["text"] for field in block["fields"][MAX_FIELDS:])
            block["fields"] = block["fields"][:MAX_FIELDS]
        if "accessory" in block:
            _fit_element(block["accessory"])
    elif block_type == "context":
        overflow.extend(element.get("text", "") for element in block["elements"][MAX_CONTEXT_ELEMENTS:])
        block["elements"] = block["elements"][:MAX_CONTEXT_ELEMENTS]
        for element in block["elements"]:
            if "text" in element:
                element["text"] = _fit_label(element["text"], MAX_CONTEXT_TEXT)
    elif block_type == "actions":
        block["elements"] = block["elements"][:MAX_ACTIONS_ELEMENTS]
        for element in block["elements"]:
            _fit_element(element)
    return [part for part in overflow if part]


def _fit_element(element: Block) -> None:
    if "action_id" in element:
        element["action_id"] = element["action_id"][:MAX_ID]
    if element.get("type") == "button":
        element["text"]["text"] = _fit_label(element["text"]["text"], MAX_BUTTON_TEXT)
        if "value" in element:
            # NOTE: a cut value no longer matches what the listener expects;
            # the builders raise instead, so only hand-built buttons get here.
            element["value"] = element["value"][:MAX_BUTTON_VALUE]
    if "placeholder" in element:
        element["placeholder"]["text"] = _fit_label(element["placeholder"]["text"], MAX_PLACEHOLDER_TEXT)
    if "options" in element:
        element["options"] = element["options"][:MAX_OPTIONS]
        for option in element["options"]:
            option["text"]["text"] = _fit_label(option["text"]["text"], MAX_OPTION_TEXT)


def _fit_label(text: str, limit: int) -> str:
    return truncate(text, limit) or EMPTY_TEXT


def _drop_content_blocks(blocks: list[Block], budget: int) -> tuple[list[Block], list[str]]:
    """Keep every actions block and the earliest other blocks within ``budget`` blocks."""
    action_count = sum(1 for block in blocks if block.get("type") == "actions")
    content_budget = max(budget - action_count, 0)

    kept: list[Block] = []
    removed: list[str] = []
    for block in blocks:
        if block.get("type") == "actions":
            kept.append(block)
        elif content_budget > 0:
            kept.append(block)
            content_budget -= 1
        else:
            removed.append(block_text(block))
    return kept, removed


def _fit_total_size(blocks: list[Block], *, notice: str | None) -> tuple[list[Block], list[str]]:
    """Shorten the longest sections, then drop trailing content blocks, until the JSON fits.

    The size of the notice block is kept free, because any move adds it.
    """
    notice_size = blocks_json_length([context(notice)]) if notice else 0
    limit = MAX_BLOCKS_JSON - notice_size
    moved: list[str] = []

    while blocks_json_length(blocks) > limit:
        excess = blocks_json_length(blocks) - limit
        longest = _longest_section(blocks)
        if longest is not None and len(longest["text"]["text"]) > _MIN_KEPT_SECTION_TEXT:
            text = longest["text"]["text"]
            target = max(len(text) - excess - 50, _MIN_KEPT_SECTION_TEXT)
            kept, rest = split_text(text, target)
            longest["text"]["text"] = kept
            moved.append(rest)
            continue

        droppable = [index for index, block in enumerate(blocks) if block.get("type") != "actions"]
        if not droppable:
            break
        moved.append(block_text(blocks.pop(droppable[-1])))
    return blocks, [part for part in moved if part]


def _longest_section(blocks: list[Block]) -> Block | None:
    sections = [block for block in blocks if block.get("type") == "section" and "text" in block]
    return max(sections, key=lambda block: len(block["text"]["text"]), default=None)


def split_text(text: str, limit: int) -> tuple[str, str]:
    """Split ``text`` into a head of at most ``limit`` characters and the rest.

    The cut falls on the last line break that fits, or on a word boundary, and
    the head ends with an ellipsis. Code fences (```) left open in the head
    are closed there and reopened in the rest, so both render correctly.
    """
    if len(text) <= limit:
        return text, ""

    head, rest = _cut(text, limit - len(ELLIPSIS))
    if head.count("```") % 2 == 0:
        return head + ELLIPSIS, rest

    head, rest = _cut(text, limit - len(ELLIPSIS) - len("\n```"))
    if head.count("```") % 2 == 1:
        return head + ELLIPSIS + "\n```", "```\n" + rest
    return head + ELLIPSIS, rest


def _cut(text: str, room: int) -> tuple[str, str]:
    """Cut at the last line break within ``room``, else at a space, else anywhere."""
    cut = text.rfind("\n", 0, room + 1)
    if cut < room // 2:
        cut = text.rfind(" ", 0, room + 1)
    if cut < room // 2:
        cut = room
    return text[:cut].rstrip(), text[cut:].lstrip("\n ")


def block_text(block: Block) -> str:
    """Return the readable text of a block, for moving it into a thread reply."""
    block_type = block.get("type")
    if block_type == "header":
        return f"*{block['text']['text']}*"
    if block_type == "section":
        parts = [block["text"]["text"]] if "text" in block else []
        parts.extend(field["text"] for field in block.get("fields", []))
        return "\n".join(parts)
    if block_type == "context":
        return " · ".join(element.get("text", "") for element in block.get("elements", []))
    return ""


def text_of(blocks: Iterable[Block]) -> str:
    """Return the readable text of several blocks, one block per paragraph."""
    return "\n\n".join(text for text in (block_text(block) for block in blocks) if text)
