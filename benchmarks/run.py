"""`make bench`: every performance figure, measured on the local test bed, against its baseline.

Latencies and costs are virtual-time figures from the local CloudFormation driver (the handler
runs from the synthesized asset; Forecast is the local server). Synth time and import time are
real time, reported as ratios or on their own. Writes docs/benchmark.md and
docs/detection-latency.png and prints the table.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.bed import go_offline, local_cloud  # noqa: E402

go_offline()

import aws_cdk as cdk  # noqa: E402
from cdk_forecast_export import ForecastExport  # noqa: E402

from tests.support import apps  # noqa: E402
from tests.support.cfn_driver import Containers, LocalCloud, LocalStack  # noqa: E402
from tests.support.forecast_fake import DELETE_SECONDS, Outcome  # noqa: E402
from tests.support.scenarios import with_props  # noqa: E402

# Jobs per duration and delivery (4 durations, so 48 jobs per row): kept small for ~10 minutes on 2 shared cores.
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "12"))
DURATIONS_MINUTES = (1, 5, 20, 50)
MEMORY_GB = 128 / 1024
LAMBDA_GB_SECOND_USD = 0.0000133334  # arm64
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
# DynamoDB on-demand, us-east-1, since November 2024: write and read request units (transactions bill twice).
DYNAMODB_WRU_USD = 0.625 / 1_000_000
DYNAMODB_RRU_USD = 0.125 / 1_000_000
MONTH_HOURS = 730
SFN_TRANSITION_USD = 0.025 / 1000
SFN_POLL_SECONDS = 5  # the CDK Provider framework's default queryInterval
SFN_INVOCATION_SECONDS = 0.1  # assumed billed duration of one isComplete call (a single Describe)
CALL_SECONDS = 0.04  # every AWS call a handler makes takes this long (virtual): what an invocation bills
# The handler as it was before issue 11 (PollingMode FAST polled every 5 s inside each invocation,
# ECONOMY looked once per firing): extracted from git at this commit into the work folder.
PREVIOUS_COMMIT = "7ea4d5863f24d4967544c867c3e1b90df9d3d9e2"
# The last release's design (0.2.x and its fixes): each request's state in a per-request EventBridge rule.
RULE_BASED_COMMIT = "d11c6bc8e57802ab9c896077425f97f0402228f7"
DELIVERIES: dict[str, dict[str, Any]] = {
    "events 0.2-1.5 s": {"event_delay": (0.2, 1.5)},
    "events 0.5-5 s": {"event_delay": (0.5, 5.0)},
    "every event lost": {"event_loss": 1.0},
    "50 % lost": {"event_delay": (0.2, 1.5), "event_loss": 0.5},
}


@dataclass
class Cell:
    """One handler under one delivery: per job, detection latency, seconds after the event, and usage."""

    latencies: list[float] = field(default_factory=list)
    after_event: list[float] = field(default_factory=list)
    usage: dict[int, list[dict[str, float]]] = field(default_factory=dict)  # minutes -> per job
    violations: list[str] = field(default_factory=list)

    def per_export(self, minutes: int, key: str) -> float:
        return statistics.mean(u[key] for u in self.usage[minutes])


@dataclass
class Runs:
    failure_latencies: list[float] = field(default_factory=list)
    delete_overheads: list[float] = field(default_factory=list)
    delete_gb_seconds: list[float] = field(default_factory=list)  # Lambda GB-s of a Delete's invocations
    longest_invocation: float = 0.0
    violations: list[str] = field(default_factory=list)


def ratio(numerator: float, denominator: float, word: str) -> str:
    return f"{numerator / denominator:.1f}x {word}" if denominator else "-"


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    rank = 0.95 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def fresh(cloud: LocalCloud, seed: str, knobs: dict[str, Any] | None = None) -> None:
    """A clean bed whose random draws depend on ``seed`` only (no spaces: the bed seeds from its first
    word): every handler meets the same jobs, schedule jitter and event fates."""
    os.environ["PYTEST_CURRENT_TEST"] = seed
    cloud.reset()
    cloud.begin_test()
    cloud.slow("*", CALL_SECONDS)
    # No duplicate deliveries here: the benchmark compares waiting and cost on the same jobs, and crhelper's
    # defaults fail a duplicated Create (ResourceAlreadyExists). Duplicates are the lifecycle matrix's business.
    cloud.lambda_duplicates = 0.0
    for knob, value in (knobs or {}).items():
        setattr(cloud, knob, value)


def detect(cloud: LocalCloud, template: dict[str, Any], knobs: dict[str, Any], cell: Cell, runs: Runs) -> None:
    """SAMPLES jobs of each duration, their ACTIVE moments spread over a minute; detection and usage per job."""
    for minutes in DURATIONS_MINUTES:
        cell.usage[minutes] = []
        for sample in range(SAMPLES):
            fresh(cloud, f"bench-{minutes}-{sample}", knobs)
            cloud.forecast.default_outcome = Outcome("active", minutes * 60 + 60.0 * sample / SAMPLES)
            result = LocalStack(cloud, template).create()
            create = result.by_type("Create")[0]
            assert create.status == "SUCCESS", (create.reason, cloud.violations, cloud.denied[:3])
            detection = cloud.detection(create)
            assert detection is not None
            cell.latencies.append(detection["latency"])
            if detection["after_event"] is not None:
                cell.after_event.append(detection["after_event"])
            usage = create.usage(cloud.clock.now())
            shared = cloud.provider_usage()  # ticks and Forecast events: this export is the only one in flight
            units = cloud.dynamodb_quotas.units
            cell.usage[minutes].append(
                {
                    "invocations": usage["invocations"] + shared["invocations"],
                    "gb_seconds": usage["gb_seconds"] + shared["gb_seconds"],
                    "seconds": usage["seconds"] + shared["seconds"],
                    "rru": units.get("read", 0.0),
                    "wru": units.get("write", 0.0),
                }
            )
            runs.longest_invocation = max([runs.longest_invocation] + [d for _, d in usage["durations"]])
            cell.violations += cloud.violations


def failures_and_deletes(cloud: LocalCloud, template: dict[str, Any], runs: Runs) -> None:
    """CREATE_FAILED reported, and the Delete's answer after the job is gone (events 0.5-5 s; as in AWS, no
    event marks the end of a deletion) with the Lambda GB-s the Delete cost."""
    for sample in range(SAMPLES):
        fresh(cloud, f"bench-failed-{sample}", DELIVERIES["events 0.5-5 s"])
        cloud.forecast.default_outcome = Outcome("failed", 300 + 60.0 * sample / SAMPLES, "no data in the export window")
        create = LocalStack(cloud, template).create().requests[0]
        (job,) = cloud.forecast.jobs.values()
        assert create.status == "FAILED"
        runs.failure_latencies.append(create.response.at - (job.finished_at() or 0))  # type: ignore[union-attr]
    for sample in range(SAMPLES):
        fresh(cloud, f"bench-delete-{sample}", DELIVERIES["events 0.5-5 s"])
        cloud.forecast.default_outcome = Outcome("active", 60)
        stack = LocalStack(cloud, template)
        stack.create()
        cloud.clock.advance(60.0 * sample / SAMPLES)
        (delete,) = stack.delete().requests
        (job,) = cloud.forecast.jobs.values()
        assert delete.status == "SUCCESS" and job.delete_at is not None
        runs.delete_overheads.append(delete.response.at - (job.delete_at + DELETE_SECONDS))  # type: ignore[union-attr]
        runs.delete_gb_seconds.append(sum(i.gb_seconds(cloud.clock.now()) for i in delete.invocations))
        runs.longest_invocation = max([runs.longest_invocation] + [i.end - i.start for i in delete.invocations])
        runs.violations += cloud.violations


def handler_at(commit: str, package: str, workdir: Path) -> Path:
    """The handler as it was at ``commit``, as package ``package`` under the returned folder."""
    out = workdir / package
    out.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "lambda/forecast_export"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    (out / "lambda" / "forecast_export").rename(out / package)
    return out


def without_static_triggers(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` without the handler's two rules (and their permissions): what the rule-based handler had. The
    table stays (the function's environment names it; that handler never reads it)."""
    copy = json.loads(json.dumps(template))
    resources = copy["Resources"]
    gone = {lid for lid, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
    gone |= {
        lid
        for lid, r in resources.items()
        if r["Type"] == "AWS::Lambda::Permission"
        and any(f'"{rule}"' in json.dumps(r["Properties"].get("SourceArn", "")) for rule in gone)
    }
    for lid in gone:
        del resources[lid]
    for resource in resources.values():
        if isinstance(resource.get("DependsOn"), list):
            resource["DependsOn"] = [d for d in resource["DependsOn"] if d not in gone]
        elif resource.get("DependsOn") in gone:
            del resource["DependsOn"]
    return copy


def idle_month(cloud: LocalCloud, template: dict[str, Any]) -> dict[str, float]:
    """A handler with nothing in flight for an hour (after one export finished), scaled to a month: the Tick
    rule's invocations and queries are all it costs."""
    fresh(cloud, "bench-idle")
    cloud.forecast.default_outcome = Outcome("active", 60)
    LocalStack(cloud, template).create()
    before = cloud.provider_usage()
    units_before = dict(cloud.dynamodb_quotas.units)
    hour = 3600.0
    cloud.run([], horizon=cloud.clock.now() + hour, wait_for_horizon=True)
    after = cloud.provider_usage()
    scale = MONTH_HOURS
    invocations = (after["invocations"] - before["invocations"]) * scale
    gb_seconds = (after["gb_seconds"] - before["gb_seconds"]) * scale
    rru = (cloud.dynamodb_quotas.units.get("read", 0.0) - units_before.get("read", 0.0)) * scale
    wru = (cloud.dynamodb_quotas.units.get("write", 0.0) - units_before.get("write", 0.0)) * scale
    return {
        "invocations": invocations,
        "gb_seconds": gb_seconds,
        "rru": rru,
        "wru": wru,
        "usd": lambda_usd(invocations, gb_seconds) + rru * DYNAMODB_RRU_USD + wru * DYNAMODB_WRU_USD,
    }


def provider_framework(cell: Cell) -> None:
    """The CDK Provider framework's Step Functions waiter on the same jobs: an isComplete call every 5 s,
    independent of events. Its polls' phase against the job's end is spread evenly over the 5 s."""
    for minutes in DURATIONS_MINUTES:
        cell.usage[minutes] = []
        invocations, gb_seconds, usd = step_functions_cost(minutes)
        for sample in range(SAMPLES):
            cell.latencies.append((sample + 0.5) / SAMPLES * SFN_POLL_SECONDS + SFN_INVOCATION_SECONDS)
            cell.usage[minutes].append({"invocations": invocations, "gb_seconds": gb_seconds, "usd": usd})


def step_functions_cost(minutes: int) -> tuple[float, float, float]:
    """(Lambda invocations, GB-seconds, USD) for the CDK Provider framework's waiter on the same job."""
    polls = math.ceil(minutes * 60 / SFN_POLL_SECONDS)
    invocations = 2 + 2 * polls  # framework onEvent + user onEvent, then framework + user isComplete per poll
    gb_seconds = invocations * SFN_INVOCATION_SECONDS * MEMORY_GB
    transitions = 4 + 3 * polls
    usd = gb_seconds * LAMBDA_GB_SECOND_USD + invocations * LAMBDA_REQUEST_USD + transitions * SFN_TRANSITION_USD
    return invocations, gb_seconds, usd


def lambda_usd(invocations: float, gb_seconds: float) -> float:
    return gb_seconds * LAMBDA_GB_SECOND_USD + invocations * LAMBDA_REQUEST_USD


def many_exports(app: cdk.App, count: int) -> cdk.Stack:
    stack = cdk.Stack(app, f"Scale{count}", env=apps.ENV)
    for index in range(count):
        ForecastExport(
            stack, f"Export{index}", forecast_arn=f"arn:aws:forecast:{apps.REGION}:{apps.ACCOUNT}:forecast/forecast_{index}"
        )
    return stack


def synth_seconds(count: int, outdir: Path) -> float:
    start = time.perf_counter()
    apps.synth(lambda app: many_exports(app, count), outdir / f"scale{count}-{time.perf_counter_ns()}")
    return time.perf_counter() - start


def policy_sizes(cloud: LocalCloud, template: dict[str, Any]) -> dict[str, int]:
    stack = LocalStack(cloud, template, name="Scale100Sizes")  # resolves names only: never created
    resources = template["Resources"]
    compact = lambda doc: len(json.dumps(stack.resolve(doc), separators=(",", ":")))  # noqa: E731
    managed = [compact(r["Properties"]["PolicyDocument"]) for r in resources.values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    inline_per_role: dict[str, int] = {}
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy":
            for role in resource["Properties"]["Roles"]:
                inline_per_role[role["Ref"]] = inline_per_role.get(role["Ref"], 0) + compact(
                    resource["Properties"]["PolicyDocument"]
                )
    trust = [compact(r["Properties"]["AssumeRolePolicyDocument"]) for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    statement = {
        "Sid": "x" * 64,
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:aws:lambda:{apps.REGION}:{apps.ACCOUNT}:function:{'f' * 64}",
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": apps.ACCOUNT},
            "ArnLike": {"AWS:SourceArn": stack.resolve(permissions[0]["Properties"]["SourceArn"])},
        },
    }
    return {
        "functions": sum(1 for r in resources.values() if r["Type"] == "AWS::Lambda::Function"),
        "managed_policies": len(managed),
        "largest_managed_policy": max(managed),
        "largest_inline_total_per_role": max(inline_per_role.values()),
        "largest_trust_policy": max(trust),
        "resource_policy_bytes": len(permissions) * len(json.dumps(statement, separators=(",", ":"))) + 60,
    }


def hundred_in_flight(cloud: LocalCloud, template: dict[str, Any]) -> dict[str, float]:
    fresh(cloud, "bench-hundred")
    cloud.forecast.concurrent_creations = 100  # an account with the quota raised
    cloud.forecast.default_outcome = Outcome("active", 300)
    result = LocalStack(cloud, template, name="Scale100").create()
    statuses = [r.status for r in result.requests]
    add_permission_calls = sum(1 for call, _ in cloud.aws_calls if call == "lambda:AddPermission")
    rules_made = {str(p.get("Name")) for _, call, p in cloud.signed_calls if call == "events:PutRule"}
    return {
        "succeeded": statuses.count("SUCCESS"),
        "add_permission_calls": add_permission_calls,
        "rules_standing": len(cloud.events.list_rules().get("Rules", [])),
        "rules_made": len(rules_made),
        "containers": cloud.containers.loaded,
    }


def cold_start(asset_dir: Path, workdir: Path) -> dict[str, float]:
    archive = workdir / "asset.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(asset_dir.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(asset_dir))
    from tests.test_packaging import _boto3_only_path

    only = _boto3_only_path(workdir)
    timings: dict[str, list[float]] = {"forecast_export.app": [], "boto3": [], "crhelper": []}
    for _ in range(5):
        result = subprocess.run(
            [sys.executable, "-S", "-X", "importtime", "-c", "import forecast_export.app"],
            env={
                "PYTHONPATH": f"{asset_dir}:{only}",
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x",
            },
            capture_output=True,
            text=True,
            check=True,
            cwd=workdir,
        )
        for line in result.stderr.splitlines():
            parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
            if len(parts) == 3 and parts[2] in timings:
                timings[parts[2]].append(int(parts[1]) / 1000)
    return {"zip_kb": archive.stat().st_size / 1024, **{k: statistics.median(v) for k, v in timings.items()}}


OURS = "this project (events + 1-min schedule)"
RULE_BASED = "0.2.x: state in per-request rules"
RULE_BASED_DELIVERIES = ("events 0.2-1.5 s", "every event lost")
FAST = "before: PollingMode.FAST"
ECONOMY = "before: PollingMode.ECONOMY"
CRHELPER = "crhelper defaults (2-min rule)"
PROVIDER = "Provider framework (5 s waiter, modelled)"
HANDLERS = (OURS, ECONOMY, FAST, CRHELPER, PROVIDER)
EVENT_BLIND = (FAST, ECONOMY, CRHELPER, PROVIDER)  # set no EventPattern: every delivery is the same to them


def plot(cells: dict[tuple[str, str], Cell], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    rows = [(OURS, d) for d in DELIVERIES] + [(h, "events 0.5-5 s") for h in EVENT_BLIND]
    colours = {OURS: "tab:blue", ECONOMY: "tab:orange", FAST: "tab:green", CRHELPER: "tab:red", PROVIDER: "tab:purple"}
    for index, (handler, delivery) in enumerate(rows):
        values = cells[(handler, delivery)].latencies
        axis.scatter(values, [index] * len(values), s=9, alpha=0.35, color=colours[handler])
        axis.plot([p95(values)], [index], marker="|", markersize=16, color="black")
        axis.plot([p50(values)], [index], marker="|", markersize=10, color="grey")
    labels = [f"{h.split(' (')[0]}: {d}" if h == OURS else h for h, d in rows]
    axis.set_yticks(range(len(rows)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlim(0.1, 200)
    axis.axvline(3, linestyle="--", color="grey", linewidth=1)
    axis.axvline(70, linestyle=":", color="grey", linewidth=1)
    axis.set_xlabel(
        "job ACTIVE → answer accepted (s, virtual time)\ngrey bar p50, black bar p95; targets: dashed 3 s, dotted 70 s"
    )
    axis.set_title(f"Detection latency, {SAMPLES * len(DURATIONS_MINUTES)} jobs (1-50 min) per row")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def allow_all(template: dict[str, Any]) -> dict[str, Any]:
    """The template with an allow-all policy on its roles, for the baselines: crhelper names its rules and
    jobs its own way, and the previous handler called Forecast with its own role (before the access role);
    the bed's IAM, scoped to this project's design, would refuse them, and the comparison is about waiting,
    not permissions."""
    copy = json.loads(json.dumps(template))
    roles = [{"Ref": k} for k, r in copy["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    copy["Resources"]["BenchBaselineAllowAll"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "bench-baseline",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
            "Roles": roles,
        },
    }
    return copy


def measure_all(cloud: LocalCloud, template: dict[str, Any], baseline_template: dict[str, Any], workdir: Path, asset_dir: Path):  # type: ignore[no-untyped-def]
    cells: dict[tuple[str, str], Cell] = {}
    ours, base = Runs(), Runs()
    for delivery, knobs in DELIVERIES.items():
        print(f"  {OURS}, {delivery}...", flush=True)
        cells[(OURS, delivery)] = cell = Cell()
        detect(cloud, template, knobs, cell, ours)
    failures_and_deletes(cloud, template, ours)
    rule_based = without_static_triggers(allow_all(template))
    cloud.containers = Containers(
        handler_at(RULE_BASED_COMMIT, "rule_based_handler", workdir), cloud.clock, package="rule_based_handler"
    )
    for delivery in RULE_BASED_DELIVERIES:
        print(f"  {RULE_BASED}, {delivery}...", flush=True)
        cells[(RULE_BASED, delivery)] = cell = Cell()
        detect(cloud, rule_based, DELIVERIES[delivery], cell, Runs())
    cloud.containers = Containers(handler_at(PREVIOUS_COMMIT, "polling_handler", workdir), cloud.clock, package="polling_handler")
    for handler, props in ((FAST, {"Polling": "Fast"}), (ECONOMY, {"Polling": "Economy"})):
        print(f"  {handler}...", flush=True)
        cells[(handler, "events 0.5-5 s")] = cell = Cell()
        detect(
            cloud, without_static_triggers(allow_all(with_props(template, **props))), DELIVERIES["events 0.5-5 s"], cell, Runs()
        )
    print(f"  {CRHELPER}...", flush=True)
    cloud.containers = Containers(REPO / "benchmarks", cloud.clock, package="baseline_handler")
    cells[(CRHELPER, "events 0.5-5 s")] = cell = Cell()
    detect(cloud, baseline_template, DELIVERIES["events 0.5-5 s"], cell, base)
    failures_and_deletes(cloud, baseline_template, base)
    cloud.containers = Containers(asset_dir, cloud.clock)
    cells[(PROVIDER, "events 0.5-5 s")] = cell = Cell()
    provider_framework(cell)
    for handler in EVENT_BLIND:  # the same figures in every delivery column: they ignore events
        for delivery in DELIVERIES:
            cells[(handler, delivery)] = cells[(handler, "events 0.5-5 s")]
    return cells, ours, base


def usd_of(cell: Cell, minutes: int) -> float:
    if "usd" in cell.usage[minutes][0]:
        return cell.per_export(minutes, "usd")
    dynamodb = cell.per_export(minutes, "rru") * DYNAMODB_RRU_USD + cell.per_export(minutes, "wru") * DYNAMODB_WRU_USD
    return lambda_usd(cell.per_export(minutes, "invocations"), cell.per_export(minutes, "gb_seconds")) + dynamodb


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> None:
    import logging

    logging.getLogger().addHandler(logging.NullHandler())  # the handlers' own logs would drown the table
    began = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    sys.path.insert(0, str(REPO))
    from app import build_app

    template = apps.synth(build_app, workdir / "example", bundle=True)
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    asset_dir = workdir / "example" / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    bench_template = with_props(template, TimeoutSeconds="3300", ServiceTimeout="3600")
    baseline_template = without_static_triggers(allow_all(bench_template))
    for resource in baseline_template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Timeout"] = 300  # crhelper sleeps on Delete only when the timeout leaves room

    print("synthesizing 1..100 exports (real time)...", flush=True)
    synth_seconds(1, workdir)  # warm up jsii
    synth = {n: statistics.median(synth_seconds(n, workdir) for _ in range(3 if n < 50 else 1)) for n in (1, 10, 50, 100)}
    template_100 = apps.synth(lambda app: many_exports(app, 100), workdir / "scale100")

    with local_cloud(asset_dir, workdir) as cloud:
        # First, on a bed no other handler has run on.
        in_flight = hundred_in_flight(cloud, template_100)
        idle = idle_month(cloud, bench_template)
        print("measuring detection and cost (virtual time)...", flush=True)
        cells, ours, base = measure_all(cloud, bench_template, baseline_template, workdir, asset_dir)
        sizes = policy_sizes(cloud, template_100)
    cold = cold_start(asset_dir, workdir)

    detection_rows = []
    for handler in HANDLERS:
        row = [handler]
        for delivery in DELIVERIES:
            cell = cells[(handler, delivery)]
            row.append(f"{p50(cell.latencies):.1f} / {p95(cell.latencies):.1f}")
        detection_rows.append(tuple(row))
    after = cells[(OURS, "events 0.2-1.5 s")].after_event + cells[(OURS, "events 0.5-5 s")].after_event
    detection_rows.append(
        (
            "this project: answer accepted after the ACTIVE event's arrival, p50 / p95 / max",
            f"{p50(after):.2f} / {p95(after):.2f} / {max(after):.2f} s",
            "(both delivery columns)",
            "-",
            "-",
        )
    )
    detection_table = table(("detection p50 / p95 (s)", *DELIVERIES), detection_rows)

    cost_rows = []
    economy = cells[(ECONOMY, "events 0.5-5 s")]
    compared = [(OURS, d) for d in DELIVERIES] + [(RULE_BASED, d) for d in RULE_BASED_DELIVERIES]
    for minutes in DURATIONS_MINUTES:
        for handler, delivery in compared + [(h, "events 0.5-5 s") for h in EVENT_BLIND]:
            cell = cells[(handler, delivery)]
            gbs = cell.per_export(minutes, "gb_seconds")
            label = f"{handler}, {delivery}" if handler in (OURS, RULE_BASED) else handler
            rule_based = cells.get((RULE_BASED, delivery)) if handler == OURS else None
            units = (
                "-"
                if "usd" in cell.usage[minutes][0]
                else (f"{cell.per_export(minutes, 'rru'):.0f} / {cell.per_export(minutes, 'wru'):.0f}")
            )
            cost_rows.append(
                (
                    f"{minutes} min",
                    label,
                    f"{cell.per_export(minutes, 'invocations'):.1f}",
                    f"{gbs:.3f}",
                    units,
                    f"{usd_of(cell, minutes):.6f}",
                    f"{gbs / rule_based.per_export(minutes, 'gb_seconds'):.2f}" if rule_based else "-",
                    f"{gbs / economy.per_export(minutes, 'gb_seconds'):.2f}",
                )
            )
    cost_table = table(
        ("job", "handler", "invocations", "GB-s", "DynamoDB RRU / WRU", "USD", "GB-s ÷ 0.2.x's", "GB-s ÷ ECONOMY's"),
        cost_rows,
    )

    rows: list[tuple[str, str, str, str]] = []
    a, b = p95(ours.failure_latencies), p95(base.failure_latencies)
    rows.append(("CREATE_FAILED reported, p95 (s; events 0.5-5 s)", f"{a:.1f}", f"{b:.1f}", ratio(b, a, "faster")))
    a, b = p95(ours.delete_overheads), p95(base.delete_overheads)
    rows.append(("delete overhead after the job is gone, p95 (s)", f"{a:.1f}", f"{b:.1f}", ratio(b, a, "faster")))
    a, b = statistics.mean(ours.delete_gb_seconds), statistics.mean(base.delete_gb_seconds)
    rows.append(("Lambda GB-s per Delete (mean; the deletion takes 30 s)", f"{a:.2f}", f"{b:.2f}", ratio(b, a, "less")))
    rows.append(
        (
            "longest handler invocation (s; Lambda timeout 90, baseline 300)",
            f"{ours.longest_invocation:.1f}",
            f"{base.longest_invocation:.0f}",
            "-",
        )
    )
    violations = sum(len(c.violations) for (h, _), c in cells.items() if h == OURS) + len(ours.violations)
    rows.append(("overlapping invocations / other driver violations", str(violations), str(len(base.violations)), "-"))
    rows.append(("synth time, 100 exports ÷ 1 export", f"{synth[100] / synth[1]:.1f}", "100 (linear)", "-"))
    rows.append(
        (
            "synth time per export at 10 / 50 / 100 exports (ms)",
            " / ".join(f"{1000 * (synth[n] - synth[1]) / (n - 1):.0f}" for n in (10, 50, 100)),
            "-",
            "-",
        )
    )
    rows.append(("100 exports: handler functions", str(sizes["functions"]), "-", "-"))
    # IAM sizes at their worst case (longest names, flag on and off, two layouts): benchmarks/iam_sizes.py.
    rows.append(
        (
            "handler resource policy with 100 polls in flight (bytes; limit 20480)",
            str(sizes["resource_policy_bytes"]),
            f"~{100 * 330} (crhelper: one statement per poll)",
            "-",
        )
    )
    rows.append(
        (
            "100 exports at once (quota raised): succeeded / AddPermission calls / rules standing / rules made at run time",
            f"{in_flight['succeeded']:.0f} / {in_flight['add_permission_calls']:.0f} / {in_flight['rules_standing']:.0f}"
            f" / {in_flight['rules_made']:.0f}",
            "-",
            "-",
        )
    )
    rows.append(
        (
            "idle handler, per month: Tick invocations / Lambda GB-s / DynamoDB RRU / USD (target 0.05)",
            f"{idle['invocations']:.0f} / {idle['gb_seconds']:.0f} / {idle['rru']:.0f} / {idle['usd']:.4f}",
            "0 (0.2.x: no rule without a request)",
            "-",
        )
    )
    rows.append(("handler asset zipped (KB; target 100)", f"{cold['zip_kb']:.1f}", "100", "-"))
    rows.append(
        (
            "import time: forecast_export.app / boto3 / crhelper (ms, real, median of 5)",
            f"{cold['forecast_export.app']:.0f} / {cold['boto3']:.0f} / {cold['crhelper']:.0f}",
            "-",
            "-",
        )
    )
    other_table = table(("figure", "this project", "crhelper defaults", "ratio"), rows)

    docs = REPO / "docs"
    docs.mkdir(exist_ok=True)
    plot(cells, docs / "detection-latency.png")
    jobs = SAMPLES * len(DURATIONS_MINUTES)
    notes = (
        f"Generated by `make bench` in {time.perf_counter() - began:.0f} s. Latency, invocations and GB-seconds are virtual "
        "time on the local test bed (tests/support/cfn_driver.py: its harsh schedule fires each minute anywhere in that "
        "minute and delivers 0-5 s later); synth and import time are real time.\n\n"
        f"Jobs: {SAMPLES} per duration (1, 5, 20, 50 minutes), ACTIVE at moments spread over a minute, {jobs} per row; every "
        "handler meets the same jobs, schedule jitter and event fates (seeded per job). Detection: the job's change to "
        "ACTIVE → the answer accepted by CloudFormation. Every AWS call a handler makes takes "
        f"{CALL_SECONDS * 1000:.0f} ms (virtual), which is what an invocation bills; Lambda's own start-up is not counted.\n\n"
        "Handlers: this project; the same handler before issue 11 (`PollingMode.FAST`: every invocation looked every 5 s for "
        f"most of its minute; `ECONOMY`: one look per firing; git {PREVIOUS_COMMIT[:7]}); crhelper 2.0.12 with its "
        "defaults (2-minute rule, 120 s sleep before answering a Delete; `benchmarks/baseline_handler/`); the CDK Provider "
        f"framework's Step Functions waiter polling every {SFN_POLL_SECONDS} s, modelled on the same jobs with "
        f"{SFN_INVOCATION_SECONDS} s per isComplete call. Only this project sets an EventPattern; the others show the same "
        "figures in every delivery column. Prices: Lambda arm64 $0.0000133334/GB-s and $0.20 per million requests, Step "
        "Functions $0.025 per 1000 state transitions; DynamoDB on-demand $0.625 per million write and $0.125 per million "
        "read request units (us-east-1; the bed counts units as DynamoDB bills them: 1 KB per write unit, transactions "
        "twice, 4 KB per strongly consistent read unit); EventBridge scheduled rules and AWS service events on the "
        "default bus cost nothing. Memory 128 MB everywhere. This project's invocations include the Tick and "
        "ForecastEvents invocations while the export was the only one in flight (shared by all exports in flight "
        f"otherwise). `0.2.x` is the last release's design (git {RULE_BASED_COMMIT[:7]}): state in a per-request rule.\n"
    )
    text = (
        f"# Benchmark\n\n{notes}\n## Detection\n\n{detection_table}\n\n![detection latency](detection-latency.png)\n\n"
        f"## Cost per export\n\n{cost_table}\n\n## Other figures\n\n{other_table}\n"
    )
    (docs / "benchmark.md").write_text(text)
    print()
    print(detection_table, cost_table, other_table, sep="\n\n")
    bad = [v for (h, _), c in cells.items() if h == OURS for v in c.violations] + ours.violations
    if bad:
        print("\nviolations:", *bad[:10], sep="\n  ")


if __name__ == "__main__":
    main()
