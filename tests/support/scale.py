"""Issue 16's scale requirement on the local bed, shared by ``make scale`` (benchmarks/scale.py, 1,000 requests)
and tests/test_scale.py (a reduced run in the normal suite).

One ForecastExportProvider stack and ``stacks`` team stacks of ``exports`` ForecastExports each, all using it
(one team template deployed under several names, as tests/test_lifecycle_matrix.py ``_teams`` does). Every
Create is sent before the bed runs, so all are in flight at once; Forecast keeps its 3 creation slots, so most
wait. After ``minutes`` of virtual time the figures are taken, then every stack is rolled back (another
resource fails: the unanswered Creates are cancelled, CloudFormation sends their Deletes) and the provider
deleted, and the state table is checked for slots left in flight.

What counts as a look at a request: an invocation of it (CloudFormation's delivery, a look the Tick or a
Forecast event asked for) or a successful write of its slot (a look inside a Forecast event's invocation ends
with one). When it is due: the ``due_at`` its last successful write put in the table. A due moment that passes
with no look before the run ends counts up to the end of the run.

Test support code: never shipped.
"""

from __future__ import annotations

import copy
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_forecast_export import ForecastExport, ForecastExportProvider

from . import apps, template_resources
from .cfn_driver import LocalCloud, LocalStack, RequestRecord
from .forecast_fake import Outcome

PROVIDER_STACK = "ScaleProvider"
TEAM_STACK = "ScaleTeam"
LOOK_BOUND_SECONDS = 120  # issue 16: each request is looked at within 2 minutes of being due
JOB_SECONDS = 180  # Forecast's export of a few minutes
EXPORT_TIMEOUT = cdk.Duration.minutes(55)  # the longest the construct allows: waiting requests do not time out
THROTTLE_CODES = ("ThrottlingException", "Throttling", "ProvisionedThroughputExceededException", "TooManyRequestsException")
# Documented rates the figures are compared with (docs/QUOTAS.md has the pages).
DYNAMODB_WRITE_UNITS_PER_PARTITION = 1000.0
DYNAMODB_READ_UNITS_PER_PARTITION = 3000.0


def templates(outdir: Path, exports: int) -> dict[str, dict[str, Any]]:
    """The provider's template and one team template with ``exports`` exports using it (not bundled: the bed runs
    the handler from the example's asset)."""
    app = cdk.App(outdir=str(outdir), context={**apps.cdk_json_context(), **apps.NO_BUNDLING})
    shared = cdk.Stack(app, PROVIDER_STACK, env=apps.ENV)
    provider = ForecastExportProvider(shared, "Provider")
    team = cdk.Stack(app, TEAM_STACK, env=apps.ENV)
    for index in range(exports):
        ForecastExport(team, f"Export{index}", forecast_arn=apps.FORECAST_ARN, provider=provider, timeout=EXPORT_TIMEOUT)
    assembly = app.synth()
    return {name: dict(assembly.get_stack_by_name(name).template) for name in (PROVIDER_STACK, TEAM_STACK)}


@dataclass
class SlotWrites:
    """Successful writes of each request's slot, seen from the handler's calls: (moment, due_at or None when the
    slot was removed), per RequestId."""

    by_request: dict[str, list[tuple[float, float | None]]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)  # (service:Operation, error code) answered

    def seen(self, cloud: LocalCloud, http_response: Any, model: Any, parsed: Any, context: dict[str, Any] | None) -> None:
        if http_response is None:
            return
        if http_response.status_code >= 300:
            code = str((parsed or {}).get("Error", {}).get("Code", "")) if isinstance(parsed, dict) else ""
            self.errors[(f"{model.service_model.signing_name}:{model.name}", code)] += 1
            return
        if model.service_model.signing_name != "dynamodb":
            return
        params = (context or {}).get("localcloud_params", {})
        now = cloud.clock.now()
        if model.name == "TransactWriteItems":
            for action in params.get("TransactItems", []):
                item = action.get("Put", {}).get("Item", {})
                if item.get("pk", {}).get("S", "").startswith("SLOT#") and "due_at" in item:
                    self.by_request[item["request_id"]["S"]].append((now, float(item["due_at"]["N"])))
        elif model.name == "UpdateItem":
            values = params.get("ExpressionAttributeValues", {})
            if ":rid" in values and ":due" in values:
                self.by_request[values[":rid"]["S"]].append((now, float(values[":due"]["N"])))
        elif model.name == "DeleteItem":
            values = params.get("ExpressionAttributeValues", {})
            if str(params.get("Key", {}).get("pk", {}).get("S", "")).startswith("SLOT#") and ":rid" in values:
                self.by_request[values[":rid"]["S"]].append((now, None))


@dataclass
class Figures:
    requests: int
    minutes: float
    gaps: list[float]  # seconds from each due moment to the next look
    late: list[str]  # due moments looked at later than LOOK_BOUND_SECONDS
    calls: dict[str, int]  # service:Operation -> calls in the window
    peak_calls_per_second: dict[str, int]  # service:Operation -> most calls in one second
    peak_calls_per_second_by_service: dict[str, int]
    error_answers: dict[str, int]  # "service:Operation code" -> error answers (throttles, conditional conflicts...)
    throttles: dict[str, int]  # service:Operation -> throttling answers
    dynamodb_refusals: list[str]
    dynamodb_units: dict[str, float]  # partition -> units spent in the window
    statuses: dict[str, int]  # status of the Creates at the end of the window
    failed_reasons: list[str]
    rules: dict[str, int]  # moment -> EventBridge rules in the account
    policy_statements: dict[str, int]  # moment -> statements in the provider function's resource policy
    invocations: int
    gb_seconds: float
    peak_concurrency: int
    containers: int
    slots_in_flight_after: int
    leftovers: list[str]
    creates_answered: int
    tick_fan_outs: list[tuple[int, float]] = field(default_factory=list)  # per Tick: (lambda:Invoke calls, seconds to the last)

    def gap(self, which: str) -> float:
        ordered = sorted(self.gaps)
        if not ordered:
            return 0.0
        if which == "p50":
            return statistics.median(ordered)
        if which == "p95":
            return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return ordered[-1]


def _looks(record: RequestRecord, writes: list[tuple[float, float | None]]) -> list[float]:
    return sorted([i.start for i in record.invocations] + [at for at, _ in writes])


def due_gaps(record: RequestRecord, writes: list[tuple[float, float | None]], end: float) -> list[tuple[float, float]]:
    """(due moment, seconds until the next look) for every due moment of the request that passed before ``end``
    while its slot still held that due_at (a look that came earlier replaced it)."""
    ordered = sorted(writes, key=lambda w: w[0])
    looks = _looks(record, ordered)
    found = []
    for index, (_, due) in enumerate(ordered):
        if due is None or due >= end:
            continue
        replaced = ordered[index + 1][0] if index + 1 < len(ordered) else float("inf")
        if replaced <= due:
            continue  # looked at (and rewritten) before it was due
        if record.response is not None and record.response.at <= due:
            continue  # answered before
        after = [at for at in looks if at >= due]
        found.append((due, (after[0] if after else end) - due))
    return found


def _peaks(times: list[tuple[float, str]]) -> dict[str, int]:
    per_second: Counter[tuple[str, int]] = Counter((op, int(t)) for t, op in times)
    peaks: dict[str, int] = {}
    for (op, _), count in per_second.items():
        peaks[op] = max(peaks.get(op, 0), count)
    return peaks


def _rules(cloud: LocalCloud) -> int:
    return len(cloud.events.list_rules().get("Rules", []))


def _policy_statements(cloud: LocalCloud, function: str) -> int:
    import json

    from botocore.exceptions import ClientError

    try:
        moto_statements = len(json.loads(cloud.lambda_.get_policy(FunctionName=function)["Policy"]).get("Statement", []))
    except ClientError:
        moto_statements = 0
    return moto_statements + len(cloud.template_permissions.get(function, []))


def _slots_in_flight(cloud: LocalCloud, stack: LocalStack) -> int:
    count = 0
    for logical_id, name in stack.made.items():
        if stack.kinds.get(logical_id) != template_resources.TABLE:
            continue
        for page in cloud.dynamodb.get_paginator("scan").paginate(TableName=name):
            count += sum(1 for item in page.get("Items", []) if "due_shard" in item)
    return count


def run(cloud: LocalCloud, outdir: Path, *, stacks: int, exports: int, minutes: float) -> Figures:
    """Deploy, keep ``stacks`` x ``exports`` Creates in flight for ``minutes``, measure, then tear everything down."""
    made = templates(outdir, exports)
    cloud.forecast.default_outcome = Outcome("active", JOB_SECONDS)
    rules: dict[str, int] = {"before the provider": _rules(cloud)}
    provider = LocalStack(cloud, copy.deepcopy(made[PROVIDER_STACK]), name=PROVIDER_STACK)
    (function,) = provider.functions()
    rules["provider deployed"] = _rules(cloud)
    statements = {"provider deployed": _policy_statements(cloud, function)}
    teams = [
        LocalStack(cloud, copy.deepcopy(made[TEAM_STACK]), name=f"{TEAM_STACK}{n}", exports=provider.exported_values())
        for n in range(stacks)
    ]
    writes = SlotWrites()
    original_after_call = cloud._after_call

    def after_call(http_response: Any = None, model: Any = None, parsed: Any = None, context: Any = None, **kw: Any) -> None:
        original_after_call(http_response, model, parsed, context, **kw)
        if model is not None and cloud._current() is not None:
            writes.seen(cloud, http_response, model, parsed, context)

    cloud._after_call = after_call  # type: ignore[method-assign]
    try:
        t0 = cloud.clock.now()
        first_call = len(cloud.aws_calls)
        creates = {
            team.name: [team.start("Create", lid, team._props(res)) for lid, res in team.custom_resources().items()]
            for team in teams
        }
        records = [r for team_records in creates.values() for r in team_records]
        cloud.run(records, horizon=t0 + 60 * minutes, wait_for_horizon=True)
        end = cloud.clock.now()
        rules["all requests in flight"] = _rules(cloud)
        statements["all requests in flight"] = _policy_statements(cloud, function)
        figures = _figures(cloud, records, writes, t0, end, first_call)
        figures.rules, figures.policy_statements = rules, statements
        _tear_down(cloud, provider, teams, creates)
        figures.rules["every stack deleted"] = _rules(cloud)
        figures.slots_in_flight_after = _slots_in_flight(cloud, provider)
        provider.status = "DELETE_IN_PROGRESS"
        provider.delete()
        figures.rules["provider deleted"] = _rules(cloud)
        figures.leftovers = cloud.leftovers()
    finally:
        del cloud._after_call  # type: ignore[method-assign]
    return figures


def _figures(
    cloud: LocalCloud, records: list[RequestRecord], writes: SlotWrites, t0: float, end: float, first_call: int
) -> Figures:
    gaps: list[float] = []
    late: list[str] = []
    for record in records:
        for due, gap in due_gaps(record, writes.by_request.get(record.request_id, []), end):
            gaps.append(gap)
            if gap > LOOK_BOUND_SECONDS:
                late.append(
                    f"{record.logical_id} of {record.event['StackId'].split('/')[1]} due at t={due - t0:.0f} s: {gap:.0f} s"
                )
    invocations = [i for r in records for i in r.invocations] + [
        i for p in cloud.provider_records.values() for i in p.invocations
    ]
    calls = [(t, op) for i in invocations for t, op in i.calls if t0 <= t <= end]
    services = [(t, op.split(":")[0]) for t, op in calls]
    moments = sorted([(i.start, 1) for i in invocations] + [(i.until(end), -1) for i in invocations])
    running = peak = 0
    for _, step in moments:
        running += step
        peak = max(peak, running)
    ticks = [i for p in cloud.provider_records.values() for i in p.invocations if i.trigger == "schedule"]
    fan_outs = [(len(asked), asked[-1] - i.start) for i in ticks if (asked := [t for t, op in i.calls if op == "lambda:Invoke"])]
    statuses = Counter(r.status if r.answered else "in flight" for r in records)
    failed = [f"{r.logical_id}: {r.reason}" for r in records if r.answered and r.status == "FAILED"]
    return Figures(
        requests=len(records),
        minutes=(end - t0) / 60,
        gaps=gaps,
        late=late,
        calls=dict(Counter(op for _, op in calls)),
        peak_calls_per_second=_peaks(calls),
        peak_calls_per_second_by_service=_peaks(services),
        error_answers={f"{op} {code}": n for (op, code), n in writes.errors.items()},
        throttles={op: n for (op, code), n in writes.errors.items() if code in THROTTLE_CODES},
        dynamodb_refusals=list(cloud.dynamodb_quotas.refusals),
        dynamodb_units=dict(cloud.dynamodb_quotas.consumed),
        statuses=dict(statuses),
        failed_reasons=failed,
        rules={},
        policy_statements={},
        invocations=len(invocations),
        gb_seconds=sum(i.gb_seconds(end) for i in invocations),
        peak_concurrency=peak,
        containers=cloud.containers.loaded,
        slots_in_flight_after=-1,
        leftovers=[],
        creates_answered=sum(1 for r in records if r.answered),
        tick_fan_outs=fan_outs,
    )


def _tear_down(cloud: LocalCloud, provider: LocalStack, teams: list[LocalStack], creates: dict[str, list[RequestRecord]]) -> None:
    """Another resource of each team stack fails: CloudFormation cancels the Creates still waiting and rolls the
    stack back (a Delete per resource, with the answered physical ID or one it made up)."""
    now = cloud.clock.now()
    rollbacks: list[RequestRecord] = []
    for team in teams:
        team.status = "ROLLBACK_IN_PROGRESS"
        for record in creates[team.name]:
            if not record.answered:
                record.cancelled, record.cancelled_at = True, now
            physical = record.physical_id if record.answered else team.made_up_physical_id(record.logical_id)
            rollbacks.append(team.start("Delete", record.logical_id, record.event["ResourceProperties"], physical_id=physical))
    cloud.run(rollbacks, until_answered=True)
    for team in teams:
        team.status = "ROLLBACK_COMPLETE"
        team.physical_ids = {}
        team._resources_deleted()
    cloud.run([])
