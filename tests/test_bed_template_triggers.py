"""The test bed runs issue 16's design: the template's state table and its two rules exist in moto for the
stack's life, the rules fire at the function (Tick every minute, Forecast's events through the pattern rule),
and the handler's asynchronous invocations of itself are queued, IAM-checked and attributed.

No real handler runs here: a probe handler (tests/support/template_triggers.py) records what reaches it, in a
hand-written stack shaped as ISSUE16-CONTRACT.md says the construct will make it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cdk_forecast_export._lambda.forecast_export import contract

from tests.support import apps
from tests.support.cfn_driver import ACCOUNT, REGION, Invocation, LocalCloud, LocalStack, RequestRecord
from tests.support.forecast_fake import Outcome
from tests.support.template_resources import StackResourceFailed
from tests.support.template_triggers import PROBE_CODE, SEEN, probe_asset, stack_template

TICK = {contract.TRIGGER_KEY: contract.TICK}


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return probe_asset(tmp_path_factory.mktemp("probe-asset"))


@pytest.fixture
def bed(cloud: LocalCloud, probe_dir: Path) -> LocalCloud:
    cloud.register_code(PROBE_CODE, probe_dir)
    cloud.lambda_duplicates = 0.0  # each test counts deliveries
    SEEN.clear()
    return cloud


def function_arn(stack: LocalStack) -> str:
    return str(stack.resolve({"Fn::GetAtt": ["Handler", "Arn"]}))


def seen(stack: LocalStack, predicate: Any = None) -> list[dict[str, Any]]:
    mine = [s for s in SEEN if s["function"] == f"{stack.name}-Handler"]
    return [s for s in mine if predicate is None or predicate(s["event"])]


def invoke_self(bed: LocalCloud, stack: LocalStack, payload: Any, invocation_type: str = "Event") -> dict[str, Any]:
    """Make the probe invoke itself with ``payload`` (from a foreign invocation); what it saw."""
    bed.invoke_foreign({"probe": "invoke-self", "payload": payload, "type": invocation_type}, function_arn(stack))
    bed.run([])
    return next(s for s in reversed(SEEN) if isinstance(s["event"], dict) and s["event"].get("probe") == "invoke-self")


def test_the_state_table_and_rules_exist_from_create_until_the_stack_is_deleted(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(), name="Probe")
    table = stack.physical_name("State")
    assert re.fullmatch(r"Probe-State-[A-Z0-9]{12}", table)
    assert stack.resolve({"Ref": "State"}) == table
    assert stack.resolve({"Fn::GetAtt": ["State", "Arn"]}) == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    assert stack.create().status == "CREATE_COMPLETE"
    described = bed.dynamodb.describe_table(TableName=table)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    (index,) = described["GlobalSecondaryIndexes"]
    assert index["IndexName"] == contract.DUE_INDEX
    assert index["Projection"]["NonKeyAttributes"] == list(contract.DUE_INDEX_PROJECTED)
    ttl = bed.dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == contract.TABLE_TTL_ATTRIBUTE
    rules = {r["Name"]: r for r in bed.events.list_rules()["Rules"]}
    tick, events = stack.physical_name("Tick"), stack.physical_name("ForecastEvents")
    assert set(rules) == {tick, events} and len(tick) <= 64
    assert rules[tick]["ScheduleExpression"] == contract.TICK_SCHEDULE
    assert stack.resolve({"Fn::GetAtt": ["Tick", "Arn"]}) == rules[tick]["Arn"]
    (target,) = bed.events.list_targets_by_rule(Rule=tick)["Targets"]
    assert target["Arn"] == function_arn(stack) and json.loads(target["Input"]) == TICK
    (target,) = bed.events.list_targets_by_rule(Rule=events)["Targets"]
    assert "Input" not in target  # the matched event itself is delivered
    bed.check_invariants()  # the stack's own rules are no leftovers while it lives

    present_while_deleting: list[bool] = []
    stack.during = lambda status: present_while_deleting.append(table in bed.dynamodb.list_tables()["TableNames"])
    assert stack.delete().status == "DELETE_COMPLETE"
    assert present_while_deleting == [True]  # deleted after the custom resources' Deletes, not before
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        bed.dynamodb.describe_table(TableName=table)
    assert bed.events.list_rules()["Rules"] == []


def test_an_update_that_removes_the_tick_rule_deletes_it_and_keeps_the_table(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(), name="Probe")
    stack.create()
    table, tick = stack.physical_name("State"), stack.physical_name("Tick")
    assert stack.update(stack_template(tick=False)).status == "UPDATE_COMPLETE"
    assert tick not in bed.live_rules and stack.physical_name("ForecastEvents") in bed.live_rules
    assert table in bed.dynamodb.list_tables()["TableNames"]


def test_the_tick_rule_fires_each_minute_within_the_minute_with_its_input(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(), name="Probe")
    stack.create()
    bed.advance(600)
    ticks = seen(stack, lambda event: event == TICK)
    assert 9 <= len(ticks) <= 10
    fired = [d.fired for d in bed.deliveries_log if d.rule == stack.physical_name("Tick")]
    assert len(fired) == len(ticks)
    gaps = [b - a for a, b in zip(fired, fired[1:], strict=False)]
    assert all(0 < gap < 120 for gap in gaps)
    assert len({round(gap, 3) for gap in gaps}) > 1  # within the minute, not on its exact second
    provider = bed.provider_record(f"{stack.name}-Handler")
    assert provider.usage(bed.clock.now())["by_trigger"]["schedule"] == len(ticks)
    assert bed.all_requests == []  # counted apart from CloudFormation's requests
    assert bed.provider_usage()["invocations"] == len(ticks)  # what a benchmark adds to the requests' usage
    bed.check_invariants()  # the exact-ARN permission lets the rule invoke the function; nobody waits for an answer


def test_a_rule_without_its_permission_is_flagged_when_it_fires(bed: LocalCloud) -> None:
    template = stack_template()
    del template["Resources"]["TickMayInvoke"]
    stack = LocalStack(bed, template, name="Probe")
    stack.create()
    bed.advance(120)
    assert any(f"rule {stack.physical_name('Tick')} fired but no Lambda permission" in v for v in bed.violations)


def test_a_forecast_state_change_reaches_the_function_through_the_pattern_rule(bed: LocalCloud) -> None:
    bed.forecast.default_outcome = Outcome("active", 30)
    stack = LocalStack(bed, stack_template(tick=False), name="Probe")
    stack.create()
    bed.advance(5)  # past the new rule's grace
    params = {
        "ForecastExportJobName": "probe_job",
        "ForecastArn": apps.FORECAST_ARN,
        "Destination": {"S3Config": {"Path": "s3://probe-bucket/out/", "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/probe"}},
    }
    arn = bed.forecast.handle("CreateForecastExportJob", params)["ForecastExportJobArn"]
    bed.advance(600)
    events = seen(stack, lambda event: isinstance(event, dict) and event.get("source") == "aws.forecast")
    assert len(events) == bed.events_emitted >= 2  # each change of the job Forecast put on the bus
    assert all(arn in json.dumps(s["event"]) for s in events)
    assert [s["event"]["id"] for s in events] == [e.body["id"] for e in bed.emitted]
    provider = bed.provider_record(f"{stack.name}-Handler")
    assert provider.usage(bed.clock.now())["by_trigger"]["event"] == len(events)
    bed.check_invariants(allowed_jobs=1)  # the test's own job


def test_a_self_invocation_is_queued_delivered_later_and_attributed_by_its_request_id(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(tick=False), name="Probe")
    stack.create()
    record = RequestRecord("Create", "Export", {"RequestId": "request-1", "ServiceToken": function_arn(stack)}, 0.0, 3600.0)
    bed.all_requests.append(record)
    look = {contract.TRIGGER_KEY: contract.LOOK, "Slot": "slot-1", "RequestId": "request-1"}
    asked = invoke_self(bed, stack, look)
    assert asked.get("status") == 202
    (delivery,) = bed.self_invocations
    assert delivery.trigger == "self" and delivery.target_arn == function_arn(stack)
    (invocation,) = record.invocations
    assert invocation.trigger == "self" and invocation.start == delivery.at > delivery.fired  # through the queue
    assert seen(stack, lambda event: event == look)[0]["at"] == delivery.at
    assert record.usage(bed.clock.now())["by_trigger"]["self"] == 1
    # Without a RequestId, or naming a request nobody sent, the look is the provider's.
    invoke_self(bed, stack, {contract.TRIGGER_KEY: contract.LOOK, "Slot": "slot-2"})
    provider = bed.provider_record(f"{stack.name}-Handler")
    assert [i.trigger for i in provider.invocations].count("self") == 1
    assert not bed.violations


def test_a_self_invocation_needs_lambda_invoke_function_on_the_function(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(tick=False, may_invoke_itself=False), name="Probe")
    stack.create()
    asked = invoke_self(bed, stack, {contract.TRIGGER_KEY: contract.LOOK, "Slot": "s", "RequestId": "r"})
    assert asked.get("error") == "AccessDeniedException"
    assert bed.self_invocations == []
    assert any(f"lambda:InvokeFunction on {function_arn(stack)}" in d for d in bed.denied)


def test_a_self_invocation_that_waits_or_is_too_large_is_refused(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(tick=False), name="Probe")
    stack.create()
    asked = invoke_self(bed, stack, {"big": "x" * (1024 * 1024)})
    assert asked.get("error") == "RequestTooLargeException"
    invoke_self(bed, stack, {contract.TRIGGER_KEY: contract.LOOK}, invocation_type="RequestResponse")
    assert any("InvocationType RequestResponse" in v for v in bed.violations)
    assert bed.self_invocations == []


def test_two_stacks_functions_each_import_their_own_state_table(bed: LocalCloud) -> None:
    first = LocalStack(bed, stack_template(tick=False), name="ProbeA")
    second = LocalStack(bed, stack_template(tick=False), name="ProbeB")
    for stack in (first, second):
        stack.create()
    for stack in (first, second, first):
        bed.invoke_foreign({"probe": "hello"}, function_arn(stack))
    bed.run([])
    tables = {s["function"]: s["table"] for s in SEEN}
    assert tables == {"ProbeA-Handler": first.physical_name("State"), "ProbeB-Handler": second.physical_name("State")}
    assert first.physical_name("State") != second.physical_name("State")


def test_a_look_that_fails_on_purpose_is_run_again_after_one_and_two_minutes(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(tick=False), name="Probe")
    stack.create()
    invoke_self(bed, stack, {contract.TRIGGER_KEY: contract.LOOK, "Slot": "s", "fail": True})
    bed.advance(200)
    tries = [s["at"] for s in seen(stack, lambda event: event.get("fail") is True)]
    assert len(tries) == 3  # MaximumRetryAttempts 2 by default
    assert [round(b - a) for a, b in zip(tries, tries[1:], strict=False)] == [60, 120]
    assert len(bed.function_errors) == 3 and not bed.violations


def test_an_update_that_changes_the_environment_starts_new_containers(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(tick=False, version="1"), name="Probe")
    stack.create()
    bed.invoke_foreign({"probe": "before"}, function_arn(stack))
    bed.run([])
    assert stack.update(stack_template(tick=False, version="2")).status == "UPDATE_COMPLETE"
    bed.invoke_foreign({"probe": "after"}, function_arn(stack))
    bed.run([])
    assert [(s["event"]["probe"], s["version"]) for s in SEEN] == [("before", "1"), ("after", "2")]


def test_a_state_item_still_due_past_its_expiry_is_a_leftover(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(tick=False), name="Probe")
    stack.create()
    table = stack.physical_name("State")
    now = bed.clock.now()
    item = {"pk": {"S": "SLOT#s"}, "sk": {"S": "state"}, "due_shard": {"S": "due"}, "due_at": {"N": str(int(now))}}
    bed.dynamodb.put_item(TableName=table, Item={**item, "expires_at": {"N": str(int(now) + 60)}})
    bed.check_invariants()  # in flight, not expired yet
    bed.advance(120)
    (left,) = bed.state_leftovers()
    assert re.fullmatch(rf"state item SLOT#s in {table}, still due 6[01] s past its expiry", left)
    with pytest.raises(AssertionError, match="left behind: state item SLOT#s"):
        bed.check_invariants()


def test_the_stacks_rules_count_toward_the_rules_of_the_event_bus(bed: LocalCloud) -> None:
    bed.eventbridge.other_rules = bed.eventbridge.rules_per_bus - 1  # room for one rule, the stack needs two
    with pytest.raises(StackResourceFailed, match="LimitExceededException"):
        LocalStack(bed, stack_template(), name="Probe")
    assert bed.live_rules == set()  # the rule made before the refusal was rolled back
    bed.eventbridge.other_rules = bed.eventbridge.rules_per_bus - 2
    LocalStack(bed, stack_template(), name="ProbeFits")
    assert len(bed.live_rules) + bed.eventbridge.other_rules == bed.eventbridge.rules_per_bus


def test_a_provider_invocation_answering_another_functions_request_is_flagged(bed: LocalCloud) -> None:
    stack = LocalStack(bed, stack_template(tick=False), name="Probe")
    other = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Someone-Else"
    record = RequestRecord("Create", "Export", {"RequestId": "request-9", "ServiceToken": other}, 0.0, 3600.0)
    bed.all_requests.append(record)
    provider = bed.provider_record(f"{stack.name}-Handler")
    provider.invocations.append(Invocation(0.0, 0.0, 1.0, trigger="event", sends=[0.5], send_targets=["request-9"]))
    with pytest.raises(AssertionError, match="answered Export Create, a request of another function"):
        bed.check_invariants(expect_unanswered=1)
    record.event["ServiceToken"] = function_arn(stack)  # its own function's request: allowed
    bed.check_invariants(expect_unanswered=1)


def test_a_retained_table_stays_in_the_account_after_the_stack_is_deleted(bed: LocalCloud) -> None:
    template = stack_template(tick=False)
    template["Resources"]["State"]["DeletionPolicy"] = "Retain"
    stack = LocalStack(bed, template, name="Probe")
    stack.create()
    table = stack.physical_name("State")
    assert stack.delete().status == "DELETE_COMPLETE"
    assert table in bed.dynamodb.list_tables()["TableNames"]
    assert bed.live_rules == set()
