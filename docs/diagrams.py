"""Draws docs/architecture.png and docs/lifecycle.png (run: .venv/bin/python docs/diagrams.py).

What the pictures say is the data below, and the numbers in it come from the contract module, so a
change of job names shows up here too; tests/test_doc_numbers.py reads these labels like the docs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lambda"))  # the handler's package, without importing aws-cdk-lib
from forecast_export import contract  # noqa: E402

JOB_NAME = "<base>_<owner><key>"
NAME_PARTS = f"owner: {contract.OWNER_LENGTH} hex of the stack ID, key: {contract.KEY_LENGTH} chars"
JOB_PATTERN = "*_<owner>" + "?" * contract.KEY_LENGTH

# Architecture: boxes (x, y, width, height, text, colour) and arrows (start, end, label, label offset).
STACK_BOXES = [
    (0.5, 5.0, 3.0, 1.0, f"Custom::ForecastExportJob\nphysical ID = export job ARN\njob {JOB_NAME}", "#fff3d6"),
    (
        0.5,
        3.2,
        3.0,
        1.25,
        "Access role (one per stack)\npath /cdk-forecast-export/\nForecast job calls, PassRole, KMS\npacked managed policies",
        "#fde2e2",
    ),
    (0.5, 1.85, 3.0, 0.95, "S3 bucket (new or passed in)\nprivate, TLS only, versioned,\nencrypted, retained", "#e3f1e3"),
    (0.5, 0.55, 3.0, 0.95, "Forecast role\nPutObject under <prefix>/*\nSourceAccount / SourceArn", "#fde2e2"),
]
HANDLER_BOXES = [
    (
        4.5,
        4.75,
        3.2,
        1.3,
        "Handler Lambda (crhelper)\nONE short look per invocation\nlog group (retained); invokes itself\nfor each request due",
        "#e6e0f8",
    ),
    (
        4.5,
        2.3,
        3.2,
        1.65,
        "DynamoDB table State: a slot per request\n(conditional writes), a record kept 7 days\n"
        "rules: ForecastEvents (Forecast's events)\n+ Tick, rate(1 minute), as safety net",
        "#e6e0f8",
    ),
]
OUTSIDE_BOXES = [
    (8.9, 5.0, 2.9, 1.0, "CloudFormation\nresponse URL (S3, HTTPS)", "#fff3d6"),
    (
        4.3,
        0.45,
        7.5,
        1.15,
        "Amazon Forecast\nCreate / Describe / Stop / Delete export job (Delete: ACTIVE or CREATE_FAILED only)\n"
        "state-change events to EventBridge (best effort)",
        "#d8ecf7",
    ),
    (
        8.5,
        2.3,
        3.3,
        2.05,
        f"Job name {JOB_NAME}\nbase: ≤ {contract.BASE_MAX_LENGTH} chars (default: construct path, cut)\n"
        f"owner: {contract.OWNER_LENGTH} hex of the stack ID (every job)\n"
        f"key: {contract.KEY_LENGTH} chars (settings + attempt)\n"
        f"access role's job statement:\nforecast-export-job/*/{JOB_PATTERN}",
        "#f2f2f2",
    ),
]
ARCHITECTURE_ARROWS = [
    ((3.5, 5.5), (4.5, 5.5), "Create / Update /\nDelete", (0, 0.32)),
    ((7.7, 5.5), (8.9, 5.5), "one answer\n≤ 4096 B", (0, 0.3)),
    ((4.5, 4.85), (3.5, 4.3), "AssumeRole,\ntag stack-id", (0, 0.12)),
    ((3.5, 3.3), (4.7, 1.6), "job calls", (0.05, 0.0)),
    ((6.1, 1.6), (6.1, 2.3), "state-change event", (0.8, -0.14)),
    ((6.1, 3.95), (6.1, 4.75), "invokes: per event,\nand each minute", (0.85, 0)),
    ((4.3, 0.9), (3.5, 0.9), "assumes", (0, 0.17)),
    ((2.0, 1.5), (2.0, 1.85), "", (0, 0)),
]

# Lifecycle: (from lane, to lane, label); a step from a lane to itself is a note on that lane,
# ("", "", text) a section heading.
LANES = {"CloudFormation": 1.0, "Handler (Lambda)": 3.6, "Table + rules": 6.2, "Forecast": 8.8}
LIFECYCLE_STEPS = [
    ("", "", "Create"),
    ("CloudFormation", "Handler (Lambda)", "Create (properties)"),
    ("Handler (Lambda)", "Handler (Lambda)", f"validate; deterministic name {JOB_NAME} ({NAME_PARTS})"),
    ("Handler (Lambda)", "Table + rules", "claim the request's slot (one conditional write, with its record)"),
    ("Handler (Lambda)", "Forecast", "as the stack's access role: Describe (missing) → CreateForecastExportJob"),
    ("Forecast", "Table + rules", "state-change event (ACTIVE, CREATE_FAILED, ...) to the ForecastEvents rule"),
    ("Table + rules", "Handler (Lambda)", "ONE look at the slots watching the job (a lost event: the Tick, once due)"),
    ("Handler (Lambda)", "Forecast", "DescribeForecastExportJob → ACTIVE (the event only triggers the look)"),
    ("Handler (Lambda)", "Table + rules", "remove the slot (the record stays 7 days)"),
    ("Handler (Lambda)", "CloudFormation", "SUCCESS, physical ID = job ARN"),
    ("", "", "Update"),
    ("CloudFormation", "Handler (Lambda)", "tags only → Tag/UntagResource, same physical ID"),
    ("CloudFormation", "Handler (Lambda)", "other change → new job (as Create); CloudFormation then deletes the old"),
    ("", "", "Delete"),
    ("CloudFormation", "Handler (Lambda)", "Delete (RETAIN: nothing to do)"),
    ("Handler (Lambda)", "Forecast", "ACTIVE or CREATE_FAILED job: DeleteForecastExportJob, look until gone"),
    ("Handler (Lambda)", "Forecast", "running job: StopResource; CREATE_STOPPED is kept (Forecast refuses to delete it)"),
    ("Handler (Lambda)", "CloudFormation", "SUCCESS (a kept stopped job is named in the log)"),
    ("", "", "Failure"),
    ("Forecast", "Handler (Lambda)", "CREATE_FAILED (through an event or the schedule)"),
    ("Handler (Lambda)", "Forecast", "DeleteForecastExportJob: the failed job goes"),
    ("Handler (Lambda)", "Forecast", "not ACTIVE by timeout: StopResource; the stopped job is kept"),
    ("Handler (Lambda)", "CloudFormation", "FAILED: Forecast's message, or the timeout and the kept job"),
]


def labels() -> list[str]:
    """Every text the two pictures show (tests/test_doc_numbers.py checks them like the docs)."""
    texts = [box[4] for box in STACK_BOXES + HANDLER_BOXES + OUTSIDE_BOXES]
    texts += [a[2] for a in ARCHITECTURE_ARROWS]
    return texts + [step[2] for step in LIFECYCLE_STEPS]


def box(axis: plt.Axes, x: float, y: float, w: float, h: float, text: str, colour: str) -> None:
    axis.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=colour, edgecolor="#333", linewidth=1))
    axis.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5)


def arrow(
    axis: plt.Axes, start: tuple[float, float], end: tuple[float, float], label: str, offset: tuple[float, float] = (0, 0)
) -> None:
    axis.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#333", linewidth=1))
    if not label:
        return
    middle = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
    axis.text(
        *middle,
        label,
        fontsize=7.5,
        ha="center",
        va="center",
        color="#1a4d80",
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )


def architecture(path: Path) -> None:
    figure, axis = plt.subplots(figsize=(12, 6.8))
    axis.set_xlim(0, 12)
    axis.set_ylim(0, 6.8)
    axis.axis("off")
    axis.add_patch(FancyBboxPatch((0.25, 0.3), 3.5, 6.15, boxstyle="round,pad=0.02", facecolor="#f4f8fb", edgecolor="#7a9cc6"))
    axis.text(0.4, 6.2, "Your stack: ForecastExport", fontsize=10, weight="bold")
    axis.add_patch(FancyBboxPatch((4.25, 2.0), 3.7, 4.45, boxstyle="round,pad=0.02", facecolor="#f7f4fb", edgecolor="#9a8cc6"))
    axis.text(4.4, 6.2, "Handler (this stack's, or a provider's)", fontsize=10, weight="bold")
    for spec in STACK_BOXES + HANDLER_BOXES + OUTSIDE_BOXES:
        box(axis, *spec)
    for start, end, label, offset in ARCHITECTURE_ARROWS:
        arrow(axis, start, end, label, offset)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def lifecycle(path: Path) -> None:
    row = 0.4
    height = len(LIFECYCLE_STEPS) * row + 1.2
    figure, axis = plt.subplots(figsize=(11, height))
    axis.set_xlim(0, 10)
    axis.set_ylim(0, height)
    axis.axis("off")
    top = height - 0.5
    for name, x in LANES.items():
        axis.text(
            x,
            top,
            name,
            ha="center",
            va="center",
            fontsize=9.5,
            weight="bold",
            bbox={"facecolor": "#e6e0f8", "edgecolor": "#333", "boxstyle": "round,pad=0.3"},
        )
        axis.plot([x, x], [0.2, top - 0.25], color="#999", linewidth=1, linestyle="--")
    for index, (source, target, label) in enumerate(LIFECYCLE_STEPS):
        y = top - 0.6 - index * row
        if not source:
            axis.plot([0.1, 9.9], [y, y], color="#ccc", linewidth=0.8)
            axis.text(0.1, y + 0.04, label, fontsize=8.5, weight="bold", va="bottom", color="#444")
            continue
        x1, x2 = LANES[source], LANES[target]
        if source == target:
            axis.text(x1 + 0.15, y, label, fontsize=7.5, va="center", style="italic")
            continue
        axis.add_patch(FancyArrowPatch((x1, y), (x2, y), arrowstyle="-|>", mutation_scale=10, color="#333", linewidth=1))
        axis.text(
            (x1 + x2) / 2,
            y + 0.06,
            label,
            fontsize=7.5,
            ha="center",
            va="bottom",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
        )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    architecture(HERE / "architecture.png")
    lifecycle(HERE / "lifecycle.png")
