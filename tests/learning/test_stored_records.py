"""The reports' record types agree with the record models on every line.

``StoredFeedback`` and ``StoredOutcome`` repeat the fields and constraints of
``OperatorFeedback`` and ``ConfidenceOutcomeRecord`` so that the reports can
validate a line inside pydantic-core. If the two drifted apart, a report
would count a record the model rejects, or drop one it accepts. Every test
here validates the same line both ways.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from airra.actions import ActionType
from airra.calibration import STORED_OUTCOME, ConfidenceOutcomeRecord
from airra.categories import Category
from airra.feedback import STORED_FEEDBACK, FeedbackType, IncidentOutcome, OperatorFeedback
from airra.verification import VerificationStatus

MISSING = object()

FEEDBACK = {
    "feedback_id": "fb-1", "schema_version": 1, "timestamp": "2026-12-01T10:00:00+00:00", "incident_id": "inc-1",
    "service_name": "payment-service", "operator_id": "U012ABCDEF", "operator_name": "Ann",
    "feedback_type": "hypothesis_incorrect", "feedback_text": "it was the CPU", "airra_hypothesis_category": "memory_leak",
    "airra_hypothesis_description": "working set grows", "airra_confidence": 0.8, "airra_prior_adjustment": 0.05,
    "airra_action_type": "restart_pod", "correct_hypothesis_category": "cpu_spike", "correct_action_type": "scale_up",
    "incident_outcome": "resolved", "time_to_resolution_seconds": 300.0, "notes": "n", "tags": ["a"],
}
OUTCOME = {
    "id": "o-1", "schema_version": 1, "timestamp": "2026-12-01T10:00:00+00:00", "incident_id": "inc-1",
    "service_name": "payment-service", "hypothesis_category": "memory_leak", "hypothesis_description": "grows",
    "confidence_score": 0.7, "action_type": "restart_pod", "action_executed": True, "outcome_status": "success",
    "outcome_success": True, "before_metrics": {"error_rate": 0.08}, "after_metrics": {"error_rate": None},
    "verification_metrics": {"error_rate": 98.7}, "time_to_resolution_seconds": 420.0,
    "blast_radius_level": "high", "risk_level": "low",
}

# Values tried for each kind of field: valid ones, wrong types, out-of-range numbers and absent keys.
TEXT = ["", "U012", None, 5, [], MISSING]
VERSIONS = [0, 1, 2, -1, 1.0, 1.5, "1", None, True, 10**30, MISSING]
TIMESTAMPS = ["2026-12-04T10:00:00", "2026-12-04T10:00:00+02:00", "2026-12-04T10:00:00Z", "2026-12-04",
              1764500000, "yesterday", None, MISSING]
UNIT_FLOATS = [0, 0.5, 1, 1.5, -0.1, "0.5", None, True, MISSING]
PLAIN_FLOATS = [-3.5, 0, "0.05", "x", None, MISSING]
DURATIONS = [0, 300, -1, "12", None, MISSING]
TAGS = [[], ["a"], [1], "a", None, MISSING]
FLAGS = [True, False, "yes", "true", 1, 0, 2, None, MISSING]
METRIC_MAPS = [{}, {"a": 1.0}, {"a": None}, {"a": "x"}, {"a": "1.5"}, [], None, MISSING]


def _choices(enum_type: Any) -> list[Any]:
    return [member.value for member in enum_type] + ["bogus", "CPU_SPIKE", "", None, 3, MISSING]


FEEDBACK_VALUES: dict[str, list[Any]] = {
    "feedback_id": TEXT, "schema_version": VERSIONS, "timestamp": TIMESTAMPS, "incident_id": TEXT,
    "service_name": TEXT, "operator_id": TEXT, "operator_name": TEXT, "feedback_type": _choices(FeedbackType),
    "feedback_text": TEXT, "airra_hypothesis_category": _choices(Category), "airra_hypothesis_description": TEXT,
    "airra_confidence": UNIT_FLOATS, "airra_prior_adjustment": PLAIN_FLOATS, "airra_action_type": _choices(ActionType),
    "correct_hypothesis_category": _choices(Category), "correct_action_type": _choices(ActionType),
    "incident_outcome": _choices(IncidentOutcome), "time_to_resolution_seconds": DURATIONS, "notes": TEXT,
    "tags": TAGS,
}
OUTCOME_VALUES: dict[str, list[Any]] = {
    "id": TEXT, "schema_version": VERSIONS, "timestamp": TIMESTAMPS, "incident_id": TEXT, "service_name": TEXT,
    "hypothesis_category": _choices(Category), "hypothesis_description": TEXT, "confidence_score": UNIT_FLOATS,
    "action_type": _choices(ActionType), "action_executed": FLAGS, "outcome_status": _choices(VerificationStatus),
    "outcome_success": FLAGS, "before_metrics": METRIC_MAPS, "after_metrics": METRIC_MAPS,
    "verification_metrics": METRIC_MAPS, "time_to_resolution_seconds": DURATIONS, "blast_radius_level": TEXT,
    "risk_level": TEXT,
}

PAIRS = [
    pytest.param(STORED_FEEDBACK, OperatorFeedback, FEEDBACK, FEEDBACK_VALUES, id="feedback"),
    pytest.param(STORED_OUTCOME, ConfidenceOutcomeRecord, OUTCOME, OUTCOME_VALUES, id="outcome"),
]


def _line(base: dict[str, Any], changes: dict[str, Any]) -> bytes:
    record = dict(base)
    for name, value in changes.items():
        if value is MISSING:
            record.pop(name, None)
        else:
            record[name] = value
    return json.dumps(record).encode()


def _validate_both(stored: TypeAdapter[Any], model: type[BaseModel], line: bytes) -> tuple[Any, BaseModel | None]:
    try:
        stored_record = stored.validate_json(line)
    except ValidationError:
        stored_record = None
    try:
        model_record = model.model_validate_json(line)
    except ValidationError:
        model_record = None
    return stored_record, model_record


def _assert_same_values(stored_record: dict[str, Any], model_record: BaseModel) -> None:
    """Assert that every field in the stored record equals the model's value after the model's own normalization."""
    for name, expected in model_record.model_dump().items():
        if name not in stored_record:
            continue
        value = stored_record[name]
        if name == "timestamp" and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if name == "incident_outcome" and value is None:
            continue
        assert value == expected, name
        assert type(value) in (str, int, float, bool, list, dict, datetime, type(None)), name


@pytest.mark.parametrize(("stored", "model", "base", "values"), PAIRS)
def test_fields_match_model(
    stored: TypeAdapter[Any], model: type[BaseModel], base: dict[str, Any], values: dict[str, list[Any]]
) -> None:
    # Read the fields from the validator's own schema, because with postponed annotations the
    # TypedDict's __required_keys__ cannot see NotRequired, but pydantic resolves it.
    fields = stored.core_schema["fields"]
    model_required = {name for name, field in model.model_fields.items() if field.is_required()}

    assert set(fields) == set(model.model_fields)
    assert {name for name, field in fields.items() if field["required"]} == model_required
    assert set(base) == set(model.model_fields)
    assert set(values) == set(model.model_fields)


@pytest.mark.parametrize(("stored", "model", "base", "values"), PAIRS)
def test_each_field_value_accepted_alike(
    stored: TypeAdapter[Any], model: type[BaseModel], base: dict[str, Any], values: dict[str, list[Any]]
) -> None:
    for name, candidates in values.items():
        for value in candidates:
            stored_record, model_record = _validate_both(stored, model, _line(base, {name: value}))

            assert (stored_record is None) == (model_record is None), (name, value)
            if stored_record is not None and model_record is not None:
                _assert_same_values(stored_record, model_record)


@pytest.mark.parametrize(("stored", "model", "base", "values"), PAIRS)
def test_field_combinations_accepted_alike(
    stored: TypeAdapter[Any], model: type[BaseModel], base: dict[str, Any], values: dict[str, list[Any]]
) -> None:
    @settings(max_examples=300, deadline=None)
    @given(st.fixed_dictionaries({name: st.sampled_from(candidates) for name, candidates in values.items()}))
    def check(changes: dict[str, Any]) -> None:
        stored_record, model_record = _validate_both(stored, model, _line(base, changes))

        assert (stored_record is None) == (model_record is None)
        if stored_record is not None and model_record is not None:
            _assert_same_values(stored_record, model_record)

    check()


def test_stored_enum_fields_are_plain_strings() -> None:
    record = STORED_FEEDBACK.validate_json(_line(FEEDBACK, {}))

    assert type(record["feedback_type"]) is str
    assert record["feedback_type"] == "hypothesis_incorrect"
    assert type(record["correct_action_type"]) is str
    assert record["correct_action_type"] == "scale_up"


def test_newer_schema_rejected_by_both() -> None:
    line = _line(FEEDBACK, {"schema_version": 2})

    with pytest.raises(ValidationError, match="less than or equal to 1"):
        STORED_FEEDBACK.validate_json(line)
    with pytest.raises(ValidationError, match="schema_version 2 is newer than this AIRRA reads"):
        OperatorFeedback.model_validate_json(line)
