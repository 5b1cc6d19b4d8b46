"""The test bed's Forecast events and EventBridge, checked on their own (no handler needed).

Forecast (tests/support/forecast_fake.py) emits a state-change event at every status change of an
export job; the driver's EventBridge (tests/support/cfn_driver.py) matches each one, at its
moment, against the rules in moto and hands it to their targets after a delay, dropping or
duplicating it as the test's knobs say. Pattern matching (tests/support/event_patterns.py) is
checked against the examples of the EventBridge user guide. Rules here are put straight into moto
with the test's own boto3 client, as the handler will put them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import apps
from tests.support.cfn_driver import ACCOUNT, REGION, Invocation, LocalCloud, RequestRecord, working_overlaps
from tests.support.event_patterns import PatternError, matches, validate
from tests.support.forecast_fake import ALL_SHAPES, EXPORT_DETAIL_TYPES, EventShape, Outcome, StatusChange

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:probe"


def job_pattern(arn: str) -> dict[str, Any]:
    """The pattern the event-driven handler will put on its rule (issue 11)."""
    return {
        "source": ["aws.forecast"],
        "detail-type": list(EXPORT_DETAIL_TYPES),
        "$or": [
            {"resources": [arn]},
            {"detail": {"ForecastExportJobArn": [arn]}},
            {"detail": {"ResourceArn": [arn]}},
        ],
    }


def job_arn(name: str) -> str:
    return f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast-export-job/demand_forecast/{name}"


def create_job(cloud: LocalCloud, name: str) -> str:
    """CreateForecastExportJob as someone would call it (the job's outcome is the fake's default)."""
    params = {
        "ForecastExportJobName": name,
        "ForecastArn": apps.FORECAST_ARN,
        "Destination": {"S3Config": {"Path": "s3://probe-bucket/out/", "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/probe"}},
    }
    return str(cloud.forecast.handle("CreateForecastExportJob", params)["ForecastExportJobArn"])


def put_rule(
    cloud: LocalCloud, name: str, pattern: dict[str, Any] | None, *, schedule: str | None = None, target: bool = True
) -> None:
    kwargs: dict[str, Any] = {"Name": name, "State": "ENABLED"}
    if pattern is not None:
        kwargs["EventPattern"] = json.dumps(pattern)
    if schedule is not None:
        kwargs["ScheduleExpression"] = schedule
    cloud.events.put_rule(**kwargs)
    if target:
        cloud.events.put_targets(Rule=name, Targets=[{"Id": "1", "Arn": FUNCTION_ARN, "Input": json.dumps({"probe": name})}])


def deliveries(cloud: LocalCloud, rule: str, trigger: str = "event") -> list[Any]:
    return [d for d in cloud.deliveries_log if d.rule == rule and d.trigger == trigger]


def change_of(cloud: LocalCloud, event_id: str) -> StatusChange:
    return next(e.change for e in cloud.emitted if e.body["id"] == event_id)


# --- pattern matching, against the user guide's examples ------------------------------------------------

EC2_EVENT = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-abcd1111", "state": "pending"},
}


def with_detail(**detail: Any) -> dict[str, Any]:
    return {**EC2_EVENT, "detail": detail}


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        # eb-create-pattern: fields named in the pattern must match, the rest are ignored; nesting counts
        (
            {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["pending"]}},
            EC2_EVENT,
            True,
        ),
        ({"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}, EC2_EVENT, False),
        ({"source": ["aws.ec2", "aws.fargate"]}, EC2_EVENT, True),  # values in an array: OR
        ({"source": ["AWS.EC2"]}, EC2_EVENT, False),  # case-sensitive
        ({"state": ["pending"]}, EC2_EVENT, False),  # same nesting required: state is under detail
        ({"detail": {"state": ["pending"], "instance-id": ["i-other"]}}, EC2_EVENT, False),  # fields: AND
        # eb-event-patterns-arrays: an array in the event matches when the two arrays intersect
        (
            {
                "resources": [
                    "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                    "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
                ]
            },
            {
                "resources": [
                    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/ASGTerminate",
                    "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                ]
            },
            True,
        ),
        ({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}, {"resources": []}, False),
        # prefix / suffix / equals-ignore-case
        ({"time": [{"prefix": "2015-11-11"}]}, EC2_EVENT, True),
        ({"time": [{"prefix": "2017-10-02"}]}, EC2_EVENT, False),
        ({"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}, EC2_EVENT, True),
        ({"detail": {"FileName": [{"suffix": ".png"}]}}, with_detail(FileName="a/b.png"), True),
        ({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}, with_detail(FileName="B.PNG"), True),
        ({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}, EC2_EVENT, True),
        # anything-but (a value, a list, a prefix); it needs the field
        ({"detail": {"state": [{"anything-but": "initializing"}]}}, EC2_EVENT, True),
        ({"detail": {"state": [{"anything-but": ["stopped", "pending"]}]}}, EC2_EVENT, False),
        ({"detail": {"state": [{"anything-but": {"prefix": "pend"}}]}}, EC2_EVENT, False),
        ({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}, with_detail(**{"x-limit": 301}), True),
        ({"detail": {"missing": [{"anything-but": "x"}]}}, EC2_EVENT, False),
        # numeric
        ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, with_detail(**{"c-count": 5}), True),
        ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, with_detail(**{"c-count": 6}), False),
        ({"detail": {"x-limit": [{"numeric": ["=", 3.018e2]}]}}, with_detail(**{"x-limit": 301.8}), True),
        ({"detail": {"c-count": [{"numeric": [">", 0]}]}}, with_detail(**{"c-count": "5"}), False),  # a string is no number
        # exists: on leaves only
        ({"detail": {"state": [{"exists": True}]}}, EC2_EVENT, True),
        ({"detail": {"state": [{"exists": True}]}}, with_detail(**{"c-count": {"c1": 100}}), False),
        ({"detail": {"state": [{"exists": False}]}}, with_detail(**{"c-count": {"c1": 100}}), True),
        ({"detail": {"c-count": [{"exists": True}]}}, with_detail(**{"c-count": {"c1": 100}}), False),  # intermediate node
        ({"detail": {"state": [{"exists": False}]}}, {"source": "aws.ec2"}, True),  # no detail at all
        # null and empty strings are values of their own
        (
            {"detail": {"eventVersion": [""], "responseElements": [None]}},
            with_detail(eventVersion="", responseElements=None),
            True,
        ),
        ({"detail": {"responseElements": [None]}}, with_detail(), False),
        # cidr and wildcard
        ({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}, with_detail(sourceIPAddress="10.0.0.255"), True),
        ({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}, with_detail(sourceIPAddress="10.0.1.1"), False),
        ({"detail": {"FilePath": [{"wildcard": "*/lib/*"}]}}, with_detail(FilePath="/usr/lib/x"), True),
        ({"detail": {"FilePath": [{"wildcard": "*/lib/*"}]}}, with_detail(FilePath="/usr/bin/x"), False),
        # $or at the top level and inside an object, ANDed with its siblings
        (
            {
                "$or": [
                    {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}},
                    {"detail": {"d-count": [{"numeric": ["<", 10]}]}},
                ]
            },
            with_detail(**{"d-count": 3}),
            True,
        ),
        (
            {
                "$or": [
                    {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}},
                    {"detail": {"d-count": [{"numeric": ["<", 10]}]}},
                ]
            },
            with_detail(**{"d-count": 30}),
            False,
        ),
        (
            {"detail": {"$or": [{"c-count": [{"numeric": [">", 0]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}},
            with_detail(**{"c-count": 1}),
            True,
        ),
        (
            {"source": ["aws.s3"], "$or": [{"detail": {"state": ["pending"]}}, {"resources": [{"prefix": "arn:"}]}]},
            EC2_EVENT,
            False,
        ),
        (
            {"source": ["aws.ec2"], "$or": [{"detail": {"state": ["running"]}}, {"resources": [{"prefix": "arn:aws:ec2:"}]}]},
            EC2_EVENT,
            True,
        ),
    ],
)
def test_pattern_matching_follows_the_user_guide(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    validate(pattern)
    assert matches(pattern, event) is expected


@pytest.mark.parametrize("shape", ALL_SHAPES, ids=lambda s: f"{s.detail_type[:16]}-{s.arn_in}-{s.status_key}")
def test_the_handlers_pattern_matches_every_event_shape_of_its_job_only(shape: EventShape) -> None:
    arn = job_arn("daily_export_abc")
    change = StatusChange(1_800_000_000.0, arn, "ACTIVE", "CREATE_IN_PROGRESS")
    event = change.event(shape, ACCOUNT, REGION)
    assert matches(job_pattern(arn), event)
    assert not matches(job_pattern(job_arn("daily_export_abd")), event)
    assert not matches({**job_pattern(arn), "source": ["aws.s3"]}, event)
    assert event["detail"][shape.status_key] == "ACTIVE"
    assert (arn in event["resources"]) == (shape.arn_in == "resources")


@pytest.mark.parametrize(
    "pattern",
    [{"source": "aws.forecast"}, {"source": []}, {"source": [{"regex": ".*"}]}, {"$or": {"source": ["x"]}}, ["source"]],
)
def test_patterns_eventbridge_would_refuse_are_refused(pattern: Any) -> None:
    with pytest.raises(PatternError):
        validate(pattern)


@pytest.fixture(autouse=True)
def every_status_emits(cloud: LocalCloud) -> None:
    """These tests are about how the bed delivers events (delays, losses, copies, patterns): every status change
    emits one here. The default, Forecast's documented statuses only, is the subject of the status tests below,
    which set the knob themselves."""
    cloud.forecast.all_status_events = True


# --- Forecast's state changes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("all_statuses", "deletion_events"), [(False, False), (True, False), (True, True)])
def test_forecast_emits_one_change_at_each_status_moment(cloud: LocalCloud, all_statuses: bool, deletion_events: bool) -> None:
    """Forecast's notification table names CREATE_IN_PROGRESS, ACTIVE, CREATE_FAILED and CREATE_STOPPED for
    export jobs, and no event marks the end of a deletion (the EventBridge reference lists none for export
    jobs): the other statuses (``all_status_events``) and the deletion's end (``deletion_events``) are opt-ins."""
    cloud.forecast.default_outcome = Outcome("active", 120)
    cloud.forecast.all_status_events = all_statuses
    cloud.forecast.deletion_events = deletion_events
    t0 = cloud.clock.now()
    arn = create_job(cloud, "probe_a")
    cloud.advance(200)
    cloud.forecast.handle("DeleteForecastExportJob", {"ForecastExportJobArn": arn})
    t1 = cloud.clock.now()
    cloud.advance(60)
    got = [(c.at - t0, c.status) for c in cloud.forecast.changes_of(arn)]
    documented = [(10.0, "CREATE_IN_PROGRESS"), (120.0, "ACTIVE")]
    every = [(0.0, "CREATE_PENDING"), *documented, (t1 - t0, "DELETE_PENDING"), (t1 - t0 + 5, "DELETE_IN_PROGRESS")]
    expected = (every if all_statuses else documented) + ([(t1 - t0 + 30, "DELETED")] if deletion_events else [])
    assert got == expected
    assert cloud.events_emitted == len(expected) and cloud.events_delivered == 0  # no rule: delivered to nobody


@pytest.mark.parametrize("all_statuses", [False, True])
def test_forecast_emits_stop_and_failed_deletion_changes(cloud: LocalCloud, all_statuses: bool) -> None:
    cloud.forecast.all_status_events = all_statuses
    cloud.forecast.default_outcome = Outcome("never")
    cloud.forecast.stopped_deletable = True
    t0 = cloud.clock.now()
    arn = create_job(cloud, "probe_b")
    cloud.advance(30)
    cloud.forecast.handle("StopResource", {"ResourceArn": arn})
    cloud.advance(30)
    cloud.forecast.fail_deletion(arn)
    cloud.forecast.handle("DeleteForecastExportJob", {"ForecastExportJobArn": arn})
    cloud.advance(60)
    every = [
        (0.0, "CREATE_PENDING"),
        (10.0, "CREATE_IN_PROGRESS"),
        (30.0, "CREATE_STOPPING"),
        (50.0, "CREATE_STOPPED"),
        (60.0, "DELETE_PENDING"),
        (65.0, "DELETE_IN_PROGRESS"),
        (90.0, "DELETE_FAILED"),
    ]
    documented = [(10.0, "CREATE_IN_PROGRESS"), (50.0, "CREATE_STOPPED")]
    assert [(c.at - t0, c.status) for c in cloud.forecast.changes_of(arn)] == (every if all_statuses else documented)


def test_a_foreign_job_made_earlier_emits_only_its_later_changes(cloud: LocalCloud) -> None:
    arn = cloud.forecast.add_job(apps.FORECAST_ARN, "someone_else", Outcome("active", 300), created_ago=100)
    cloud.advance(300)
    assert [c.status for c in cloud.forecast.changes_of(arn)] == ["ACTIVE"]


# --- EventBridge delivery -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ALL_SHAPES, ids=lambda s: f"{s.detail_type[:16]}-{s.arn_in}-{s.status_key}")
def test_matching_rule_gets_every_change_within_the_default_delay(cloud: LocalCloud, shape: EventShape) -> None:
    cloud.forecast.event_shape = shape
    cloud.forecast.default_outcome = Outcome("active", 60)
    arn = job_arn("probe_c")
    put_rule(cloud, "fcx-mine", job_pattern(arn))
    put_rule(cloud, "fcx-other-job", job_pattern(job_arn("probe_other")))
    put_rule(cloud, "fcx-other-source", {**job_pattern(arn), "source": ["aws.s3"]})
    cloud.advance(5)  # past the new-rule grace
    assert create_job(cloud, "probe_c") == arn
    cloud.advance(120)
    got = deliveries(cloud, "fcx-mine")
    assert [change_of(cloud, d.event_id).status for d in got] == ["CREATE_PENDING", "CREATE_IN_PROGRESS", "ACTIVE"]
    for delivery in got:
        assert 0.5 <= delivery.at - delivery.fired <= 5.0  # the harsh default
        assert delivery.input == json.dumps({"probe": "fcx-mine"})  # the target's constant input
        assert delivery.fired == change_of(cloud, delivery.event_id).at
    assert not deliveries(cloud, "fcx-other-job") and not deliveries(cloud, "fcx-other-source")
    assert cloud.events_emitted == 3 and cloud.events_delivered == 3


def test_delay_knob_bounds_every_delivery(cloud: LocalCloud) -> None:
    cloud.event_delay = (0.2, 1.5)
    cloud.forecast.default_outcome = Outcome("active", 30)
    arns = [job_arn(f"probe_{i}") for i in range(3)]
    for index, arn in enumerate(arns):
        put_rule(cloud, f"fcx-{index}", job_pattern(arn))
    cloud.advance(5)
    for index in range(3):
        create_job(cloud, f"probe_{index}")
    cloud.advance(60)
    delays = [d.at - d.fired for d in cloud.deliveries_log if d.trigger == "event"]
    assert len(delays) == 9 and all(0.2 <= x <= 1.5 for x in delays), delays


def test_every_event_lost(cloud: LocalCloud) -> None:
    cloud.event_loss = 1.0
    cloud.forecast.default_outcome = Outcome("active", 30)
    put_rule(cloud, "fcx-lost", job_pattern(job_arn("probe_d")))
    cloud.advance(5)
    create_job(cloud, "probe_d")
    cloud.advance(60)
    assert cloud.events_emitted == 3 and cloud.events_delivered == 0
    assert [e.lost for e in cloud.emitted] == [1, 1, 1]


def test_half_the_events_lost(cloud: LocalCloud) -> None:
    cloud.event_loss = 0.5
    cloud.forecast.default_outcome = Outcome("active", 30)
    for index in range(20):
        put_rule(cloud, f"fcx-{index}", job_pattern(job_arn(f"probe_{index}")))
    cloud.advance(5)
    for index in range(20):
        cloud.forecast.concurrent_creations = 100
        create_job(cloud, f"probe_{index}")
    cloud.advance(60)
    assert cloud.events_emitted == 60
    assert 15 <= cloud.events_delivered <= 45, cloud.events_delivered
    assert cloud.events_delivered + sum(e.lost for e in cloud.emitted) == 60


def test_every_event_duplicated(cloud: LocalCloud) -> None:
    cloud.event_duplicates = 1.0
    cloud.forecast.default_outcome = Outcome("active", 30)
    put_rule(cloud, "fcx-twice", job_pattern(job_arn("probe_e")))
    cloud.advance(5)
    create_job(cloud, "probe_e")
    cloud.advance(60)
    got = deliveries(cloud, "fcx-twice")
    assert len(got) == 6 and cloud.events_delivered == 6
    for event_id in {d.event_id for d in got}:
        first, second = sorted((d for d in got if d.event_id == event_id), key=lambda d: d.at)
        assert first.input == second.input and (first.copy, second.copy) == (0, 1)
        assert 0.0 <= second.at - first.at <= 10.0


def test_late_events(cloud: LocalCloud) -> None:
    cloud.event_late = (3.0, 3.0)
    cloud.forecast.default_outcome = Outcome("active", 30)
    put_rule(cloud, "fcx-late", job_pattern(job_arn("probe_f")))
    cloud.advance(5)
    create_job(cloud, "probe_f")
    cloud.advance(60)
    assert not deliveries(cloud, "fcx-late")
    cloud.advance(240)
    got = deliveries(cloud, "fcx-late")
    assert len(got) == 3 and all(180.5 <= d.at - d.fired <= 185.0 for d in got)


def test_a_rule_with_schedule_and_pattern_fires_on_both(cloud: LocalCloud) -> None:
    cloud.forecast.default_outcome = Outcome("active", 150)
    put_rule(cloud, "fcx-both", job_pattern(job_arn("probe_g")), schedule="rate(1 minute)")
    cloud.advance(5)
    create_job(cloud, "probe_g")
    cloud.advance(295)
    events = deliveries(cloud, "fcx-both")
    schedule = deliveries(cloud, "fcx-both", "schedule")
    assert [change_of(cloud, d.event_id).status for d in events] == ["CREATE_PENDING", "CREATE_IN_PROGRESS", "ACTIVE"]
    assert 4 <= len(schedule) <= 6, [d.at for d in schedule]  # once per minute
    assert {d.input for d in events + schedule} == {json.dumps({"probe": "fcx-both"})}


def test_a_new_rule_misses_events_of_its_first_moment(cloud: LocalCloud) -> None:
    cloud.forecast.default_outcome = Outcome("active", 60)
    t0 = cloud.clock.now()
    arn = create_job(cloud, "probe_h")
    cloud.advance(9.5)
    put_rule(cloud, "fcx-new", job_pattern(arn))  # 0.5 s before CREATE_IN_PROGRESS: within the 1-2 s grace
    cloud.advance(120)
    got = [change_of(cloud, d.event_id) for d in deliveries(cloud, "fcx-new")]
    assert [(c.status, c.at - t0) for c in got] == [("ACTIVE", 60.0)]
    missed = next(e for e in cloud.emitted if e.change.status == "CREATE_IN_PROGRESS")
    assert missed.unmatched_new == ["fcx-new"]


def test_an_updated_pattern_matches_only_after_the_grace(cloud: LocalCloud) -> None:
    cloud.forecast.default_outcome = Outcome("active", 60)
    first, second = job_arn("probe_i"), job_arn("probe_j")
    put_rule(cloud, "fcx-moving", job_pattern(first))
    cloud.advance(5)
    create_job(cloud, "probe_i")
    cloud.advance(20)
    t0 = cloud.clock.now()
    create_job(cloud, "probe_j")
    cloud.advance(9.5)
    put_rule(cloud, "fcx-moving", job_pattern(second), target=False)  # the handler's next job: same rule, new pattern
    cloud.advance(120)
    got = [change_of(cloud, d.event_id) for d in deliveries(cloud, "fcx-moving")]
    first_statuses = [c.status for c in got if c.arn == first]
    second_changes = [(c.status, c.at - t0) for c in got if c.arn == second]
    assert first_statuses == ["CREATE_PENDING", "CREATE_IN_PROGRESS"]  # its ACTIVE came after the pattern moved
    assert second_changes == [("ACTIVE", 60.0)]  # CREATE_PENDING: old pattern; CREATE_IN_PROGRESS: within the grace


def test_rules_without_target_or_disabled_send_nothing(cloud: LocalCloud) -> None:
    cloud.forecast.default_outcome = Outcome("active", 30)
    arn = job_arn("probe_k")
    put_rule(cloud, "fcx-no-target", job_pattern(arn), target=False)
    put_rule(cloud, "fcx-disabled", job_pattern(arn))
    cloud.events.disable_rule(Name="fcx-disabled")
    cloud.advance(5)
    create_job(cloud, "probe_k")
    cloud.advance(60)
    assert cloud.events_emitted == 3 and cloud.events_delivered == 0
    assert {m for e in cloud.emitted for m in e.matched} == {"fcx-no-target"}


def test_what_matched_is_delivered_even_if_the_rule_changes_before_delivery(cloud: LocalCloud) -> None:
    cloud.event_delay = (4.0, 5.0)
    cloud.forecast.default_outcome = Outcome("never")
    put_rule(cloud, "fcx-gone", job_pattern(job_arn("probe_l")))
    cloud.advance(5)
    create_job(cloud, "probe_l")  # CREATE_PENDING now: matched now, delivered 4-5 s later
    cloud.advance(1)
    cloud.events.put_targets(Rule="fcx-gone", Targets=[{"Id": "1", "Arn": FUNCTION_ARN, "Input": '{"probe": "changed"}'}])
    cloud.advance(1)
    cloud.events.remove_targets(Rule="fcx-gone", Ids=["1"])
    cloud.events.delete_rule(Name="fcx-gone")
    cloud.advance(30)
    got = deliveries(cloud, "fcx-gone")
    assert [d.input for d in got] == [json.dumps({"probe": "fcx-gone"})]  # the input when the event matched
    assert any("polls an unknown request" in v for v in cloud.violations)  # it did reach the (probe) target


def test_event_shape_is_varied_per_test_and_reproducible(cloud: LocalCloud) -> None:
    assert cloud.forecast.event_shape in ALL_SHAPES
    first = cloud.forecast.event_shape
    cloud.reset()  # same test name: same draw
    assert cloud.forecast.event_shape == first


# --- the overlap invariant: work periods, not lifetimes ------------------------------------------------


def _inv(start: float, end: float, calls: list[tuple[float, str]], sends: list[float] | None = None) -> Invocation:
    return Invocation(start, start, end, calls=calls, sends=sends or [])


def test_waiting_while_another_works_then_working_after_it_is_no_overlap() -> None:
    a = _inv(
        0,
        10,
        [
            (0, "events:ListTargetsByRule"),
            (1, "events:PutTargets"),
            (2, "forecast:DescribeForecastExportJob"),
            (4, "events:PutTargets"),
        ],
    )
    b = _inv(1, 30, [(1, "events:ListTargetsByRule"), (20, "events:PutTargets"), (21, "forecast:DescribeForecastExportJob")])
    assert working_overlaps([a, b]) == []
    c = _inv(3, 5, [(3, "events:ListTargetsByRule"), (3.5, "forecast:StopResource")])  # works while a works
    assert working_overlaps([a, b, c]) == [(a, c)]
    looker = _inv(2, 3, [(2, "events:ListTargetsByRule"), (2, "events:DescribeRule")])  # only looked
    assert working_overlaps([a, looker]) == []
    claimer = _inv(2, 4, [(2, "events:PutRule"), (3, "events:PutTargets")])  # only wrote the rule: coordination
    assert working_overlaps([a, claimer]) == []
    answer_only = _inv(3, 4, [(3, "events:ListTargetsByRule")], sends=[3.5])  # an answer is work
    assert working_overlaps([a, answer_only]) == [(a, answer_only)]


def test_calls_at_one_instant_are_ordered() -> None:
    a = Invocation(0, 0, 0, calls=[(0, "forecast:StopResource"), (0, "forecast:DescribeForecastExportJob")], call_order=[1, 2])
    b = Invocation(0, 0, 0, calls=[(0, "forecast:StopResource")], call_order=[3])
    assert working_overlaps([a, b]) == []
    interleaved = Invocation(0, 0, 0, calls=[(0, "forecast:StopResource")], call_order=[2])
    a.call_order = [1, 3]
    assert working_overlaps([a, interleaved]) == [(a, interleaved)]


def test_usage_counts_invocations_by_trigger_and_gb_seconds() -> None:
    record = RequestRecord("Create", "X", {"RequestId": "r"}, 0.0, 3600.0)
    record.invocations = [
        Invocation(0, 0, 2.0, trigger="cloudformation", memory_mb=128),
        Invocation(60, 61, 61.5, trigger="schedule", memory_mb=128),
        Invocation(70, 71, 71.0004, trigger="event", memory_mb=1024),
    ]
    usage = record.usage(100.0)
    assert usage["invocations"] == 3
    assert usage["by_trigger"] == {"cloudformation": 1, "schedule": 1, "event": 1}
    assert usage["gb_seconds"] == pytest.approx(2.0 / 8 + 0.5 / 8 + 0.001)  # billed by the millisecond, rounded up


def test_benchmark_counters_with_todays_handler(cloud: LocalCloud, example_template: dict[str, Any]) -> None:
    from tests.support.cfn_driver import LocalStack, function_name_of

    cloud.forecast.default_outcome = Outcome("active", 300)
    cloud.slow("*", 0.05)  # calls take time, so invocations bill some
    stack = LocalStack(cloud, example_template)
    result = stack.create()
    create = result.requests[0]
    assert result.status == "CREATE_COMPLETE"
    triggers = [i.trigger for i in create.invocations]
    # Issue 16: the request's own invocations are CloudFormation's and the looks the Tick asked for; Ticks and
    # Forecast events run on the function's provider record, billed apart (a benchmark adds provider_usage()).
    assert triggers[0] == "cloudformation" and set(triggers[1:]) <= {"self"}
    provider = cloud.provider_record(function_name_of(str(create.event["ServiceToken"])))
    assert {i.trigger for i in provider.invocations} == {"schedule", "event"}
    usage = create.usage(cloud.clock.now())
    assert usage["invocations"] == len(create.invocations) and usage["gb_seconds"] > 0
    shared = cloud.provider_usage()
    assert shared["invocations"] == len(provider.invocations) and shared["gb_seconds"] > 0
    detection = cloud.detection(create)
    assert detection is not None and detection["status"] == "ACTIVE" and detection["latency"] >= 0
    assert cloud.events_emitted >= 3  # CREATE_PENDING, CREATE_IN_PROGRESS, ACTIVE of its job


def test_a_change_at_the_instant_of_the_last_look_is_still_found(cloud: LocalCloud) -> None:
    cloud.forecast.default_outcome = Outcome("active", 20)
    arn = create_job(cloud, "probe_m")
    cloud.advance(30)
    now = cloud.clock.now()
    cloud.forecast.take_changes(now)  # the driver looked at this instant...
    cloud.forecast.handle("DeleteForecastExportJob", {"ForecastExportJobArn": arn})  # ...then the job changed, same instant
    assert [(c.status, c.at) for c in cloud.forecast.take_changes(now)] == [("DELETE_PENDING", now)]


def test_a_job_finishing_at_a_computed_moment_is_seen_despite_rounding(cloud: LocalCloud) -> None:
    cloud.forecast.default_outcome = Outcome("never")
    arn = create_job(cloud, "probe_n")
    cloud.advance(33.3)
    (job,) = cloud.forecast.jobs.values()
    job.outcome = Outcome("active", cloud.clock.now() - job.created_at + 0.1)  # what a test does to line up a moment
    cloud.advance(1)
    assert [c.status for c in cloud.forecast.changes_of(arn)][-1] == "ACTIVE"
