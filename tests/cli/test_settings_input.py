"""Bad AIRRA_* values: one line per variable naming it, the value and the rule, exit code 2, before any work."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cli.conftest import CliRun


@pytest.mark.parametrize(("variable", "value", "rule"), [
    ("AIRRA_VERIFY_WAIT_S", "inf", "Input should be a finite number"),
    ("AIRRA_GROUPING_WINDOW_S", "1e400", "Input should be a finite number"),
    ("AIRRA_MIN_CONFIDENCE", "nan", "Input should be a finite number"),
    ("AIRRA_QUERY_TIMEOUT_S", "-inf", "Input should be a finite number"),
    ("AIRRA_MIN_CONFIDENCE", "1.5", "Input should be less than or equal to 1"),
    ("AIRRA_PORT", "99999", "Input should be less than or equal to 65535"),
    ("AIRRA_MAX_AUTO_ACTIONS_PER_HOUR", "1.5",
     "Input should be a valid integer, unable to parse string as an integer"),
    ("AIRRA_PROMETHEUS_URL", "prometheus:9090", "should be an http:// or https:// URL"),
])
def test_bad_setting_names_value(airra: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch,
                                 variable: str, value: str, rule: str) -> None:
    monkeypatch.setenv(variable, value)

    run = airra("services")

    assert run.code == 2
    assert run.out == ""
    assert run.err == (f"airra: invalid setting {variable}={value!r}: {rule}; "
                       "correct it, or unset it to use the default\n")


def test_bad_url_hides_credentials(airra: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRRA_PROMETHEUS_URL", "reader:hunter2@prometheus:9090")

    run = airra("services")

    assert run.code == 2
    assert run.err == ("airra: invalid setting AIRRA_PROMETHEUS_URL='***@prometheus:9090': should be an "
                       "http:// or https:// URL; correct it, or unset it to use the default\n")


def test_url_with_credentials_accepted(airra: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRRA_ALERTMANAGER_URL", "https://reader:hunter2@alertmanager:9093/")

    assert airra("services").code == 0
