"""The CloudFormation check on its own (lambda/forecast_export/confirmation.py), row by row.

CloudFormation's read APIs cannot run here: these tests hand the check a client that answers from a
list of stack events, as the lifecycle bed's driver does (tests/support/cfn_driver.py, which runs the
same check end to end in the matrix's forged-request scenarios).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cdk_forecast_export._lambda.forecast_export import contract
from cdk_forecast_export._lambda.forecast_export.confirmation import CloudFormationCheck, Unconfirmed
from cdk_forecast_export._lambda.forecast_export.retries import Budget


class SteppingClock:
    """A clock only this test's single thread uses: sleeping moves it forward."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += seconds


STACK = "arn:aws:cloudformation:us-east-1:111122223333:stack/Team/5f0c1d2e-0000-4000-8000-000000000000"
FUNCTION = "arn:aws:lambda:us-east-1:111122223333:function:provider-handler"
T0 = 1_800_000_000.0
PROPS = {
    "ServiceToken": FUNCTION,
    "ForecastExportJobName": "daily",
    "ForecastArn": "arn:aws:forecast:us-east-1:111122223333:forecast/demand",
    "Destination": {"S3Config": {"Path": "s3://b/p/", "RoleArn": "arn:aws:iam::111122223333:role/r"}},
    "TimeoutSeconds": "600",
    "ServiceTimeout": 900,
}
SENT = {**PROPS, "ServiceTimeout": "900"}  # as CloudFormation sends them: every scalar a string


def url(signed_at: float | None) -> str:
    base = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=ab"
    if signed_at is None:
        return base
    return base + "&X-Amz-Date=" + datetime.fromtimestamp(signed_at, timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class StackEvents:
    """DescribeStackResource and DescribeStackEvents (pages of ``page``) from a list, newest first."""

    def __init__(self, status: str, physical: str, events: list[dict[str, Any]], page: int = 2) -> None:
        self.resource = {"ResourceType": contract.RESOURCE_TYPE, "ResourceStatus": status, "PhysicalResourceId": physical}
        self.events = events
        self.page = page
        self.pages_read = 0

    def describe_stack_resource(self, **_: Any) -> dict[str, Any]:
        if self.resource is None:
            raise ClientError({"Error": {"Code": "ValidationError", "Message": "no such resource"}}, "DescribeStackResource")
        return {"StackResourceDetail": self.resource}

    def describe_stack_events(self, NextToken: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.pages_read += 1
        start = int(NextToken or 0)
        answer: dict[str, Any] = {"StackEvents": self.events[start : start + self.page]}
        if start + self.page < len(self.events):
            answer["NextToken"] = str(start + self.page)
        return answer


def stack_event(
    status: str, at: float, physical: str = "", props: dict[str, Any] | None = None, lid: str = "Daily"
) -> dict[str, Any]:
    event = {
        "EventId": f"{lid}-{status}-{at}",
        "LogicalResourceId": lid,
        "ResourceStatus": status,
        "PhysicalResourceId": physical,
        "Timestamp": datetime.fromtimestamp(at, timezone.utc),
    }
    if props is not None:
        event["ResourceProperties"] = json.dumps(props)
    return event


def request(
    kind: str, *, physical: str = "", signed_at: float | None = T0, props: dict[str, Any] | None = None
) -> dict[str, Any]:
    event = {
        "RequestType": kind,
        "ServiceToken": FUNCTION,
        "ResponseURL": url(signed_at),
        "StackId": STACK,
        "RequestId": "r-1",
        "LogicalResourceId": "Daily",
        "ResourceType": contract.RESOURCE_TYPE,
        "ResourceProperties": props if props is not None else SENT,
    }
    if physical:
        event["PhysicalResourceId"] = physical
    return event


def check(client: StackEvents, now: float = T0 + 1) -> CloudFormationCheck:
    """A check whose re-reads (the status may lag the request by seconds) advance its own clock."""
    clock = SteppingClock(now)
    return CloudFormationCheck(lambda: client, Budget(clock, now + 60), "provider-handler")


def test_a_create_cloudformation_recorded_is_confirmed_by_its_event() -> None:
    client = StackEvents("CREATE_IN_PROGRESS", "", [stack_event("CREATE_IN_PROGRESS", T0, props=PROPS)])
    assert check(client).confirm(request("Create")) == f"Daily-CREATE_IN_PROGRESS-{T0}"


def test_numbers_and_keys_the_handler_does_not_read_are_not_compared() -> None:
    recorded = {**PROPS, "ServiceTimeout": 900, "Polling": "Fast", "Extra": "x"}
    client = StackEvents("CREATE_IN_PROGRESS", "", [stack_event("CREATE_IN_PROGRESS", T0, props=recorded)])
    check(client).confirm(request("Create"))


def test_other_properties_than_cloudformation_recorded_are_refused() -> None:
    client = StackEvents("CREATE_IN_PROGRESS", "", [stack_event("CREATE_IN_PROGRESS", T0, props=PROPS)])
    forged = {**SENT, "ForecastExportJobName": "planted"}
    with pytest.raises(Unconfirmed, match="properties differ"):
        check(client).confirm(request("Create", props=forged))


def test_a_url_without_a_signing_date_is_refused() -> None:
    client = StackEvents("CREATE_IN_PROGRESS", "", [stack_event("CREATE_IN_PROGRESS", T0, props=PROPS)])
    with pytest.raises(Unconfirmed, match="no signing date"):
        check(client, now=T0 + 120).confirm(request("Create", signed_at=None))


def test_a_request_signed_long_before_its_event_is_a_late_copy() -> None:
    client = StackEvents("UPDATE_IN_PROGRESS", "arn:job", [stack_event("UPDATE_IN_PROGRESS", T0 + 300, "arn:job", PROPS)])
    with pytest.raises(Unconfirmed, match="late copy"):
        check(client, now=T0 + 400).confirm(request("Update", physical="arn:job"))


def test_a_delete_of_a_replaced_id_matches_its_own_event_while_the_resource_holds_the_new_one() -> None:
    events = [
        stack_event("DELETE_IN_PROGRESS", T0, "arn:old", {**PROPS, "Format": "CSV"}),
        stack_event("UPDATE_COMPLETE", T0 - 5, "arn:new"),
        stack_event("UPDATE_IN_PROGRESS", T0 - 300, "arn:old", PROPS),
    ]
    client = StackEvents("UPDATE_COMPLETE", "arn:new", events)
    # CloudFormation recorded other properties on the Delete's own event (say, the new ones): an earlier record
    # of the same physical ID with the request's properties still confirms a Delete.
    check(client).confirm(request("Delete", physical="arn:old"))


def test_a_delete_of_an_id_cloudformation_never_deletes_is_refused() -> None:
    client = StackEvents("UPDATE_COMPLETE", "arn:new", [stack_event("UPDATE_COMPLETE", T0, "arn:new")])
    with pytest.raises(Unconfirmed, match="records no DELETE_IN_PROGRESS"):
        check(client).confirm(request("Delete", physical="Daily-MADEUP"))


def test_the_events_are_read_only_as_far_as_the_decision_needs() -> None:
    events = [stack_event("CREATE_IN_PROGRESS", T0, props=PROPS)] + [
        stack_event("CREATE_COMPLETE", T0 - 10 * i, "x", lid=f"Other{i}") for i in range(1, 40)
    ]
    client = StackEvents("CREATE_IN_PROGRESS", "", events, page=2)
    check(client).confirm(request("Create"))
    assert client.pages_read == 1
