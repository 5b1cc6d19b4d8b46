"""`make scale`: issue 16's scale requirement on the local bed, written to docs/scale.md.

Issue 16 asks for 1,000 Creates in flight on one provider (10 team stacks of 100 exports each, one ForecastExportProvider),
Forecast's 3 creation slots, 3-minute jobs, 55-minute export timeouts: most requests wait. After
SCALE_MINUTES of virtual time: the gaps between each request being due and its next look, calls per second
to Forecast, STS, DynamoDB and Lambda, throttles, EventBridge rules and the function's resource policy, and
Lambda usage; then every stack is rolled back and deleted and the state table checked for slots left in
flight. Scenario and measurements: tests/support/scale.py (tests/test_scale.py runs a reduced one).

Knobs: SCALE_STACKS, SCALE_EXPORTS, SCALE_MINUTES. The defaults (2 x 50 for 5 minutes, ~5 minutes of real time
on 2 shared cores) keep `make scale` under 10 minutes: the bed's real time grows faster than linearly with the
requests in flight (the driver looks through every request per delivery and per step; not profiled), so the full case
(SCALE_STACKS=10 SCALE_EXPORTS=100 SCALE_MINUTES=15) takes hours, and 3 x 100 for 4 minutes more than 20 minutes.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.bed import go_offline, local_cloud  # noqa: E402

go_offline()

from tests.support import apps, scale  # noqa: E402
from tests.support.dynamodb_quotas import READ_UNITS_PER_PARTITION, WRITE_UNITS_PER_PARTITION  # noqa: E402

STACKS = int(os.environ.get("SCALE_STACKS", "2"))
EXPORTS = int(os.environ.get("SCALE_EXPORTS", "50"))
MINUTES = float(os.environ.get("SCALE_MINUTES", "5"))
# What one Tick may spend fanning out: the function's 90 s timeout (contract.FUNCTION_TIMEOUT_SECONDS) less the
# 30 s the tick keeps in reserve (triggers.SAFETY_SECONDS).
TICK_BUDGET_SECONDS = 90 - 30
LOOKS_PER_HELPER = 10  # lambda/forecast_export/triggers.py: a Tick with more due hands them out in batches this size


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def report(figures: scale.Figures, real_seconds: float) -> str:
    seconds = figures.minutes * 60
    requests = figures.requests
    looks = table(
        ("figure", "value", "requirement"),
        [
            ("requests in flight (Creates)", str(requests), "1,000"),
            ("virtual minutes measured", f"{figures.minutes:.1f}", "-"),
            ("due moments measured", str(len(figures.gaps)), "-"),
            (
                "due → next look p50 / p95 / max (s)",
                f"{figures.gap('p50'):.1f} / {figures.gap('p95'):.1f} / {figures.gap('max'):.1f}",
                f"max ≤ {scale.LOOK_BOUND_SECONDS}",
            ),
            ("due moments looked at later than 120 s", str(len(figures.late)), "0"),
            ("Creates at the end of the window", ", ".join(f"{k} {v}" for k, v in sorted(figures.statuses.items())), "-"),
            ("Creates answered FAILED", str(len(figures.failed_reasons)), "0"),
        ],
    )
    rows = []
    for op in sorted(figures.calls):
        rows.append((op, str(figures.calls[op]), f"{figures.calls[op] / seconds:.2f}", str(figures.peak_calls_per_second[op])))
    for service, peak in sorted(figures.peak_calls_per_second_by_service.items()):
        total = sum(n for op, n in figures.calls.items() if op.startswith(service + ":"))
        rows.append((f"**{service} (all)**", str(total), f"{total / seconds:.2f}", str(peak)))
    calls = table(("call", "calls", "mean per s", "peak in one second"), rows)
    units = table(
        ("DynamoDB partition (table or index, key)", "units in the window", "mean per s", "bed's limit per s"),
        [
            (
                partition,
                f"{spent:.0f}",
                f"{spent / seconds:.1f}",
                f"{WRITE_UNITS_PER_PARTITION:.0f} W / {READ_UNITS_PER_PARTITION:.0f} R",
            )
            for partition, spent in sorted(figures.dynamodb_units.items(), key=lambda kv: -kv[1])[:8]
        ],
    )
    errors = table(
        ("error answered to the handler", "count"),
        [(k, str(v)) for k, v in sorted(figures.error_answers.items())] or [("none", "0")],
    )
    per_request_minute = requests * figures.minutes
    other = table(
        ("figure", "value"),
        [
            ("throttling answers (all services)", str(sum(figures.throttles.values()))),
            ("DynamoDB partition refusals (bed's per-partition throughput)", str(len(figures.dynamodb_refusals))),
            ("requests answered FAILED because of a throttle", str(sum(1 for r in figures.failed_reasons if "hrottl" in r))),
            ("EventBridge rules: " + ", ".join(figures.rules), " / ".join(str(v) for v in figures.rules.values())),
            (
                "provider function's resource-policy statements: " + ", ".join(figures.policy_statements),
                " / ".join(str(v) for v in figures.policy_statements.values()),
            ),
            ("Lambda invocations in the window (all triggers)", str(figures.invocations)),
            ("invocations per request per minute", f"{figures.invocations / per_request_minute:.2f}"),
            ("GB-s per request per minute (128 MB)", f"{figures.gb_seconds / per_request_minute:.4f}"),
            ("peak concurrent invocations", str(figures.peak_concurrency)),
            (
                "largest Tick: lambda:Invoke calls / seconds from its start to its last Invoke",
                "{} / {:.1f}".format(*max(figures.tick_fan_outs, default=(0, 0.0))),
            ),
            ("slots still in flight after every stack was rolled back", str(figures.slots_in_flight_after)),
            ("left behind after the provider was deleted", ", ".join(figures.leftovers) or "nothing"),
        ],
    )
    invokes, fan_out_seconds = max(figures.tick_fan_outs, default=(0, 0.0))
    per_invoke = fan_out_seconds / invokes if invokes else 0.0
    extrapolated = (
        f"The largest Tick made {invokes} lambda:Invoke calls in {fan_out_seconds:.1f} s ({per_invoke:.3f} s each). At "
        f"that pace, 1,000 due requests asked for one Invoke each would take a Tick {1000 * per_invoke:.0f} s against its "
        f"{TICK_BUDGET_SECONDS} s budget; in batches of {LOOKS_PER_HELPER} (lambda/forecast_export/triggers.py "
        f"LOOKS_PER_HELPER) the Tick makes {math.ceil(1000 / LOOKS_PER_HELPER)} Invokes "
        f"({math.ceil(1000 / LOOKS_PER_HELPER) * per_invoke:.0f} s) and each helper {LOOKS_PER_HELPER} "
        f"({LOOKS_PER_HELPER * per_invoke:.1f} s).\n\n"
    )
    late = "\n".join(f"- {line}" for line in figures.late[:10])
    return (
        "# Scale: requests in flight on one provider (issue 16 asks for 1,000)\n\n"
        f"Generated by `make scale` (`python -m benchmarks.scale`, {STACKS} team stacks x {EXPORTS} exports, "
        f"{MINUTES:g} virtual minutes) in {real_seconds:.0f} s of real time. The scenario and how each figure is taken: "
        "`tests/support/scale.py`; `tests/test_scale.py` runs a reduced one in the normal suite. Virtual time on the local "
        "bed (tests/support/cfn_driver.py): the Tick fires at a random second of each minute and is delivered 0-5 s later, "
        "every AWS call takes 0.05-0.2 s, Forecast has 3 creation slots and 3-minute jobs, DynamoDB's per-partition "
        "throughput is enforced (1 s of burst).\n\n"
        f"## Looks\n\n{looks}\n\n{extrapolated}" + (f"Late:\n\n{late}\n\n" if late else "") + f"## Calls\n\n{calls}\n\n"
        f"## DynamoDB units per partition\n\n{units}\n\n## Errors the handler's calls got\n\n{errors}\n\n"
        f"## Quotas and usage\n\n{other}\n"
    )


def main() -> None:
    import logging

    logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger().setLevel(logging.ERROR)
    began = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="scale-"))
    from app import build_app

    template = apps.synth(build_app, workdir / "example", bundle=True)
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    asset_dir = workdir / "example" / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    with local_cloud(asset_dir, workdir) as cloud:
        os.environ["PYTEST_CURRENT_TEST"] = "scale"
        cloud.reset()
        cloud.begin_test()
        print(f"{STACKS} x {EXPORTS} Creates for {MINUTES:g} virtual minutes...", flush=True)
        figures = scale.run(cloud, workdir / "teams", stacks=STACKS, exports=EXPORTS, minutes=MINUTES)
        cloud.end_test()
    text = report(figures, time.perf_counter() - began)
    if os.environ.get("SCALE_WRITE", "1") == "1":
        (REPO / "docs" / "scale.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
