"""The test bed applies Lambda's concurrency (tests/support/lambda_concurrency.py, on by default) to the real
handler of the example app: an event that finds no free execution environment stays in the asynchronous queue,
is tried again with Lambda's backoff, and is discarded only at its maximum event age.

Pages: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (1,000 per Region, shared),
https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html (reserved concurrency),
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html (throttled events: retried from
1 s to 5 minutes between tries, up to the maximum event age).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.cfn_driver import Invocation, LocalCloud, LocalStack
from tests.support.lambda_concurrency import MAX_RETRY_INTERVAL, NEW_ACCOUNT_CONCURRENCY
from tests.support.scenarios import custom_logical_id, with_exports

MINIMUM_EVENT_AGE = 60  # the smallest MaximumEventAgeInSeconds Lambda accepts (invocation-async-configuring.html)


def handler_logical_id(template: dict[str, Any]) -> str:
    """The function the exports' ServiceToken names (not CDK's auto-delete-objects provider)."""
    token = template["Resources"][custom_logical_id(template)]["Properties"]["ServiceToken"]
    return str(token["Fn::GetAtt"][0])


def with_handler(template: dict[str, Any], *, reserved: int | None = None, max_age: int | None = None) -> dict[str, Any]:
    """A copy whose handler function reserves ``reserved`` concurrency and keeps events ``max_age`` seconds."""
    changed = copy.deepcopy(template)
    function = handler_logical_id(changed)
    if reserved is not None:
        changed["Resources"][function]["Properties"]["ReservedConcurrentExecutions"] = reserved
    if max_age is not None:
        (config,) = [
            r
            for r in changed["Resources"].values()
            if r["Type"] == "AWS::Lambda::EventInvokeConfig" and r["Properties"]["FunctionName"] == {"Ref": function}
        ]
        config["Properties"]["MaximumEventAgeInSeconds"] = max_age
    return changed


def handler_name(stack: LocalStack) -> str:
    return stack._function_name(handler_logical_id(stack.template))


def invocations_of(cloud: LocalCloud, function: str) -> list[Invocation]:
    """Every invocation of ``function``: CloudFormation's requests and the provider's (Tick, events, looks)."""
    records = [r for r in cloud.all_requests if str(r.event["ServiceToken"]).endswith(f":{function}")]
    records.append(cloud.provider_record(function))
    return sorted((i for r in records for i in r.invocations), key=lambda i: i.start)


def throttled_tries(cloud: LocalCloud, trigger: str) -> int:
    """Throttled tries of the events of one trigger ("cloudformation", "schedule", ...), from the model's log."""
    return sum(1 for line in cloud.lambda_concurrency.log if f" {trigger}: throttled" in line)


def peak_concurrency(invocations: list[Invocation], now: float) -> int:
    marks = sorted([(i.start, 1) for i in invocations] + [(i.until(now), -1) for i in invocations])
    peak = running = 0
    for _, step in marks:  # an end at the instant of a start frees its environment first (-1 sorts before +1)
        running += step
        peak = max(peak, running)
    return peak


def test_a_function_reserved_at_one_never_overlaps_and_answers_three_requests_sent_at_once(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    """Reserved concurrency 1 and three Creates sent at once: one invocation at a time (Ticks and looks included),
    the others wait in the queue and every request is answered."""
    cloud.lambda_duplicates = 0.0
    stack = LocalStack(cloud, with_handler(with_exports(example_template, 3), reserved=1))
    function = handler_name(stack)
    result = stack.create()
    assert result.status == "CREATE_COMPLETE", [r.reason for r in result.requests]
    creates = result.by_type("Create")
    assert len(creates) == 3 and all(r.status == "SUCCESS" for r in creates)
    invocations = invocations_of(cloud, function)
    assert len(invocations) >= 3
    assert peak_concurrency(invocations, cloud.clock.now()) == 1  # one execution environment at a time
    assert cloud.lambda_throttles[function] > 0
    # The queue held the requests that found the reservation taken: each ran later, none was lost.
    waited = [r.invocations[0].start - r.started_at for r in creates]
    assert max(waited) >= 1.0, waited
    assert not [d for d in cloud.dropped if d.trigger == "cloudformation"]
    assert stack.delete().status == "DELETE_COMPLETE"
    assert peak_concurrency(invocations_of(cloud, function), cloud.clock.now()) == 1
    cloud.check_invariants()


def test_a_create_while_other_tools_use_the_whole_pool_for_ten_minutes_is_delayed_not_lost(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    """Issue 16, sequence 6, as Lambda does it: other tools hold the account's whole pool for 10 minutes; the Create
    is throttled, kept in the queue (maximum event age 6 h) and handled at its first try after the pool frees."""
    cloud.lambda_duplicates = 0.0
    cloud.lambda_concurrency.others_use(cloud.lambda_concurrency.account_limit, seconds=600)
    frees_at = cloud.clock.now() + 600
    stack = LocalStack(cloud, example_template)
    function = handler_name(stack)
    result = stack.create()
    assert result.status == "CREATE_COMPLETE", [r.reason for r in result.requests]
    (create,) = result.by_type("Create")
    first = create.invocations[0].start
    # Tried 1, 2, 4 ... 256 s after each throttle, then every 5 minutes: it runs at the first try after the pool frees.
    assert frees_at <= first <= frees_at + MAX_RETRY_INTERVAL
    assert create.response is not None and create.response.at >= frees_at
    assert throttled_tries(cloud, "cloudformation") == 10  # tried at 0, 1, 3, 7 ... 511 s, then 300 s later
    assert cloud.lambda_throttles[function] > 10  # the Ticks' firings too
    assert not [d for d in cloud.dropped if d.trigger == "cloudformation"]
    assert all(i.start >= frees_at for i in invocations_of(cloud, function))  # Ticks waited too
    assert stack.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()


def test_an_event_throttled_past_its_maximum_event_age_is_discarded(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    """With a 60 s maximum event age, a Create throttled for 60 s is discarded: it never runs."""
    cloud.lambda_duplicates = 0.0
    cloud.lambda_concurrency.others_use(cloud.lambda_concurrency.account_limit, seconds=600)
    template = with_handler(example_template, max_age=MINIMUM_EVENT_AGE)
    stack = LocalStack(cloud, template)
    logical_id = custom_logical_id(template)
    create = stack.start("Create", logical_id, stack._props(template["Resources"][logical_id]))
    cloud.run([create], horizon=create.started_at + 300, wait_for_horizon=True)
    assert not create.invocations and not create.answered
    (dropped,) = [d for d in cloud.dropped if d.trigger == "cloudformation"]
    # Tried at 0, 1, 3, 7, 15, 31 s and, the next try being past its age, once more at 60 s: then discarded.
    assert dropped.at - dropped.fired == pytest.approx(MINIMUM_EVENT_AGE)
    assert any("discarded at age 60 s" in line for line in cloud.lambda_concurrency.log)
    assert throttled_tries(cloud, "cloudformation") == 6  # the seventh try, at 60 s, discarded it


def test_reserved_zero_discards_every_event_at_its_age_and_nothing_runs(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    """Reserved concurrency 0 throttles everything: the request and every Tick firing are discarded at their age."""
    cloud.lambda_duplicates = 0.0
    template = with_handler(example_template, reserved=0, max_age=MINIMUM_EVENT_AGE)
    stack = LocalStack(cloud, template)
    function = handler_name(stack)
    logical_id = custom_logical_id(template)
    create = stack.start("Create", logical_id, stack._props(template["Resources"][logical_id]))
    cloud.run([create], horizon=create.started_at + 600, wait_for_horizon=True)
    assert invocations_of(cloud, function) == []
    mine = [d for d in cloud.dropped if d.target_arn.endswith(f":{function}")]
    assert {d.trigger for d in mine} == {"cloudformation", "schedule"}  # the request and the Tick's firings
    assert len([d for d in mine if d.trigger == "schedule"]) >= 8  # ten minutes of Ticks, each discarded at 60 s
    assert all(d.at - d.fired == pytest.approx(MINIMUM_EVENT_AGE) for d in mine)
    assert not [d for d in cloud.deliveries_log if d.target_arn.endswith(f":{function}")]
    assert cloud.lambda_throttles[function] >= 7 * len(mine)


def test_a_new_accounts_quota_is_the_pool_other_tools_share(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    """A new account's 10 (opt-in), nine of them used by other tools: the handler runs one invocation at a time."""
    cloud.lambda_duplicates = 0.0
    cloud.lambda_concurrency.new_account()
    cloud.lambda_concurrency.others_use(NEW_ACCOUNT_CONCURRENCY - 1)  # nine of ten: one left (of 1,000, plenty)
    stack = LocalStack(cloud, with_exports(example_template, 3))
    function = handler_name(stack)
    result = stack.create()
    assert result.status == "CREATE_COMPLETE", [r.reason for r in result.requests]
    assert peak_concurrency(invocations_of(cloud, function), cloud.clock.now()) == 1
    assert cloud.lambda_throttles[function] > 0
    assert stack.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()


def test_a_reservation_that_leaves_less_than_a_hundred_unreserved_is_refused(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    """PutFunctionConcurrency keeps 100 unreserved: in a new account no reservation fits, CloudFormation fails."""
    cloud.lambda_concurrency.new_account()
    LocalStack(cloud, with_handler(example_template, reserved=1))
    (violation,) = cloud.violations
    assert "ReservedConcurrentExecutions 1 decreases account's UnreservedConcurrentExecution" in violation
