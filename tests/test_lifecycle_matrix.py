"""The fault matrix: CloudFormation lifecycles and faults, each ending with the invariants.

Every scenario runs the synthesized example template through the local CloudFormation driver
(tests/support/cfn_driver.py) and then checks: one answer per request, each at most 4096 bytes
and in time; no job left in the local Forecast (unless the scenario says so); no EventBridge rule,
target or Lambda permission left; FAILED reasons a user can act on. The list with what each
scenario proves is docs/SCENARIOS.md (a test keeps the two in step).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cfn_driver import LocalCloud, LocalStack
from tests.support.forecast_fake import Outcome
from tests.support.scenarios import custom_logical_id, renamed, with_exports, with_props

pytestmark = pytest.mark.e2e

MAX_TAGS = [{"Key": f"{i:03d}" + "k" * 125, "Value": "v" * 256} for i in range(50)]


def _start_create(cloud: LocalCloud, template: dict[str, Any]) -> tuple[LocalStack, Any]:
    stack = LocalStack(cloud, template)
    logical_id = custom_logical_id(template)
    props = stack._props(template["Resources"][logical_id])
    stack.properties[logical_id] = props
    return stack, stack.start("Create", logical_id, props)


def test_create_then_delete(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    assert stack.create().status == "CREATE_COMPLETE"
    assert stack.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()


def test_tags_only_update(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    before = dict(stack.physical_ids)
    assert stack.update(with_props(example_template, Tags=[{"Key": "a", "Value": "b"}])).status == "UPDATE_COMPLETE"
    assert stack.physical_ids == before
    stack.delete()
    cloud.check_invariants()


def test_replacing_update(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    before = dict(stack.physical_ids)
    assert stack.update(with_props(example_template, ForecastExportJobName="renamed")).status == "UPDATE_COMPLETE"
    assert stack.physical_ids != before and len(cloud.forecast.live_jobs()) == 1
    stack.delete()
    cloud.check_invariants()


def test_create_failed_then_rollback_delete(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("failed", 120, "The forecast has no data for the export window")
    result = LocalStack(cloud, example_template).create()
    assert result.status == "ROLLBACK_COMPLETE"
    assert "The forecast has no data for the export window" in result.by_type("Create")[0].reason
    cloud.check_invariants()


def test_create_stopped_outside_cloudformation(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("never")
    stack, create = _start_create(cloud, example_template)
    cloud.run([create], horizon=cloud.clock.now() + 200)
    (job,) = cloud.forecast.jobs.values()
    job.stop_at = cloud.clock.now()  # someone ran StopResource by hand
    cloud.run([create])
    assert create.status == "FAILED" and "CREATE_STOPPING" in create.reason
    cloud.check_invariants()


def test_job_that_never_finishes_is_stopped_at_the_deadline(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("never")
    result = LocalStack(cloud, with_props(example_template, TimeoutSeconds="900", ServiceTimeout="1200")).create()
    create = result.by_type("Create")[0]
    assert "not ACTIVE within 900 s" in create.reason
    cloud.check_invariants()


def test_failed_update_rolls_back_to_the_old_job(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    original = dict(stack.physical_ids)
    cloud.forecast.outcomes["daily_export"] = Outcome("failed", 100, "Role cannot write to the new path")
    result = stack.update(with_props(example_template, Format="PARQUET"))
    assert result.status == "UPDATE_ROLLBACK_COMPLETE"
    update, rollback = result.requests[:2]
    assert update.status == "FAILED" and "Role cannot write to the new path" in update.reason
    assert rollback.status == "SUCCESS" and rollback.physical_id == next(iter(original.values()))
    assert list(cloud.forecast.kept_jobs()) == list(original.values())
    stack.delete()
    cloud.check_invariants()


def test_update_rollback_after_another_resource_fails(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    original = next(iter(stack.physical_ids.values()))
    result = stack.update(with_props(example_template, Format="PARQUET"), another_resource_fails=True)
    update, rollback, cleanup = result.requests
    assert update.status == rollback.status == cleanup.status == "SUCCESS"
    assert rollback.physical_id == original  # the old job is adopted again
    assert cleanup.event["PhysicalResourceId"] == update.physical_id  # the new job is deleted
    assert list(cloud.forecast.live_jobs()) == [original]
    stack.delete()
    cloud.check_invariants()


def test_stack_delete_while_the_job_is_still_running(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("never")
    stack, create = _start_create(cloud, example_template)
    cloud.run([create], horizon=cloud.clock.now() + 120)
    delete = stack.start(
        "Delete", create.logical_id, create.event["ResourceProperties"], physical_id=create.event["LogicalResourceId"]
    )
    cloud.run([delete])
    assert delete.status == "SUCCESS"
    assert not cloud.forecast.live_jobs()
    cloud.check_invariants(expect_unanswered=1)  # the Create was cancelled: its poller stopped without answering


def test_duplicate_delivery_of_a_create(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack, create = _start_create(cloud, example_template)
    stack.redeliver(create)
    cloud.run([create])
    assert len(cloud.receiver.store.accepted(create.request_id)) == 1
    assert len(cloud.forecast.calls_to("CreateForecastExportJob")) == 1
    stack.physical_ids = {create.logical_id: create.physical_id}
    stack.delete()
    cloud.check_invariants()


def test_duplicate_delivery_of_a_delete(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    ((logical_id, physical_id),) = stack.physical_ids.items()
    delete = stack.start("Delete", logical_id, stack.properties[logical_id], physical_id=physical_id)
    stack.redeliver(delete)
    cloud.run([delete])
    answers = cloud.receiver.store.accepted(delete.request_id)
    assert len({json.dumps(a.body, sort_keys=True) for a in answers}) == 1  # any repeat answer is the same answer
    assert len(cloud.forecast.calls_to("DeleteForecastExportJob")) == 1
    cloud.check_invariants()


@pytest.mark.parametrize("operation", ["CreateForecastExportJob", "DescribeForecastExportJob", "DeleteForecastExportJob"])
def test_throttling_on_each_lifecycle_call(cloud: LocalCloud, example_template: dict[str, Any], operation: str) -> None:
    cloud.forecast.fail_next(operation, "ThrottlingException", 400, times=3)
    stack = LocalStack(cloud, example_template)
    assert stack.create().status == "CREATE_COMPLETE"
    assert stack.delete().status == "DELETE_COMPLETE"
    assert any(c.error == "ThrottlingException" for c in cloud.forecast.calls if c.operation == operation)
    cloud.check_invariants()


def test_throttling_that_outlasts_the_retries_only_delays_the_poll(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.fail_next("DescribeForecastExportJob", "ThrottlingException", 400, times=12)
    assert LocalStack(cloud, example_template).create().status == "CREATE_COMPLETE"
    cloud.check_invariants(allowed_jobs=1)


def test_throttling_on_stop_and_tag_calls(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    cloud.forecast.fail_next("UntagResource", "ThrottlingException", 400, times=2)
    cloud.forecast.fail_next("TagResource", "ThrottlingException", 400, times=2)
    assert stack.update(with_props(example_template, Tags=[{"Key": "x", "Value": "y"}])).status == "UPDATE_COMPLETE"
    cloud.forecast.default_outcome = Outcome("never")
    cloud.forecast.fail_next("StopResource", "ThrottlingException", 400, times=2)
    assert stack.update(with_props(example_template, Format="PARQUET", TimeoutSeconds="600")).status == "UPDATE_ROLLBACK_COMPLETE"
    assert len(cloud.forecast.calls_to("StopResource")) >= 1
    stack.delete()
    cloud.check_invariants()


def test_server_errors_are_retried(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.fail_next("*", "InternalServerError", 500, times=3)
    stack = LocalStack(cloud, example_template)
    assert stack.create().status == "CREATE_COMPLETE"
    stack.delete()
    cloud.check_invariants()


def test_five_exports_queue_behind_the_three_concurrent_creations_limit(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    cloud.forecast.default_outcome = Outcome("active", 400)
    stack = LocalStack(cloud, with_exports(example_template, 5))
    result = stack.create()
    assert result.status == "CREATE_COMPLETE", [r.reason for r in result.requests]
    limited = [c for c in cloud.forecast.calls if c.error == "LimitExceededException"]
    assert limited, "the scenario must actually hit the quota"
    starts = sorted(j.created_at for j in cloud.forecast.jobs.values())
    assert starts[3] >= starts[0] + 400  # the fourth waited for a slot
    stack.delete()
    cloud.check_invariants()


def test_limit_exceeded_until_the_deadline_fails_clearly(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("never")
    stack = LocalStack(cloud, with_exports(with_props(example_template, TimeoutSeconds="600", ServiceTimeout="900"), 4))
    result = stack.create()
    reasons = [r.reason for r in result.by_type("Create")]
    assert any("3 export jobs being created at once" in reason for reason in reasons)
    cloud.check_invariants()


def test_stopped_job_that_forecast_refuses_to_delete(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("never")
    cloud.forecast.stopped_deletable = False
    stack, create = _start_create(cloud, example_template)
    cloud.run([create], horizon=cloud.clock.now() + 120)
    (job_arn,) = cloud.forecast.live_jobs()
    delete = stack.start("Delete", create.logical_id, create.event["ResourceProperties"], physical_id=job_arn)
    cloud.run([delete])
    assert delete.status == "SUCCESS"
    assert cloud.forecast.live_jobs() == {job_arn: "CREATE_STOPPED"}
    cloud.check_invariants(allowed_jobs=1, expect_unanswered=1)


def test_delete_of_a_job_already_gone(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    cloud.forecast.jobs.clear()
    assert stack.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()


def test_existing_job_with_the_same_properties_is_adopted(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    (job_arn,) = cloud.forecast.live_jobs()
    again = LocalStack(cloud, example_template)  # same stack ID: a lost response, CloudFormation retried
    result = again.create()
    assert result.status == "CREATE_COMPLETE" and result.requests[0].physical_id == job_arn
    assert len(cloud.forecast.calls_to("CreateForecastExportJob")) == 1
    again.delete()
    cloud.check_invariants()


def test_existing_job_with_other_properties_fails_clearly(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    (job,) = cloud.forecast.jobs.values()
    job.format = "PARQUET"  # made by hand with the same name but another format
    result = LocalStack(cloud, example_template).create()
    create = result.by_type("Create")[0]
    assert create.status == "FAILED" and "already exists" in create.reason and "another destination or format" in create.reason
    assert cloud.forecast.live_jobs() == {job.arn: "ACTIVE"}  # the other job is not touched
    cloud.forecast.jobs.clear()
    cloud.check_invariants()


def test_logical_id_over_200_characters(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("active", 300)
    stack = LocalStack(cloud, renamed(example_template, "Export" + "X" * 210))
    assert stack.create().status == "CREATE_COMPLETE"  # the driver flags rule names over 64 characters
    stack.delete()
    cloud.check_invariants()


def test_fifty_maximum_length_tags_on_a_replacing_update(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    template = with_props(example_template, Tags=MAX_TAGS)
    stack = LocalStack(cloud, template)
    assert stack.create().status == "CREATE_COMPLETE"
    result = stack.update(with_props(template, Format="PARQUET"))
    assert result.status == "UPDATE_COMPLETE"  # the driver flags target inputs over 8192 characters
    assert len(json.dumps(result.requests[0].event)) > 40_000
    stack.delete()
    cloud.check_invariants()


def test_response_url_that_errors_then_recovers(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.receiver.store.scripted_statuses = [500, 503]
    stack = LocalStack(cloud, example_template)
    assert stack.create().status == "CREATE_COMPLETE"
    assert [r.http_status for r in cloud.receiver.store.received] == [500, 503, 200]
    stack.delete()
    cloud.check_invariants()


def test_response_url_that_refuses_the_answer(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.receiver.store.scripted_statuses = [403]
    stack, create = _start_create(cloud, example_template)
    cloud.run([create])
    assert create.timed_out  # CloudFormation never got the answer; the handler did not hang or loop
    assert [r.http_status for r in cloud.receiver.store.received] == [403]
    delete = stack.start("Delete", create.logical_id, create.event["ResourceProperties"], physical_id=create.logical_id)
    cloud.run([delete])
    cloud.check_invariants(expect_unanswered=1)


def test_lambda_running_out_of_time_mid_poll(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    short = json.loads(json.dumps(example_template))
    for resource in short["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Timeout"] = 25
    stack = LocalStack(cloud, short, name="ShortTimeout")
    result = stack.create()
    assert result.status == "CREATE_COMPLETE"
    assert len(result.requests[0].invocations) >= 5
    stack.delete()
    cloud.check_invariants()  # the driver flags any invocation past the Lambda timeout


def test_retain_keeps_the_job(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, with_props(example_template, RemovalPolicy="Retain"))
    stack.create()
    stack.delete()
    cloud.check_invariants(allowed_jobs=1)


def test_junk_physical_id_on_delete(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    stack.physical_ids = {k: "ForecastExportExample_DailyExport_Q7W3E9R1" for k in stack.physical_ids}
    assert stack.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()


def test_invalid_properties_never_reach_forecast(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    result = LocalStack(cloud, with_props(example_template, ForecastExportJobName="daily-export", Format="csv")).create()
    reason = result.by_type("Create")[0].reason
    assert "ForecastExportJobName" in reason and "Format" in reason
    assert cloud.forecast.calls == []
    cloud.check_invariants()


def test_very_long_failure_message_still_fits_the_response(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("failed", 60, "x" * 10_000)
    result = LocalStack(cloud, example_template).create()
    create = result.by_type("Create")[0]
    assert create.status == "FAILED" and create.response is not None and create.response.size <= 4096
    assert create.reason.startswith("Export job daily_export_")
    cloud.check_invariants()


def test_every_scenario_is_documented() -> None:
    from pathlib import Path

    documented = (Path(__file__).resolve().parents[1] / "docs" / "SCENARIOS.md").read_text()
    scenarios = [name for name in globals() if name.startswith("test_") and name != "test_every_scenario_is_documented"]
    assert len(scenarios) >= 25
    missing = [name for name in scenarios if f"`{name}" not in documented]
    assert not missing, f"add these to docs/SCENARIOS.md: {missing}"
