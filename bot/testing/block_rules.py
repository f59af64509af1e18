"""Slack's Block Kit limits, as the stand-in Web API enforces them.

The numbers follow Slack's Block Kit reference (blocks, block elements and
composition objects). Errors read like Slack's own ``invalid_blocks``
entries: ``must be less than 3001 characters [json-pointer:/blocks/0/text/text]``.

This module is deliberately independent of ``bot.blockkit``: the stand-in
must catch what the bot's own checks miss.
"""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000

# NOTE: Slack documents no exact limit for the serialised blocks of a
# message; reports put the msg_blocks_too_long threshold near 13,200
# characters, varying with content. 13,000 keeps the stand-in a little stricter.
MAX_BLOCKS_JSON = 13_000

TEXT_TYPES = {"plain_text", "mrkdwn"}
BLOCK_TYPES = {"section", "header", "divider", "context", "actions", "image", "input", "rich_text", "markdown"}
SELECT_TYPES = {
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_users_select",
}


def blocks_json_length(blocks: list[Any]) -> int:
    """Return the length of the blocks serialised as compact JSON."""
    return len(json.dumps(blocks, separators=(",", ":"), ensure_ascii=False))


def validate_blocks(blocks: Any, *, pointer: str = "/blocks", max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Return Slack-style error strings for every limit the blocks break."""
    errors: list[str] = []
    if not isinstance(blocks, list):
        return [_error("must be an array", pointer)]
    if len(blocks) > max_blocks:
        errors.append(_error(f"no more than {max_blocks} items allowed", pointer))

    for index, block in enumerate(blocks):
        errors.extend(_validate_block(block, f"{pointer}/{index}"))
    return errors


def validate_view(view: Any) -> list[str]:
    """Return Slack-style error strings for a modal or Home tab view."""
    if not isinstance(view, dict):
        return [_error("must be an object", "/view")]

    errors: list[str] = []
    if view.get("type") not in {"modal", "home"}:
        errors.append(_error("must be one of modal, home", "/view/type"))
    if view.get("type") == "modal":
        errors.extend(_text_object(view.get("title"), "/view/title", max_length=24, plain_only=True))
    for key in ("submit", "close"):
        if key in view:
            errors.extend(_text_object(view[key], f"/view/{key}", max_length=24, plain_only=True))
    errors.extend(_max_length(view.get("callback_id"), 255, "/view/callback_id"))
    errors.extend(_max_length(view.get("private_metadata"), 3000, "/view/private_metadata"))
    errors.extend(validate_blocks(view.get("blocks", []), pointer="/view/blocks", max_blocks=MAX_VIEW_BLOCKS))
    return errors


def _validate_block(block: Any, pointer: str) -> list[str]:
    if not isinstance(block, dict):
        return [_error("must be an object", pointer)]

    block_type = block.get("type")
    if block_type not in BLOCK_TYPES:
        return [_error(f"unsupported type: {block_type}", f"{pointer}/type")]

    errors = _max_length(block.get("block_id"), 255, f"{pointer}/block_id")
    check = _BLOCK_CHECKS.get(block_type)
    if check is not None:
        errors.extend(check(block, pointer))
    return errors


def _section(block: dict[str, Any], pointer: str) -> list[str]:
    errors: list[str] = []
    if "text" not in block and "fields" not in block:
        errors.append(_error("must provide text or fields", pointer))
    if "text" in block:
        errors.extend(_text_object(block["text"], f"{pointer}/text", max_length=3000))

    fields = block.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            errors.append(_error("must be an array", f"{pointer}/fields"))
        else:
            if len(fields) > 10:
                errors.append(_error("no more than 10 items allowed", f"{pointer}/fields"))
            for index, field in enumerate(fields):
                errors.extend(_text_object(field, f"{pointer}/fields/{index}", max_length=2000))

    if "accessory" in block:
        errors.extend(_element(block["accessory"], f"{pointer}/accessory"))
    return errors


def _header(block: dict[str, Any], pointer: str) -> list[str]:
    return _text_object(block.get("text"), f"{pointer}/text", max_length=150, plain_only=True)


def _context(block: dict[str, Any], pointer: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [_error("must provide at least 1 item", f"{pointer}/elements")]

    errors: list[str] = []
    if len(elements) > 10:
        errors.append(_error("no more than 10 items allowed", f"{pointer}/elements"))
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        if isinstance(element, dict) and element.get("type") == "image":
            errors.extend(_image(element, element_pointer))
        else:
            errors.extend(_text_object(element, element_pointer, max_length=3000))
    return errors


def _actions(block: dict[str, Any], pointer: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [_error("must provide at least 1 item", f"{pointer}/elements")]

    errors: list[str] = []
    if len(elements) > 25:
        errors.append(_error("no more than 25 items allowed", f"{pointer}/elements"))
    for index, element in enumerate(elements):
        errors.extend(_element(element, f"{pointer}/elements/{index}"))
    return errors


def _image(block: dict[str, Any], pointer: str) -> list[str]:
    errors = _required_string(block.get("alt_text"), 2000, f"{pointer}/alt_text")
    if "image_url" in block:
        errors.extend(_required_string(block["image_url"], 3000, f"{pointer}/image_url"))
    return errors


def _input(block: dict[str, Any], pointer: str) -> list[str]:
    errors = _text_object(block.get("label"), f"{pointer}/label", max_length=2000, plain_only=True)
    if "hint" in block:
        errors.extend(_text_object(block["hint"], f"{pointer}/hint", max_length=2000, plain_only=True))
    if "element" not in block:
        errors.append(_error("must provide an element", f"{pointer}/element"))
    else:
        errors.extend(_element(block["element"], f"{pointer}/element"))
    return errors


def _markdown(block: dict[str, Any], pointer: str) -> list[str]:
    return _required_string(block.get("text"), 12_000, f"{pointer}/text")


_BLOCK_CHECKS = {
    "section": _section,
    "header": _header,
    "context": _context,
    "actions": _actions,
    "image": _image,
    "input": _input,
    "markdown": _markdown,
}


def _element(element: Any, pointer: str) -> list[str]:
    if not isinstance(element, dict):
        return [_error("must be an object", pointer)]

    element_type = element.get("type")
    errors = _max_length(element.get("action_id"), 255, f"{pointer}/action_id")
    if element_type == "button":
        errors.extend(_text_object(element.get("text"), f"{pointer}/text", max_length=75, plain_only=True))
        errors.extend(_max_length(element.get("value"), 2000, f"{pointer}/value"))
        errors.extend(_max_length(element.get("url"), 3000, f"{pointer}/url"))
        if "style" in element and element["style"] not in {"primary", "danger"}:
            errors.append(_error("must be one of primary, danger", f"{pointer}/style"))
    elif element_type in SELECT_TYPES:
        if "placeholder" in element:
            errors.extend(_text_object(element["placeholder"], f"{pointer}/placeholder", max_length=150, plain_only=True))
        errors.extend(_options(element.get("options"), f"{pointer}/options", max_items=100))
    elif element_type == "overflow":
        errors.extend(_options(element.get("options"), f"{pointer}/options", max_items=5))
    elif element_type == "plain_text_input":
        if "placeholder" in element:
            errors.extend(_text_object(element["placeholder"], f"{pointer}/placeholder", max_length=150, plain_only=True))
        max_length = element.get("max_length")
        if max_length is not None and (not isinstance(max_length, int) or max_length > 3000):
            errors.append(_error("must be at most 3000", f"{pointer}/max_length"))
    elif element_type == "image":
        errors.extend(_image(element, pointer))
    elif element_type not in {"datepicker", "timepicker", "checkboxes", "radio_buttons", "number_input", "rich_text_input"}:
        errors.append(_error(f"unsupported type: {element_type}", f"{pointer}/type"))

    if "confirm" in element:
        errors.extend(_confirm(element["confirm"], f"{pointer}/confirm"))
    return errors


def _options(options: Any, pointer: str, *, max_items: int) -> list[str]:
    if options is None:
        return []
    if not isinstance(options, list):
        return [_error("must be an array", pointer)]

    errors: list[str] = []
    if len(options) > max_items:
        errors.append(_error(f"no more than {max_items} items allowed", pointer))
    for index, option in enumerate(options):
        option_pointer = f"{pointer}/{index}"
        if not isinstance(option, dict):
            errors.append(_error("must be an object", option_pointer))
            continue
        errors.extend(_text_object(option.get("text"), f"{option_pointer}/text", max_length=75))
        errors.extend(_required_string(option.get("value"), 150, f"{option_pointer}/value"))
    return errors


def _confirm(confirm: Any, pointer: str) -> list[str]:
    if not isinstance(confirm, dict):
        return [_error("must be an object", pointer)]
    errors = _text_object(confirm.get("title"), f"{pointer}/title", max_length=100, plain_only=True)
    errors.extend(_text_object(confirm.get("text"), f"{pointer}/text", max_length=300))
    errors.extend(_text_object(confirm.get("confirm"), f"{pointer}/confirm", max_length=30, plain_only=True))
    errors.extend(_text_object(confirm.get("deny"), f"{pointer}/deny", max_length=30, plain_only=True))
    return errors


def _text_object(value: Any, pointer: str, *, max_length: int, plain_only: bool = False) -> list[str]:
    if not isinstance(value, dict):
        return [_error("must be an object", pointer)]

    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    if value.get("type") not in allowed:
        return [_error(f"must be one of {', '.join(sorted(allowed))}", f"{pointer}/type")]
    return _required_string(value.get("text"), max_length, f"{pointer}/text")


def _required_string(value: Any, max_length: int, pointer: str) -> list[str]:
    if not isinstance(value, str):
        return [_error("must be a string", pointer)]
    if not value:
        return [_error("must be more than 0 characters", pointer)]
    return _max_length(value, max_length, pointer)


def _max_length(value: Any, max_length: int, pointer: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [_error("must be a string", pointer)]
    if len(value) > max_length:
        return [_error(f"must be less than {max_length + 1} characters", pointer)]
    return []


def _error(message: str, pointer: str) -> str:
    return f"{message} [json-pointer:{pointer}]"
