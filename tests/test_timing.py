"""Timing behaviour on the virtual clock (the figures themselves come from `make bench`)."""

from __future__ import annotations

import logging
from typing import Any

from tests.support.cfn_driver import LocalCloud, LocalStack
from tests.support.forecast_fake import DELETE_SECONDS, Outcome
from tests.support.scenarios import with_props


def test_a_50_minute_job_is_seen_within_seconds_when_the_rule_fires_on_time(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    # The one test with the kind schedule: firings exactly a minute apart, delivered at once. It pins what
    # FAST polling gives at best; the next test holds it to EventBridge's documented "within the minute".
    cloud.exact_schedule = True
    cloud.forecast.default_outcome = Outcome("active", 50 * 60 + 17)
    stack = LocalStack(cloud, with_props(example_template, TimeoutSeconds="3300", ServiceTimeout="3600"))
    (create,) = stack.create().requests
    (job,) = cloud.forecast.jobs.values()
    assert create.status == "SUCCESS"
    assert create.response.at - job.finished_at() <= 10  # type: ignore[operator,union-attr]
    invocations = create.invocations
    assert 50 <= len(invocations) <= 55  # about one a minute
    for earlier, later in zip(invocations, invocations[1:], strict=False):
        assert earlier.end <= later.start  # never two at once
    assert max(i.end - i.start for i in invocations) <= 90 - 30  # inside the Lambda timeout with margin
    cloud.check_invariants(allowed_jobs=1)


def test_a_50_minute_job_under_a_jittered_schedule_is_seen_within_the_next_period(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    """Firings anywhere in their minute: a look covers until the period ends, so a gap is at most ~70 s."""
    cloud.forecast.default_outcome = Outcome("active", 50 * 60 + 17)
    stack = LocalStack(cloud, with_props(example_template, TimeoutSeconds="3300", ServiceTimeout="3600"))
    (create,) = stack.create().requests
    (job,) = cloud.forecast.jobs.values()
    assert create.status == "SUCCESS"
    assert create.response.at - job.finished_at() <= 75  # type: ignore[operator,union-attr]
    assert max(i.end - i.start for i in create.invocations if i.end is not None) <= 90 - 30
    cloud.check_invariants(allowed_jobs=1)  # no two working invocations overlap (the bed checks)


def test_a_failure_is_reported_within_the_next_period(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("failed", 7 * 60 + 41, "bad data")
    create = LocalStack(cloud, example_template).create().by_type("Create")[0]
    (job,) = cloud.forecast.jobs.values()
    assert create.status == "FAILED"
    assert create.response.at - job.finished_at() <= 75  # type: ignore[operator,union-attr]


def test_a_delete_answers_within_seconds_of_the_job_being_gone(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    cloud.clock.advance(23)
    (delete,) = stack.delete().requests
    (job,) = cloud.forecast.jobs.values()
    assert delete.status == "SUCCESS"
    overhead = delete.response.at - (job.delete_at + DELETE_SECONDS)  # type: ignore[operator,union-attr]
    assert 0 <= overhead <= 10
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


def test_economy_polling_looks_once_a_minute_and_uses_almost_no_lambda_time(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    cloud.forecast.default_outcome = Outcome("active", 20 * 60 + 17)
    stack = LocalStack(cloud, with_props(example_template, Polling="Economy"))
    (create,) = stack.create().requests
    (job,) = cloud.forecast.jobs.values()
    assert create.status == "SUCCESS"
    assert create.response.at - job.finished_at() <= 61  # type: ignore[operator,union-attr]
    assert 20 <= len(create.invocations) <= 22
    assert sum(i.end - i.start for i in create.invocations) <= 1  # one Describe per invocation, no waiting
    cloud.check_invariants(allowed_jobs=1)
