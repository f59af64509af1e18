"""Thread replies become feedback only when they are unambiguous corrections."""

from __future__ import annotations

import pytest

from airra.actions import ActionType
from airra.categories import Category
from airra.feedback import FeedbackType
from bot.corrections import normalise_reply, parse_correction

CORRECTIONS = [
    ("wrong, it was cpu_spike", FeedbackType.HYPOTHESIS_INCORRECT, Category.CPU_SPIKE, None),
    ("Wrong. It was a memory leak", FeedbackType.HYPOTHESIS_INCORRECT, Category.MEMORY_LEAK, None),
    ("no, it was cpu_spike", FeedbackType.HYPOTHESIS_INCORRECT, Category.CPU_SPIKE, None),
    ("actually cpu spike", FeedbackType.HYPOTHESIS_INCORRECT, Category.CPU_SPIKE, None),
    ("wrong diagnosis: deployment regression", FeedbackType.HYPOTHESIS_INCORRECT,
     Category.DEPLOYMENT_REGRESSION, None),
    ("<@U0AIRRABOT> it was actually a cpu spike on the node, not a bad deploy :fire: &amp; the db was fine",
     FeedbackType.HYPOTHESIS_INCORRECT, Category.CPU_SPIKE, None),
    ("correct", FeedbackType.HYPOTHESIS_CORRECT, None, None),
    ("Correct!", FeedbackType.HYPOTHESIS_CORRECT, None, None),
    ("right diagnosis", FeedbackType.HYPOTHESIS_CORRECT, None, None),
    ("that's right", FeedbackType.HYPOTHESIS_CORRECT, None, None),
    ("better action: scale_up", FeedbackType.ACTION_INAPPROPRIATE, None, ActionType.SCALE_UP),
    ("better action would have been rollback", FeedbackType.ACTION_INAPPROPRIATE, None,
     ActionType.ROLLBACK_DEPLOYMENT),
    ("worked", FeedbackType.ACTION_SUCCESSFUL, None, None),
    ("action worked", FeedbackType.ACTION_SUCCESSFUL, None, None),
    ("it worked.", FeedbackType.ACTION_SUCCESSFUL, None, None),
    ("resolved", FeedbackType.INCIDENT_RESOLVED, None, None),
    ("incident resolved", FeedbackType.INCIDENT_RESOLVED, None, None),
    ("escalated", FeedbackType.INCIDENT_ESCALATED, None, None),
    ("escalated to the db team", FeedbackType.INCIDENT_ESCALATED, None, None),
]

AMBIGUOUS = [
    "is it resolved?",
    "not sure it was cpu_spike",
    "that's not correct",
    "not correct",
    "not resolved",
    "it hasn't worked",
    "wrong, it wasn't cpu_spike",
    "actually not a cpu spike",
    "maybe it was cpu_spike",
    "I think it's resolved",
    "wrong cpu_spike",
    "wrong, cpu spikes everywhere",
    "better action: not scale_up",
    "was it a cpu spike?",
    "correct me if I'm wrong",
    "actually, I'll look into it",
    "wrong, it was banana",
    "",
]


@pytest.mark.parametrize(("text", "feedback_type", "category", "action"), CORRECTIONS)
def test_correction_phrases(text: str, feedback_type: FeedbackType, category: Category | None,
                            action: ActionType | None) -> None:
    correction = parse_correction(text)
    assert correction.feedback_type is feedback_type
    assert correction.category is category
    assert correction.action is action
    assert correction.text == text


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_ambiguous_reply_is_comment(text: str) -> None:
    correction = parse_correction(text)
    assert correction.feedback_type is FeedbackType.GENERAL_COMMENT
    assert correction.category is None
    assert correction.action is None
    assert not correction.is_correction


def test_normalise_reply_strips_markup() -> None:
    assert normalise_reply("<@U0AIRRABOT>  Actually :fire: CPU &amp; more!") == "actually cpu & more"
