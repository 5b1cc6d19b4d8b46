"""The ForecastEvents rule's EventPattern (a template resource) and the handler's reading of what it delivers."""

from __future__ import annotations

import json

import pytest
from cdk_forecast_export._lambda.forecast_export.lifecycle import Phase, PollState
from cdk_forecast_export._lambda.forecast_export.schedule import PASSING_STATUSES
from cdk_forecast_export._lambda.forecast_export.triggers import Trigger, Triggers, _job_arns
from cdk_forecast_export.triggers import FORECAST_EVENT_PATTERN

from tests.support.event_patterns import matches, validate
from tests.support.forecast_fake import ALL_SHAPES, StatusChange

JOB = "arn:aws:forecast:us-east-1:111122223333:forecast-export-job/demand_forecast/daily_export_9fdbbabduHXg"
OTHER = JOB.replace("uHXg", "zzzz")
# EventBridge's default quota for an event pattern: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html
EVENT_PATTERN_MAX = 2048


def _event(shape: object, arn: str, status: str) -> dict[str, object]:
    return StatusChange(0.0, arn, status, None).event(shape, "111122223333", "us-east-1", "id")  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", ALL_SHAPES, ids=lambda s: f"{s.detail_type[:16]}-{s.arn_in}-{s.status_key}")
def test_the_pattern_delivers_every_documented_shape_and_the_handler_finds_the_job_in_it(shape: object) -> None:
    pattern = json.loads(json.dumps(FORECAST_EVENT_PATTERN))
    validate(pattern)
    for status in ("ACTIVE", "CREATE_FAILED", "CREATE_STOPPED", "CREATE_STOPPING", "DELETE_FAILED", "DELETED"):
        event = _event(shape, JOB, status)
        assert matches(pattern, event), status
        assert Triggers.kind(event) is Trigger.FORECAST
        assert _job_arns(event) == [JOB]  # the handler looks only at the slots watching this job


@pytest.mark.parametrize("status", PASSING_STATUSES)
def test_events_naming_a_passing_status_are_not_delivered(status: str) -> None:
    for shape in ALL_SHAPES:
        assert not matches(FORECAST_EVENT_PATTERN, _event(shape, JOB, status))


def test_an_event_without_a_status_is_still_delivered() -> None:
    event = _event(ALL_SHAPES[0], JOB, "ACTIVE")
    del event["detail"]["Status"]  # type: ignore[attr-defined]
    assert matches(FORECAST_EVENT_PATTERN, event)


def test_other_sources_and_other_forecast_resources_are_not_delivered() -> None:
    event = _event(ALL_SHAPES[0], JOB, "ACTIVE")
    assert not matches(FORECAST_EVENT_PATTERN, {**event, "source": "aws.s3"})
    assert not matches(FORECAST_EVENT_PATTERN, {**event, "detail-type": "Forecast Predictor State Change"})


def test_the_pattern_keeps_to_the_quota() -> None:
    assert len(json.dumps(FORECAST_EVENT_PATTERN, separators=(",", ":"))) <= EVENT_PATTERN_MAX


def test_a_request_watches_the_job_it_waits_for_then_the_jobs_it_cleans_up() -> None:
    state = PollState("Create", Phase.WAIT.value, 0.0, 10.0, 20.0, 10, job_arn=JOB)
    assert state.watched() == [JOB]
    state.phase, state.cleanup, state.scan = Phase.CLEANUP.value, [JOB], [JOB, OTHER]
    assert state.watched() == [JOB, OTHER]
    state.settled = [OTHER]
    assert state.watched() == [JOB]
    state.phase = Phase.DONE.value
    assert state.watched() == []
