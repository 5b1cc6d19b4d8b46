"""Timing behaviour on the virtual clock (the figures themselves come from `make bench`).

The handler makes one short look per trigger: CloudFormation's request, a Forecast state-change
event the template's ForecastEvents rule delivers (run on the function's provider record), or a look the
Tick rule asks for when the request is due (a self-invocation, attributed to the request: the safety net
for lost events). It never polls inside an invocation, so in virtual time (where calls take no time unless
a test says so) an invocation lasts nothing unless it waited for another one's look.

Issue 16's timing: a request is due LOOK_PERIOD_SECONDS after its last look. The Tick fires once a minute at
any second of its minute (so two Ticks can be up to 2 minutes apart) and is delivered up to 5 s later; it asks
for a look at every request due within TICK_LOOKAHEAD_SECONDS, and Lambda's queue starts that look 0-2 s later.
So a due request is looked at within 2 minutes of being due (DUE_TO_LOOK_SECONDS), and with every event lost a job's
end is found within a look period and 2 minutes.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cdk_forecast_export._lambda.forecast_export.store import LOOK_PERIOD_SECONDS

from tests.support.cfn_driver import LocalCloud, LocalStack, RequestRecord, function_name_of, working_overlaps
from tests.support.forecast_fake import DELETE_SECONDS, Outcome
from tests.support.scenarios import DUE_TO_LOOK_SECONDS, LOST_EVENTS_BOUND, with_props

LONG = {"TimeoutSeconds": "3300", "ServiceTimeout": "3600"}


def _provider(cloud: LocalCloud, record: RequestRecord) -> RequestRecord:
    """The record of the request's function's invocations of no single request (Ticks, Forecast events)."""
    return cloud.provider_record(function_name_of(str(record.event["ServiceToken"])))


def _lags_from_due_to_look(cloud: LocalCloud, record: RequestRecord) -> list[float]:
    """For each look a Tick asked for (a self-invocation) or made itself (the first request due): its start minus the
    moment the request became due (LOOK_PERIOD_SECONDS after the last state write of the look before it; the write
    and its ``due_at`` happen at the same virtual instant)."""
    writes = ("dynamodb:UpdateItem", "dynamodb:TransactWriteItems")
    lags, due = [], None
    for inv in [*(i for i in record.invocations if i.trigger == "cloudformation"), *cloud.looks_at(record)]:
        if inv.trigger in ("self", "schedule") and due is not None:
            lags.append(inv.start - due)
        written = [t for t, op in inv.calls if op in writes]
        if written:
            due = max(written) + LOOK_PERIOD_SECONDS
    return lags


def _describes_per_invocation(create: Any) -> list[int]:
    return [sum(1 for _, op in i.calls if op == "forecast:DescribeForecastExportJob") for i in create.invocations]


@pytest.mark.parametrize("polling", ["Fast", "Economy"])
def test_the_answer_goes_out_within_seconds_of_the_active_event(
    cloud: LocalCloud, example_template: dict[str, Any], polling: str
) -> None:
    """Both polling modes now mean the same: one look per event, answered at that look."""
    cloud.event_delay = (0.2, 1.5)
    cloud.forecast.default_outcome = Outcome("active", 50 * 60 + 17)
    (create,) = LocalStack(cloud, with_props(example_template, Polling=polling, **LONG)).create().requests
    assert create.status == "SUCCESS"
    detection = cloud.detection(create)
    assert detection is not None and detection["event_arrived_at"] is not None
    assert detection["after_event"] <= 1.5, detection
    assert detection["latency"] <= 3.0, detection
    cloud.check_invariants(allowed_jobs=1)


def test_each_invocation_makes_one_look_and_never_polls(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("active", 20 * 60 + 17)
    (create,) = LocalStack(cloud, with_props(example_template, **LONG)).create().requests
    assert create.status == "SUCCESS"
    provider = _provider(cloud, create)
    assert max(_describes_per_invocation(create) + _describes_per_invocation(provider)) == 1
    usage = create.usage(cloud.clock.now())
    # at most one look a minute by the Tick (a look period after the last look, found by a Tick; the only request
    # due, so the Tick looks within its own invocation) ...
    tick_looks = [i for i in cloud.looks_at(create) if i.trigger in ("self", "schedule")]
    assert 1 <= len(tick_looks) <= 22
    # ... plus one provider invocation per Forecast event delivered (the stack's only job: all of them its own)
    events = [i for i in provider.invocations if i.trigger == "event"]
    assert events and len(events) == len(cloud.event_deliveries(create.request_id))
    # Nobody sleeps between looks: an invocation lasts as long as its few calls (50-200 ms each in the bed).
    finished = [i for i in create.invocations if i.end is not None]
    assert max(i.end - i.start for i in finished) <= 3.0
    assert usage["seconds"] <= 1.5 * len(finished)
    cloud.check_invariants(allowed_jobs=1)


def test_with_every_event_lost_the_schedule_finds_the_job_within_two_periods(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    """Issue 16's safety net: with no event, every look is one the Tick asked for (a self-invocation attributed to
    the request; the Ticks themselves run on the provider record), each within 2 minutes of the request being due,
    and the job's end is found within a look period and 2 minutes."""
    cloud.event_loss = 1.0
    cloud.forecast.default_outcome = Outcome("active", 50 * 60 + 17)
    (create,) = LocalStack(cloud, with_props(example_template, **LONG)).create().requests
    assert create.status == "SUCCESS"
    assert {i.trigger for i in create.invocations} <= {"cloudformation", "self"}
    assert {i.trigger for i in _provider(cloud, create).invocations} == {"schedule"}
    assert any(i.trigger == "schedule" for i in cloud.looks_at(create))  # the only request due: the Tick looks itself
    lags = _lags_from_due_to_look(cloud, create)
    assert len(lags) >= 25 and max(lags) <= DUE_TO_LOOK_SECONDS, lags
    detection = cloud.detection(create)
    assert detection is not None and detection["latency"] <= LOST_EVENTS_BOUND, detection
    assert max(i.end - i.start for i in create.invocations if i.end is not None) <= 3.0  # one look, a few calls
    cloud.check_invariants(allowed_jobs=1)


@pytest.mark.parametrize(
    "script",
    [
        # (second of its minute a Tick fires at, its delivery delay), cycled: a Tick at second 10 asks for a look; the
        # next minute's Tick (second 0) comes before the request is due; the one after at the minute's last second,
        # delivered 5 s late: 2 minutes and 5 s after the one before it.
        [(10.0, 0.0), (0.0, 0.0), (59.9, 5.0)],
        [(20.0, 0.0), (0.0, 0.0), (59.9, 5.0)],
    ],
)
def test_a_request_due_is_looked_at_within_two_minutes_when_ticks_come_two_minutes_apart(
    cloud: LocalCloud, example_template: dict[str, Any], script: list[tuple[float, float]]
) -> None:
    """Issue 16's bound under EventBridge's worst documented schedule: two Ticks up to 2 minutes apart (each fires at
    any second of its minute), plus their delivery and Lambda's queue (2 s here). Each Tick's look-ahead
    (TICK_LOOKAHEAD_SECONDS) keeps every look within 2 minutes of the request being due (at worst 120 + 5 + 2 - 10 =
    117 s); with no look-ahead both scripts measure 124 s."""
    cloud.schedule_script = script
    cloud.cfn_queue_delay = (2.0, 2.0)
    cloud.event_loss = 1.0
    cloud.forecast.default_outcome = Outcome("active", 20 * 60 + 17)
    (create,) = LocalStack(cloud, with_props(example_template, **LONG)).create().requests
    assert create.status == "SUCCESS"
    lags = _lags_from_due_to_look(cloud, create)
    assert len(lags) >= 10 and max(lags) <= DUE_TO_LOOK_SECONDS, lags
    cloud.check_invariants(allowed_jobs=1)


def test_with_every_event_lost_an_exact_schedule_finds_the_job_within_a_minute(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    """The kind schedule: Ticks exactly a minute apart, delivered at once. A request due a look period after the look
    a Tick asked for is due within the next Tick's look-ahead, so the fallback alone is one look a minute (not one
    every other minute), each started within Lambda's queue delay (0-2 s) of its Tick."""
    cloud.exact_schedule = True
    cloud.event_loss = 1.0
    cloud.forecast.default_outcome = Outcome("active", 50 * 60 + 17)
    (create,) = LocalStack(cloud, with_props(example_template, **LONG)).create().requests
    (job,) = cloud.forecast.jobs.values()
    assert create.status == "SUCCESS"
    assert create.response.at - job.finished_at() <= 60 + 2 + 1  # type: ignore[operator,union-attr]
    looks = cloud.looks_at(create)
    assert 50 <= len(looks) <= 53  # one a minute (the Tick's own: the only request due)
    for earlier, later in zip(looks, looks[1:], strict=False):
        assert earlier.end <= later.start  # never two at once
    cloud.check_invariants(allowed_jobs=1)


def test_a_failure_is_reported_within_seconds_of_its_event(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.event_delay = (0.2, 1.5)
    cloud.forecast.default_outcome = Outcome("failed", 7 * 60 + 41, "bad data")
    create = LocalStack(cloud, example_template).create().by_type("Create")[0]
    assert create.status == "FAILED"
    detection = cloud.detection(create)
    assert detection is not None and detection["status"] == "CREATE_FAILED"
    # the answer waits for Forecast to accept the failed job's deletion, which the same look asks for
    assert detection["latency"] <= 3.0, detection


def test_a_failure_is_reported_within_two_periods_when_its_event_is_lost(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    cloud.event_loss = 1.0
    cloud.forecast.default_outcome = Outcome("failed", 7 * 60 + 41, "bad data")
    create = LocalStack(cloud, example_template).create().by_type("Create")[0]
    (job,) = cloud.forecast.jobs.values()
    assert create.status == "FAILED"
    assert create.response.at - job.finished_at() <= LOST_EVENTS_BOUND  # type: ignore[operator,union-attr]


def test_a_delete_answers_within_seconds_of_the_job_being_gone(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    cloud.clock.advance(23)
    (delete,) = stack.delete().requests
    (job,) = cloud.forecast.jobs.values()
    assert delete.status == "SUCCESS"
    overhead = delete.response.at - (job.delete_at + DELETE_SECONDS)  # type: ignore[operator,union-attr]
    assert 0 <= overhead <= 10  # the event of the deletion's end triggers the last look
    cloud.check_invariants()


def test_the_delete_is_logged_before_it_is_answered(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    """crhelper's 120 s sleep was there so the Delete's logs reach CloudWatch before the stack goes;
    here the log group is retained, and the answer itself is logged before the invocation ends."""
    stack = LocalStack(cloud, example_template)
    stack.create()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    try:
        (delete,) = stack.delete().requests
    finally:
        logging.getLogger().removeHandler(handler)
    sent = [r for r in records if r.name.endswith("responses") and "Sent SUCCESS" in r.getMessage()]
    assert len(sent) == 1
    assert delete.invocations[-1].end - delete.response.at <= 2  # answered last, after a short wait for the logs


def test_an_event_during_another_look_waits_for_it_and_looks_again(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    """Every look takes 11 s and every event comes twice, the copy at most 10 s later: an event's invocation (on the
    provider record, as every ForecastEvents delivery) that finds another look's lease in the request's slot (a look
    the Tick asked for, or the other copy's) waits, reading the slot only (every LEASE_CHECK_SECONDS), until that look
    ends; then it makes its own look, or finds the request answered and does nothing more. Nothing is lost, one
    answer, and no two invocations of the function, Forecast events' and the request's own, ever work at once."""
    cloud.event_delay = (0.2, 0.4)
    cloud.event_duplicates = 1.0
    cloud.slow("forecast:DescribeForecastExportJob", 11.0)  # longer than the copy's lag (DUPLICATE_LAG_MAX)
    cloud.forecast.default_outcome = Outcome("active", 10 * 60 + 17)
    (create,) = LocalStack(cloud, example_template).create().requests
    assert create.status == "SUCCESS" and create.response is not None
    events = [i for i in _provider(cloud, create).invocations if i.trigger == "event"]

    def reads(inv: Any) -> list[float]:
        return [t for t, op in inv.calls if op == "dynamodb:GetItem"]

    # one read finds the slot, one takes the lease: more are the wait
    waited = [i for i in events if len(reads(i)) > 2]
    assert waited, "no event invocation waited for another one's look"
    every = create.invocations + _provider(cloud, create).invocations
    # the answering look removes the slot just before it sends the answer: a read after that finds the request gone
    removed_at = min(t for i in every for t, op in i.calls if op == "dynamodb:DeleteItem")
    for inv in waited:
        looked_after = [t for t, op in inv.calls if op.startswith("forecast:") and t > reads(inv)[2]]
        assert looked_after or max(reads(inv)) >= removed_at, inv.calls
    assert working_overlaps(every) == []  # one request on this function: the Tick's own looks count too
    cloud.check_invariants(allowed_jobs=1)
