"""The runtime names the Prometheus it reads from without the URL's password."""

from __future__ import annotations

import logging

import pytest

from airra.runtime import Runtime
from airra.settings import Settings


async def test_prometheus_password_is_not_logged(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    live = settings.model_copy(update={"prometheus_url": "http://airra:s3cret@127.0.0.1:9"})
    caplog.set_level(logging.INFO, logger="airra.runtime")

    runtime = Runtime.build(live, sandbox=False)
    await runtime.metrics.close()

    [line] = [record.getMessage() for record in caplog.records if "using Prometheus" in record.getMessage()]
    assert "http://airra:***@127.0.0.1:9" in line
    assert "s3cret" not in caplog.text
