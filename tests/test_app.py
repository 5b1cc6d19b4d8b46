"""The example app (app.py) explains bad context values instead of crashing, and accepts lower-case formats."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import apps

sys.path.insert(0, str(apps.REPO))
try:
    import app as example_app
finally:
    sys.path.remove(str(apps.REPO))


def _build(tmp_path: Path, **context: Any) -> dict[str, Any]:
    return apps.synth(example_app.build_app, tmp_path, context=context)


def _job(template: dict[str, Any]) -> dict[str, Any]:
    (job,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::ForecastExportJob"]
    return dict(job["Properties"])


@pytest.mark.parametrize("value", ["my_forecast", "arn:aws:forecast:eu-west-1:123:forecast/x", "arn:aws:s3:::bucket"])
def test_a_malformed_forecast_arn_is_explained(value: str, tmp_path: Path) -> None:
    with pytest.raises(example_app.ContextError) as raised:
        _build(tmp_path, forecastArn=value)
    message = str(raised.value)
    assert f"forecastArn={value!r}" in message
    assert "arn:aws:forecast:<region>:<account>:forecast/<name>" in message and "-c forecastArn=" in message


def test_an_unknown_format_is_explained(tmp_path: Path) -> None:
    with pytest.raises(example_app.ContextError, match=r"exportFormat='json' is not valid: expected CSV or PARQUET"):
        _build(tmp_path, exportFormat="json")


def test_a_non_numeric_timeout_is_explained(tmp_path: Path) -> None:
    with pytest.raises(example_app.ContextError, match=r"timeoutMinutes='soon' is not valid: expected a whole number"):
        _build(tmp_path, timeoutMinutes="soon")


def test_a_lower_case_format_and_the_arn_from_the_command_line_are_used(tmp_path: Path) -> None:
    arn = "arn:aws:forecast:eu-west-1:123456789012:forecast/my_forecast"
    props = _job(_build(tmp_path, exportFormat="parquet", forecastArn=arn, timeoutMinutes="20"))
    assert (props["Format"], props["ForecastArn"], props["TimeoutSeconds"]) == ("PARQUET", arn, "1200")


def test_the_defaults_come_from_cdk_json(tmp_path: Path) -> None:
    context = apps.cdk_json_context()
    props = _job(_build(tmp_path))
    assert (props["ForecastArn"], props["Format"]) == (context["forecastArn"], context["exportFormat"])
