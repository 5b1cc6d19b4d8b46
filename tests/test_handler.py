"""The handler's paths, driven through the real crhelper with real boto3 clients.

Forecast is the local server in tests/support/forecast_fake.py; EventBridge and Lambda
permissions are moto; responses go to a local HTTPS URL. Time is virtual.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.cfn_driver import LocalCloud, LocalStack
from tests.support.forecast_fake import Outcome
from tests.support.scenarios import custom_logical_id, with_props

JOB_NAME = re.compile(r"^daily_export_[0-9a-f]{8}[0-9a-zA-Z]{4}$")  # owner marker, then the key


def test_create_waits_until_active_and_answers_with_the_job(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("active", 420)
    stack = LocalStack(cloud, example_template)
    started = cloud.clock.now()
    result = stack.create()
    (create,) = result.requests
    assert create.status == "SUCCESS"
    (job_arn,) = cloud.forecast.live_jobs()
    job = cloud.forecast.jobs[job_arn]
    assert create.physical_id == job_arn
    assert JOB_NAME.match(job.name)
    assert create.data == {
        "ForecastExportJobArn": job_arn,
        "ForecastExportJobName": job.name,
        # Each job writes into a folder of its own under the prefix, and the attribute names exactly that folder.
        "DestinationPath": create.event["ResourceProperties"]["Destination"]["S3Config"]["Path"] + job.name + "/",
    }
    assert job.destination["S3Config"]["Path"] == create.data["DestinationPath"]
    assert job.tags == {"purpose": "example"} and job.format == "CSV"
    assert create.response is not None and create.response.at >= started + 420  # not before ACTIVE
    assert create.response.at - (job.finished_at() or 0) <= 10
    stack.delete()
    cloud.check_invariants()


def test_a_repeated_create_adopts_the_job_it_already_made(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    props = stack._props(example_template["Resources"][custom_logical_id(example_template)])
    first = stack.start("Create", custom_logical_id(example_template), props)
    stack.redeliver(first)
    cloud.run([first])
    assert first.status == "SUCCESS"
    assert len(cloud.forecast.calls_to("CreateForecastExportJob")) == 1
    assert len(cloud.forecast.live_jobs()) == 1
    stack.physical_ids = {first.logical_id: first.physical_id}
    stack.properties = {first.logical_id: props}
    stack.delete()
    cloud.check_invariants()


def test_create_failed_reports_forecasts_message_and_cleans_up(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.outcomes["daily_export"] = Outcome("failed", 200, "Access denied writing to s3://bucket/prefix")
    result = LocalStack(cloud, example_template).create()
    assert result.status == "ROLLBACK_COMPLETE"
    create = result.by_type("Create")[0]
    assert create.status == "FAILED"
    assert "CREATE_FAILED" in create.reason and "Access denied writing to s3://bucket/prefix" in create.reason
    assert create.physical_id.startswith("arn:aws:forecast:")  # the rollback Delete can find the job
    assert result.by_type("Delete")[0].status == "SUCCESS"
    cloud.check_invariants()


def test_a_tags_only_update_is_applied_in_place(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    (job_arn,) = cloud.forecast.live_jobs()
    result = stack.update(with_props(example_template, Tags=[{"Key": "owner", "Value": "demand-team"}]))
    assert result.status == "UPDATE_COMPLETE"
    (update,) = result.requests
    assert update.physical_id == job_arn
    assert cloud.forecast.jobs[job_arn].tags == {"owner": "demand-team"}
    assert [c.params["TagKeys"] for c in cloud.forecast.calls_to("UntagResource")] == [["purpose"]]
    assert len(cloud.forecast.calls_to("CreateForecastExportJob")) == 1
    assert update.invocations[0].end - update.invocations[0].start < 5  # no polling needed
    stack.delete()
    cloud.check_invariants()


def test_a_timeout_or_removal_policy_change_touches_nothing(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    calls_before = len(cloud.forecast.calls)
    result = stack.update(with_props(example_template, TimeoutSeconds="1800", RemovalPolicy="Retain"))
    assert result.status == "UPDATE_COMPLETE"
    assert [c.operation for c in cloud.forecast.calls[calls_before:]] == []
    stack.update(example_template)
    stack.delete()
    cloud.check_invariants()


def test_upgrading_from_a_template_with_the_deprecated_polling_property_touches_nothing(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    old = with_props(example_template, Polling="Fast")  # every template written before polling was deprecated
    stack = LocalStack(cloud, old)
    stack.create()
    (job,) = stack.physical_ids.values()
    calls_before = len(cloud.forecast.calls)
    result = stack.update(example_template)  # new templates carry no Polling
    assert result.status == "UPDATE_COMPLETE"
    assert [r.physical_id for r in result.requests] == [job]  # in place: no replacement, no cleanup Delete
    assert [c.operation for c in cloud.forecast.calls[calls_before:]] == []
    stack.delete()
    cloud.check_invariants()


def test_a_replacing_update_creates_a_new_job_and_the_old_one_is_deleted(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    (old_arn,) = cloud.forecast.live_jobs()
    result = stack.update(with_props(example_template, Format="PARQUET"))
    assert result.status == "UPDATE_COMPLETE"
    update, cleanup = result.requests
    assert update.physical_id != old_arn and update.physical_id in cloud.forecast.live_jobs()
    assert cloud.forecast.jobs[update.physical_id].format == "PARQUET"
    assert cleanup.request_type == "Delete" and cleanup.event["PhysicalResourceId"] == old_arn
    assert old_arn not in cloud.forecast.live_jobs()
    stack.delete()
    cloud.check_invariants()


def test_delete_with_retain_leaves_the_job(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, with_props(example_template, RemovalPolicy="Retain"))
    stack.create()
    result = stack.delete()
    assert result.status == "DELETE_COMPLETE"
    assert len(cloud.forecast.live_jobs()) == 1
    assert not cloud.forecast.calls_to("DeleteForecastExportJob")
    cloud.check_invariants(allowed_jobs=1)


def test_delete_of_a_running_job_stops_it_and_reports_the_stopped_job(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    cloud.forecast.default_outcome = Outcome("never")
    stack = LocalStack(cloud, example_template)
    props = stack._props(example_template["Resources"][custom_logical_id(example_template)])
    create = stack.start("Create", custom_logical_id(example_template), props)
    cloud.run([create], horizon=cloud.clock.now() + 300)  # the stack is deleted while the job runs
    (job_arn,) = cloud.forecast.live_jobs()
    delete = stack.start("Delete", create.logical_id, props, physical_id=job_arn)
    cloud.run([delete])
    assert delete.status == "SUCCESS"
    operations = [
        c.operation for c in cloud.forecast.calls if c.operation in ("StopResource", "DeleteForecastExportJob") and not c.error
    ]
    assert operations[:1] == ["StopResource"]
    # Forecast deletes only ACTIVE and CREATE_FAILED jobs: the stopped one stays, and the Delete says so in its log.
    assert cloud.forecast.live_jobs() == {job_arn: "CREATE_STOPPED"}
    # CloudFormation cancelled the Create when it sent the Delete: the Delete stopped its polling, so it never answers.
    cloud.run([create])
    assert create.timed_out and create.response is None
    cloud.check_invariants(expect_unanswered=1, allowed_stopped=1)


def test_delete_with_a_made_up_physical_id_finds_the_job_by_its_properties(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    logical_id = custom_logical_id(example_template)
    delete = stack.start(
        "Delete", logical_id, stack.properties[logical_id], physical_id="ForecastExportExample_DailyExport_ABCD1234"
    )
    cloud.run([delete])
    assert delete.status == "SUCCESS"
    assert not cloud.forecast.live_jobs()
    cloud.check_invariants()


def test_delete_of_a_job_already_gone_succeeds(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    for job in cloud.forecast.jobs.values():
        job.delete_at = cloud.clock.now() - 3600  # deleted outside CloudFormation
    result = stack.delete()
    assert result.status == "DELETE_COMPLETE"
    cloud.check_invariants()


def test_delete_of_a_job_being_deleted_waits_until_it_is_gone(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    stack = LocalStack(cloud, example_template)
    stack.create()
    (job,) = cloud.forecast.jobs.values()
    job.delete_at = cloud.clock.now()
    result = stack.delete()
    assert result.status == "DELETE_COMPLETE"
    assert not cloud.forecast.calls_to("DeleteForecastExportJob")
    assert result.requests[0].response.at >= job.delete_at + 30
    cloud.check_invariants()


def test_a_job_that_never_finishes_is_stopped_at_the_deadline(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    cloud.forecast.default_outcome = Outcome("never")
    stack = LocalStack(cloud, with_props(example_template, TimeoutSeconds="600", ServiceTimeout="900"))
    result = stack.create()
    create = result.by_type("Create")[0]
    assert create.status == "FAILED"
    assert "not ACTIVE within 600 s" in create.reason and "stopped" in create.reason
    assert create.response.at - create.started_at < 900
    assert cloud.forecast.calls_to("StopResource")
    assert "Forecast refuses to delete the stopped job" in create.reason  # said, not hidden
    cloud.check_invariants(allowed_stopped=1)


DEPLOY_TIME_BAD_PROPS = [
    ("job name with a hyphen", {"ForecastExportJobName": "daily-export"}, "ForecastExportJobName"),
    ("64-character job name", {"ForecastExportJobName": "a" * 64}, "ForecastExportJobName"),
    ("forecast in another account", {"ForecastArn": "arn:aws:forecast:us-east-1:444455556666:forecast/x"}, "ForecastArn"),
    ("forecast in another region", {"ForecastArn": "arn:aws:forecast:eu-west-1:111122223333:forecast/x"}, "ForecastArn"),
    ("not a forecast ARN", {"ForecastArn": "arn:aws:forecast:us-east-1:111122223333:dataset/x"}, "ForecastArn"),
    ("lower-case format", {"Format": "csv"}, "Format"),
    ("negative timeout", {"TimeoutSeconds": "-300"}, "TimeoutSeconds"),
    ("zero timeout", {"TimeoutSeconds": "0"}, "TimeoutSeconds"),
    ("timeout over the maximum", {"TimeoutSeconds": "3500"}, "TimeoutSeconds"),
    ("timeout not a number", {"TimeoutSeconds": "ten"}, "TimeoutSeconds"),
    ("tag with aws: prefix", {"Tags": [{"Key": "aws:x", "Value": "y"}]}, "Tags"),
    ("51 tags", {"Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]}, "Tags"),
    (
        "role in another account",
        {"Destination": {"S3Config": {"Path": "s3://b/p/", "RoleArn": "arn:aws:iam::444455556666:role/r"}}},
        "Destination.S3Config.RoleArn",
    ),
    (
        "KMS alias",
        {
            "Destination": {
                "S3Config": {
                    "Path": "s3://b/p/",
                    "RoleArn": "arn:aws:iam::111122223333:role/r",
                    "KMSKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/x",
                }
            }
        },
        "Destination.S3Config.KMSKeyArn",
    ),
    (
        "KMS key in another account",
        {
            "Destination": {
                "S3Config": {
                    "Path": "s3://b/p/",
                    "RoleArn": "arn:aws:iam::111122223333:role/r",
                    "KMSKeyArn": "arn:aws:kms:us-east-1:444455556666:key/abc",
                }
            }
        },
        "Destination.S3Config.KMSKeyArn",
    ),
    (
        "path not s3://",
        {"Destination": {"S3Config": {"Path": "https://bucket/x", "RoleArn": "arn:aws:iam::111122223333:role/r"}}},
        "Destination.S3Config.Path",
    ),
    ("unknown removal policy", {"RemovalPolicy": "Snapshot"}, "RemovalPolicy"),
    ("unknown polling mode", {"Polling": "Slow"}, "Polling"),
]


@pytest.mark.parametrize(
    ("changes", "field"), [(c, f) for _, c, f in DEPLOY_TIME_BAD_PROPS], ids=[i for i, *_ in DEPLOY_TIME_BAD_PROPS]
)
def test_bad_properties_fail_before_any_forecast_call(
    cloud: LocalCloud, example_template: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    result = LocalStack(cloud, with_props(example_template, **changes)).create()
    create = result.by_type("Create")[0]
    assert create.status == "FAILED"
    assert create.reason.startswith("Invalid properties:") and field in create.reason
    assert cloud.forecast.calls == []  # not even a Describe
    assert result.by_type("Delete")[0].status == "SUCCESS"
    cloud.check_invariants()
