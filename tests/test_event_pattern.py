"""The rule's EventPattern: what it matches, which jobs it follows, and that it fits EventBridge's quota."""

from __future__ import annotations

import json

import pytest
from cdk_forecast_export._lambda.forecast_export.lifecycle import Phase, PollState
from cdk_forecast_export._lambda.forecast_export.schedule import EVENT_PATTERN_MAX, PASSING_STATUSES, event_pattern

from tests.support.event_patterns import matches, validate
from tests.support.forecast_fake import ALL_SHAPES, StatusChange

JOB = "arn:aws:forecast:us-east-1:111122223333:forecast-export-job/demand_forecast/daily_export_9fdbbabduHXg"
OTHER = JOB.replace("uHXg", "zzzz")


def _event(shape: object, arn: str, status: str) -> dict[str, object]:
    return StatusChange(0.0, arn, status, None).event(shape, "111122223333", "us-east-1", "id")  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", ALL_SHAPES, ids=lambda s: f"{s.detail_type[:16]}-{s.arn_in}-{s.status_key}")
def test_the_pattern_matches_the_jobs_events_in_every_documented_shape(shape: object) -> None:
    pattern = json.loads(event_pattern([JOB]) or "{}")
    validate(pattern)
    for status in ("ACTIVE", "CREATE_FAILED", "CREATE_STOPPED", "CREATE_STOPPING", "DELETE_FAILED", "DELETED"):
        assert matches(pattern, _event(shape, JOB, status)), status
        assert not matches(pattern, _event(shape, OTHER, status)), status  # another job's events never trigger


@pytest.mark.parametrize("status", PASSING_STATUSES)
def test_events_naming_a_passing_status_trigger_no_look(status: str) -> None:
    pattern = json.loads(event_pattern([JOB]) or "{}")
    for shape in ALL_SHAPES:
        assert not matches(pattern, _event(shape, JOB, status))


def test_an_event_without_a_status_still_triggers_a_look() -> None:
    pattern = json.loads(event_pattern([JOB]) or "{}")
    event = _event(ALL_SHAPES[0], JOB, "ACTIVE")
    del event["detail"]["Status"]  # type: ignore[attr-defined]
    assert matches(pattern, event)


def test_the_pattern_keeps_to_the_quota_and_to_the_most_important_jobs() -> None:
    long = [f"arn:aws:forecast:us-east-1:111122223333:forecast-export-job/{'f' * 63}/{'j' * 50}_{i:012d}" for i in range(10)]
    text = event_pattern(long)
    assert text is not None and len(text) <= EVENT_PATTERN_MAX
    watched = json.loads(text)["$or"][0]["resources"]
    assert watched == long[: len(watched)] and len(watched) >= 2  # the first ones, in order
    assert event_pattern([]) is None


def test_a_request_watches_the_job_it_waits_for_then_the_jobs_it_cleans_up() -> None:
    state = PollState("Create", Phase.WAIT.value, 0.0, 10.0, 20.0, 10, job_arn=JOB)
    assert state.watched() == [JOB]
    state.phase, state.cleanup, state.scan = Phase.CLEANUP.value, [JOB], [JOB, OTHER]
    assert state.watched() == [JOB, OTHER]
    state.settled = [OTHER]
    assert state.watched() == [JOB]
    state.phase = Phase.DONE.value
    assert state.watched() == []
