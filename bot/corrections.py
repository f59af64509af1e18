"""Read an operator's reply in an incident thread as a correction.

Only a short list of unambiguous forms counts as a correction; everything
else is a general comment. A question, a hedge ("maybe", "not sure", "I
think") or a negation before the key word always makes the reply a general
comment, because recording a wrong correction teaches the model the wrong
thing while missing one only loses a data point.

    wrong, it was cpu_spike        -> hypothesis incorrect, correct category cpu_spike
    actually cpu spike             -> hypothesis incorrect, correct category cpu_spike
    correct / right diagnosis      -> hypothesis correct
    better action: scale_up        -> action inappropriate, better action scale_up
    worked / action worked         -> action successful
    resolved                       -> incident resolved
    escalated                      -> incident escalated
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from airra.actions import ActionType, parse_action_type
from airra.categories import Category, parse_category
from airra.feedback import FeedbackType

NameT = TypeVar("NameT", Category, ActionType)


class Correction(BaseModel):
    """Feedback read from one thread reply."""

    feedback_type: FeedbackType
    category: Category | None = None
    action: ActionType | None = None
    text: str

    @property
    def is_correction(self) -> bool:
        return self.feedback_type is not FeedbackType.GENERAL_COMMENT


_MENTION = re.compile(r"<[@#!][^>]*>")
_EMOJI = re.compile(r":[a-z0-9_+'-]+:")
_LINK = re.compile(r"<(https?://[^|>]+)(\|[^>]*)?>")

_HEDGES = re.compile(
    r"\b(maybe|perhaps|probably|possibly|might|may be|could|not sure|unsure|i think|i guess|"
    r"i suppose|wonder|seems?|looks like|guess|unclear|if)\b"
)
_NEGATION = re.compile(r"\b(not|no|never|nothing|neither|nor|without|isn't|wasn't|aren't|weren't|"
                       r"don't|doesn't|didn't|hasn't|haven't|hadn't|won't|can't|cannot|couldn't|shouldn't)\b")

# Lead-ins after which a category names the real cause.
_CAUSE_LEAD_IN = (
    r"(?:(?:it|this|that)\s+(?:was|is)\s+|it's\s+|the\s+(?:root\s+)?cause\s+(?:was|is)\s+|should\s+be\s+|actually\s+)"
)
# After "wrong" either punctuation or an explicit lead-in must follow: "wrong cpu_spike"
# could as well mean that cpu_spike is the wrong diagnosis.
_WRONG_LEAD = re.compile(
    r"^(?:wrong|incorrect|nope|no)(?:\s+(?:diagnosis|hypothesis|category|cause))?"
    rf"(?:\s*[,.:;!-]+\s*{_CAUSE_LEAD_IN}?|\s+{_CAUSE_LEAD_IN})"
    r"(?:actually\s+)?(?:an?\s+)?(?P<rest>.+)$"
)
_ACTUALLY_LEAD = re.compile(
    r"^(?:(?:it|this|that)\s+(?:was|is)\s+|it's\s+|the\s+(?:root\s+)?cause\s+(?:was|is)\s+)?"
    r"actually\s+(?:it\s+was\s+|it's\s+)?(?:an?\s+)?(?P<rest>.+)$"
)
_BETTER_ACTION_LEAD = re.compile(
    r"^(?:better\s+action|the\s+better\s+action|wrong\s+action[\s,.:;!-]+better)"
    r"(?:\s*[:=-]\s*|\s+(?:was|is|would\s+be|would\s+have\s+been|would've\s+been)\s+|\s+)"
    r"(?:to\s+)?(?:an?\s+)?(?P<rest>.+)$"
)

_CORRECT = re.compile(
    r"^(?:yes[\s,.!]+)?(?:correct|right|right diagnosis|correct diagnosis|good diagnosis|"
    r"(?:that's|that is|this is|it's|it is)\s+(?:right|correct)|"
    r"(?:the\s+)?diagnosis\s+(?:is|was)\s+(?:right|correct)|spot on|confirmed)$"
)
_WORKED = re.compile(
    r"^(?:(?:the\s+)?(?:action|fix|it|that|this)\s+)?(?:worked|helped|did the trick)(?:\s+(?:well|fine))?$"
)
_RESOLVED = re.compile(r"^(?:(?:it's|it is|this is|incident|the incident is|now)\s+)?resolved(?:\s+now)?$")
_ESCALATED = re.compile(r"^(?:(?:we|i|i've|we've|incident)\s+)?escalated(?:\s+(?:to|it to)\s+[\w@ .-]+)?$")


def normalise_reply(text: str) -> str:
    """Return the reply in lower case with mentions, emoji, entities and extra spaces removed."""
    text = _LINK.sub(r"\1", text)
    text = _MENTION.sub(" ", text)
    text = html.unescape(text)
    text = _EMOJI.sub(" ", text.lower())
    # Phones turn an apostrophe into ’ and a double hyphen into an en or em dash.
    text = text.replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"\s+", " ", text).strip(" \t.!")


def parse_correction(text: str) -> Correction:
    """Read one thread reply; return a general comment unless it is an unambiguous correction."""
    sentence = normalise_reply(text)
    comment = Correction(feedback_type=FeedbackType.GENERAL_COMMENT, text=text)
    if not sentence or "?" in sentence or _HEDGES.search(sentence):
        return comment

    if _CORRECT.match(sentence):
        return Correction(feedback_type=FeedbackType.HYPOTHESIS_CORRECT, text=text)
    if _WORKED.match(sentence):
        return Correction(feedback_type=FeedbackType.ACTION_SUCCESSFUL, text=text)
    if _RESOLVED.match(sentence):
        return Correction(feedback_type=FeedbackType.INCIDENT_RESOLVED, text=text)
    if _ESCALATED.match(sentence):
        return Correction(feedback_type=FeedbackType.INCIDENT_ESCALATED, text=text)

    better = _BETTER_ACTION_LEAD.match(sentence)
    if better is not None:
        action = _leading_name(better.group("rest"), parse_action_type)
        if action is not None:
            return Correction(feedback_type=FeedbackType.ACTION_INAPPROPRIATE, action=action, text=text)
        return comment

    for lead in (_WRONG_LEAD, _ACTUALLY_LEAD):
        match = lead.match(sentence)
        if match is None:
            continue
        prefix = sentence[: match.start("rest")]
        # "no, it was" is a lead-in; any other negation before the category is not.
        if _NEGATION.search(re.sub(r"^no\b", "", prefix)):
            return comment
        category = _leading_name(match.group("rest"), parse_category)
        if category is None or category is Category.UNKNOWN or _names_another_cause(match.group("rest"), category):
            return comment
        return Correction(feedback_type=FeedbackType.HYPOTHESIS_INCORRECT, category=category, text=text)

    return comment


def _leading_name(rest: str, parse: Callable[[str], NameT]) -> NameT | None:
    """Parse the longest run of up to three leading words as a name, or return None.

    The words must be followed by the end of the reply or by punctuation or a
    joining word, so "cpu spike on the node" reads as cpu_spike but
    "cpu spikes everywhere" is left alone.
    """
    words = re.split(r"\s+", rest.strip())
    for length in (3, 2, 1):
        if len(words) < length:
            continue
        candidate = " ".join(words[:length]).rstrip(",.;:!")
        following = words[length] if len(words) > length else ""
        ended_by_punctuation = " ".join(words[:length]) != candidate
        if following and not ended_by_punctuation and following not in _JOINERS:
            continue
        try:
            return parse(candidate)
        except ValueError:
            continue
    return None


def _names_another_cause(rest: str, category: Category) -> bool:
    """True when ``rest`` also names a category other than ``category`` without negating it.

    "cpu_spike and memory_leak" or "cpu spike due to a memory leak" name two causes, and
    recording either alone could be the wrong one; "cpu_spike, not memory_leak" names one.
    """
    if _NEGATION.search(rest):
        return False
    words = [word for word in re.split(r"[\s,.;:!&/+]+", rest) if word]
    for start in range(len(words)):
        for length in (1, 2, 3):
            try:
                named = parse_category(" ".join(words[start : start + length]))
            except ValueError:
                continue
            if named is not category and named is not Category.UNKNOWN:
                return True
    return False


_JOINERS = frozenset({"on", "in", "at", "from", "because", "due", "and", "not", "since", "after", "with",
                      "for", "of", "so", "&", "-", "but", "instead", "would", "was"})
