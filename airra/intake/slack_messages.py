"""Parse alert posts that Alertmanager or Grafana put into a Slack channel.

Both post as a bot, usually with one attachment whose title starts with the
group status: ``[FIRING:2] <group label values> (<other common values>)``,
``[RESOLVED] ...``, or Grafana's mixed ``[FIRING:1, RESOLVED:1] ...``.

* Alertmanager's default Slack template leaves ``text`` empty, so such a post
  becomes one alert standing for N firing alerts. Its title lists label
  values without names, so the service is only taken from the title when
  exactly one of its words names a service of the topology.
* Grafana's default template lists every alert under ``**Firing**`` and
  ``**Resolved**`` headings, each with ``Labels:`` and ``Annotations:``
  lines (`` - name = value``), which become one alert each.
* Custom templates that list labels as `` • *name:* `value` `` lines, as
  attachment fields, or in ``section`` blocks are read the same way.

Slack escapes ``&``, ``<`` and ``>`` in message text as entities and wraps
links as ``<url|label>``. Entities are unescaped and links unwrapped, while
mentions (``<@U…>``), emoji codes and non-ASCII text are kept as posted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airra.alerts import Alert, AlertSource, AlertStatus
from airra.intake.normalise import is_missing, label_fingerprint, resolve_service
from airra.topology import Topology

log = logging.getLogger(__name__)

_TITLE = re.compile(
    r"^\s*\[(?P<first>FIRING|RESOLVED)(?::(?P<first_count>\d+))?"
    r"(?:,\s*(?P<second>FIRING|RESOLVED)(?::(?P<second_count>\d+))?)?\]\s*(?P<group>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_SECTION_HEADING = re.compile(r"^\s*[*_]{0,2}(?P<status>firing|resolved)[*_]{0,2}\s*:?\s*$", re.IGNORECASE)
_LIST_ITEM = re.compile(
    r"^\s*(?:[-•*]\s+)?[*_`]*(?P<name>[A-Za-z_][A-Za-z0-9_.]*)[*_`]*\s*(?:=|:)[\s*_`]*(?P<value>.*?)[\s`*_]*$"
)
_KEY_LINE = re.compile(r"^\s*[*_]*(?P<key>[A-Za-z][A-Za-z ]*?)[*_]*\s*:\s*[*_]*\s*(?P<value>.*)$")
_CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z0-9_]*[a-z][A-Za-z0-9_]*$")
_LINK = re.compile(r"<(?P<url>(?:https?|mailto):[^|>]+)(?:\|(?P<label>[^>]*))?>")

_FIRING_COLOURS = frozenset({"danger", "a30200", "d63232", "e01e5a", "ff0000"})
_RESOLVED_COLOURS = frozenset({"good", "2eb886", "36a64f"})

# Keys of Grafana's default text that carry links and values of the alert.
_URL_KEYS = {"source": "generator_url", "silence": "silence_url", "dashboard": "dashboard_url",
             "panel": "panel_url"}
# Keys of common custom templates that carry an annotation as "Key: text".
_TEXT_ANNOTATION_KEYS = {"summary": "summary", "description": "description", "runbook": "runbook_url",
                         "runbook url": "runbook_url"}


@dataclass
class _ParsedAlert:
    """An alert read from message text, before it becomes an ``Alert``."""

    status: AlertStatus | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.labels and not self.annotations and not self.urls


@dataclass
class _Title:
    firing: int
    resolved: int
    status: AlertStatus
    group: str


def parse_alert_message(event: Mapping[str, Any], topology: Topology, *,
                        self_ids: Iterable[str] = ()) -> list[Alert] | None:
    """Parse a Slack message event into alerts, or return None when it is no alert post.

    Args:
        event: a ``message`` event, or the whole ``event_callback`` envelope.
        topology: resolves each alert's service.
        self_ids: the bot's own user, bot and app ids. Messages carrying any
            of them are never alerts, and neither are messages by the user
            the envelope's ``authorizations`` name.

    Returns:
        The alerts, with ``channel`` and ``message_ts`` of the post, or None
        for messages that are not Alertmanager or Grafana alert posts.
    """
    message, own_ids = _unwrap(event, self_ids)
    if not _is_bot_post(message, own_ids):
        return None

    title_text, body_text, fields, colour, footer = _content(message)
    title = _parse_title(title_text)
    sections = _parse_body(body_text)
    if title is None:
        title = _title_from_sections(sections, title_text, _colour_status(colour))
        if title is None:
            return None

    source = _source(message, body_text, footer)
    field_labels = _field_labels(fields)
    channel = _string(message.get("channel"))
    message_ts = _string(message.get("ts"))
    group_key = f"slack:{channel or '-'}:{title.group}"

    if sections:
        alerts = [
            _alert_from_section(section, title, source=source, topology=topology, extra_labels=field_labels,
                                channel=channel, message_ts=message_ts, group_key=group_key)
            for section in sections
        ]
    else:
        alerts = [_alert_from_title(title, source=source, topology=topology, labels=field_labels,
                                    channel=channel, message_ts=message_ts, group_key=group_key)]

    log.info("alert post %s in %s parsed: %s, %d alerts, service %s", message_ts, channel,
             title.status, len(alerts), alerts[0].service if alerts else None)
    return alerts


def unescape_slack(text: str) -> str:
    """Undo Slack's entity escaping and unwrap ``<url|label>`` links to the URL.

    Mentions such as ``<@U012ABCDEF>`` and ``<!here>`` are kept as posted.
    """
    text = _LINK.sub(lambda match: match.group("url"), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _unwrap(event: Mapping[str, Any], self_ids: Iterable[str]) -> tuple[Mapping[str, Any], set[str]]:
    own_ids = {identifier for identifier in self_ids if identifier}
    if event.get("type") == "event_callback" and isinstance(event.get("event"), Mapping):
        for authorization in event.get("authorizations") or []:
            if isinstance(authorization, Mapping) and authorization.get("is_bot") and authorization.get("user_id"):
                own_ids.add(str(authorization["user_id"]))
        return event["event"], own_ids
    return event, own_ids


def _is_bot_post(message: Mapping[str, Any], own_ids: set[str]) -> bool:
    if message.get("type") not in (None, "message"):
        return False
    if message.get("subtype") not in (None, "bot_message"):
        return False
    if message.get("subtype") != "bot_message" and not message.get("bot_id"):
        return False

    thread_ts = message.get("thread_ts")
    if thread_ts is not None and thread_ts != message.get("ts"):
        return False

    posted_by = {str(message.get(key)) for key in ("bot_id", "user", "app_id") if message.get(key)}
    bot_profile = message.get("bot_profile")
    if isinstance(bot_profile, Mapping):
        posted_by |= {str(bot_profile.get(key)) for key in ("id", "app_id") if bot_profile.get(key)}
    return not posted_by & own_ids


def _content(message: Mapping[str, Any]) -> tuple[str, str, list[Mapping[str, Any]], str | None, str]:
    """Return the title, body text, attachment fields, colour and footer of a post."""
    title = ""
    body: list[str] = []
    fields: list[Mapping[str, Any]] = []
    colour: str | None = None
    footer = ""

    for attachment in message.get("attachments") or []:
        if not isinstance(attachment, Mapping):
            continue
        attachment_title = _string(attachment.get("title")) or ""
        if not title and _parse_title(unescape_slack(attachment_title)):
            title = attachment_title
        elif not title and _parse_title(unescape_slack(_string(attachment.get("fallback")) or "")):
            title = (_string(attachment.get("fallback")) or "").split(" | ")[0]
        for key in ("pretext", "text"):
            if attachment.get(key):
                body.append(str(attachment[key]))
        fields += [item for item in attachment.get("fields") or [] if isinstance(item, Mapping)]
        colour = colour or _string(attachment.get("color"))
        footer = footer or _string(attachment.get("footer")) or ""
        body += _block_texts(attachment.get("blocks") or [])

    block_lines = _block_texts(message.get("blocks") or [])
    if not title:
        for index, line in enumerate(block_lines):
            if _parse_title(unescape_slack(line.split("\n")[0])):
                first, _, rest = line.partition("\n")
                title = first
                block_lines = block_lines[:index] + ([rest] if rest else []) + block_lines[index + 1:]
                break
    body += block_lines

    text = _string(message.get("text")) or ""
    if not title and _parse_title(unescape_slack(text.split("\n")[0])):
        first, _, rest = text.partition("\n")
        title = first
        body.append(rest)

    if not title:
        title = next((_string(attachment.get("title")) or "" for attachment in message.get("attachments") or []
                      if isinstance(attachment, Mapping) and attachment.get("title")), "")
    return unescape_slack(title), unescape_slack("\n".join(body)), fields, colour, footer


def _block_texts(blocks: Iterable[Any]) -> list[str]:
    """Return the text of header, section and context blocks, each block as one entry."""
    texts: list[str] = []
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind in ("header", "section", "markdown"):
            text = block.get("text")
            if isinstance(text, Mapping):
                texts.append(str(text.get("text", "")))
            elif isinstance(text, str):
                texts.append(text)
            for item in block.get("fields") or []:
                if isinstance(item, Mapping) and item.get("text"):
                    texts.append(str(item["text"]))
        elif kind == "context":
            for element in block.get("elements") or []:
                if isinstance(element, Mapping) and element.get("text"):
                    texts.append(str(element["text"]))
    return texts


def _parse_title(title: str) -> _Title | None:
    match = _TITLE.match(title)
    if match is None:
        return None

    counts = {AlertStatus.FIRING: 0, AlertStatus.RESOLVED: 0}
    for status_group, count_group in (("first", "first_count"), ("second", "second_count")):
        word = match.group(status_group)
        if word is None:
            continue
        status = AlertStatus(word.lower())
        count = match.group(count_group)
        counts[status] = int(count) if count is not None else max(counts[status], 1)

    status = AlertStatus.FIRING if counts[AlertStatus.FIRING] > 0 else AlertStatus.RESOLVED
    group = " ".join(match.group("group").split())
    return _Title(firing=counts[AlertStatus.FIRING], resolved=counts[AlertStatus.RESOLVED],
                  status=status, group=group)


def _parse_body(text: str) -> list[_ParsedAlert]:
    """Split a body into alerts: a heading sets the status, a ``Labels:`` line starts an alert.

    ``Summary:``, ``Description:`` and ``Runbook:`` lines before a label list
    become annotations of the alert that the list starts.
    """
    alerts: list[_ParsedAlert] = []
    current: _ParsedAlert | None = None
    status: AlertStatus | None = None
    listing: dict[str, str] | None = None
    pending: dict[str, str] = {}

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            listing = None
            continue

        heading = _SECTION_HEADING.match(stripped)
        if heading is not None:
            status = AlertStatus(heading.group("status").lower())
            current, listing = None, None
            continue

        if listing is not None and stripped[0] in "-•*":
            item = _LIST_ITEM.match(stripped)
            if item is not None:
                listing[item.group("name")] = item.group("value")
                continue

        key_line = _KEY_LINE.match(stripped)
        if key_line is None:
            continue
        key = key_line.group("key").strip().lower()
        value = key_line.group("value").strip()

        if key in ("labels", "details") and not value:
            current = _ParsedAlert(status=status, annotations=pending)
            pending = {}
            alerts.append(current)
            listing = current.labels
        elif key == "annotations" and not value:
            if current is None:
                current = _ParsedAlert(status=status, annotations=pending)
                pending = {}
                alerts.append(current)
            listing = current.annotations
        elif key in _URL_KEYS and current is not None:
            current.urls[_URL_KEYS[key]] = value
            listing = None
        elif key in _TEXT_ANNOTATION_KEYS and value:
            pending[_TEXT_ANNOTATION_KEYS[key]] = value.strip("`")
            listing = None

    return [alert for alert in alerts if not alert.empty]


def _field_labels(fields: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Read attachment fields whose title looks like a label name as labels."""
    labels: dict[str, str] = {}
    for item in fields:
        name = _string(item.get("title")) or ""
        value = unescape_slack(_string(item.get("value")) or "").strip().strip("`")
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and value:
            labels[name] = value
    return labels


def _alert_from_section(section: _ParsedAlert, title: _Title, *, source: AlertSource, topology: Topology,
                        extra_labels: dict[str, str], channel: str | None, message_ts: str | None,
                        group_key: str) -> Alert:
    labels = {**extra_labels, **section.labels}
    alertname = labels.get("alertname") or _title_alertname(title, topology)
    status = section.status or title.status
    annotations = section.annotations
    service = resolve_service(labels, topology)

    return Alert(
        source=source,
        status=status,
        alertname=alertname,
        service=service,
        severity=_present(labels.get("severity")),
        labels=labels,
        annotations=annotations,
        fingerprint=label_fingerprint(alertname, labels) if labels else label_fingerprint(alertname, {"title": title.group}),
        group_key=group_key,
        generator_url=section.urls.get("generator_url"),
        runbook_url=_present(annotations.get("runbook_url")),
        summary=_present(annotations.get("summary")),
        description=_present(annotations.get("description")),
        channel=channel,
        message_ts=message_ts,
    )


def _alert_from_title(title: _Title, *, source: AlertSource, topology: Topology,
                      labels: dict[str, str], channel: str | None, message_ts: str | None,
                      group_key: str) -> Alert:
    alertname = labels.get("alertname") or _title_alertname(title, topology)
    service = resolve_service(labels, topology) if labels else None
    if service is None:
        service = _title_service(title, topology)
    fingerprint_labels = labels or {"title": title.group}

    return Alert(
        source=source,
        status=title.status,
        alertname=alertname,
        service=service,
        severity=_present(labels.get("severity")),
        labels=labels,
        fingerprint=label_fingerprint(alertname, fingerprint_labels),
        group_key=group_key,
        summary=title.group or alertname,
        count=max(1, title.firing),
        channel=channel,
        message_ts=message_ts,
    )


def _title_from_sections(sections: list[_ParsedAlert], title_text: str,
                         colour_status: AlertStatus | None) -> _Title | None:
    """Build a title for a post of a custom template without a ``[FIRING]`` prefix.

    Such a post counts as an alert post only when it lists labels with an
    ``alertname`` and its status is known from a heading or the colour.
    """
    named = [section for section in sections if section.labels.get("alertname")]
    if not named or len(named) != len(sections):
        return None

    statuses = [section.status or colour_status for section in named]
    if any(status is None for status in statuses):
        return None
    firing = statuses.count(AlertStatus.FIRING)
    group = " ".join(title_text.split()) or named[0].labels["alertname"]
    return _Title(firing=firing, resolved=len(statuses) - firing,
                  status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED, group=group)


def _title_alertname(title: _Title, topology: Topology) -> str:
    """Guess the alert name from the label values in a title.

    The title lists the group's label values and then, in brackets, the other
    common label values, each sorted by label name, so the alert name can be
    anywhere. Alert names are CamelCase by Prometheus convention, so the first
    CamelCase word that is no service name is taken, else the first word.
    """
    words = [word.strip("()") for word in title.group.split()]
    words = [word for word in words if word]
    for word in words:
        if _CAMEL_CASE.match(word) and topology.resolve(word) is None:
            return word
    return words[0] if words else "SlackAlert"


def _title_service(title: _Title, topology: Topology) -> str | None:
    """Return the service a title names, only when exactly one word resolves to one."""
    words = re.split(r"[\s(),]+", title.group)
    services = {service for word in words if word and (service := topology.resolve(word)) is not None}
    return services.pop() if len(services) == 1 else None


def _source(message: Mapping[str, Any], body: str, footer: str) -> AlertSource:
    username = str(message.get("username") or "")
    bot_name = ""
    if isinstance(message.get("bot_profile"), Mapping):
        bot_name = str(message["bot_profile"].get("name") or "")
    if "grafana" in f"{username} {bot_name} {footer}".lower() or "**Firing**" in body or "**Resolved**" in body:
        return AlertSource.GRAFANA_SLACK
    return AlertSource.ALERTMANAGER_SLACK


def _colour_status(colour: str | None) -> AlertStatus | None:
    if colour is None:
        return None
    normalised = colour.strip().lstrip("#").lower()
    if normalised in _FIRING_COLOURS:
        return AlertStatus.FIRING
    if normalised in _RESOLVED_COLOURS:
        return AlertStatus.RESOLVED
    return None


def _string(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _present(value: str | None) -> str | None:
    return None if is_missing(value) else value
