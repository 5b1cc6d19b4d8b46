"""Draws docs/architecture.png and docs/lifecycle.png (run: .venv/bin/python docs/diagrams.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent


def box(axis: plt.Axes, x: float, y: float, w: float, h: float, text: str, colour: str) -> None:
    axis.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=colour, edgecolor="#333", linewidth=1))
    axis.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5, wrap=True)


def arrow(
    axis: plt.Axes, start: tuple[float, float], end: tuple[float, float], label: str, offset: tuple[float, float] = (0, 0)
) -> None:
    axis.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#333", linewidth=1))
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
    figure, axis = plt.subplots(figsize=(11, 6.2))
    axis.set_xlim(0, 11)
    axis.set_ylim(0, 6.2)
    axis.axis("off")
    axis.add_patch(FancyBboxPatch((0.2, 0.3), 6.6, 5.6, boxstyle="round,pad=0.02", facecolor="#f4f8fb", edgecolor="#7a9cc6"))
    axis.text(0.4, 5.65, "Your stack (cdk deploy) — ForecastExport construct", fontsize=10, weight="bold")
    box(axis, 0.5, 4.2, 2.6, 1.0, "Custom::ForecastExportJob\nphysical ID = export job ARN", "#fff3d6")
    box(axis, 0.5, 2.4, 2.6, 1.1, "S3 bucket (new or passed in)\nprivate, TLS only, versioned,\nencrypted, retained", "#e3f1e3")
    box(axis, 0.5, 0.6, 2.6, 1.1, "Forecast role\nPutObject under <prefix>/*\nsame account, SourceArn/Account", "#fde2e2")
    box(axis, 3.8, 4.2, 2.8, 1.0, "Handler Lambda (crhelper)\none per stack or shared provider", "#e6e0f8")
    box(axis, 3.8, 2.4, 2.8, 1.1, "EventBridge rule fcx-…\nrate(1 minute), one per request\n(removed when done)", "#e6e0f8")
    box(axis, 3.8, 0.6, 2.8, 1.1, "Log group (retained)\nper-export managed policies\none Lambda permission", "#eeeeee")
    box(axis, 8.0, 4.2, 2.7, 1.0, "CloudFormation\nresponse URL (S3, HTTPS)", "#fff3d6")
    box(axis, 8.0, 2.0, 2.7, 1.4, "Amazon Forecast\nCreate / Describe / Stop /\nDelete export job", "#d8ecf7")
    arrow(axis, (3.1, 4.7), (3.8, 4.7), "Create /\nUpdate / Delete", (0, 0.45))
    arrow(axis, (6.6, 4.9), (8.0, 4.9), "one answer ≤ 4096 B", (0, 0.25))
    arrow(axis, (6.6, 4.35), (8.0, 3.1), "job calls, Describe every 5 s", (0.2, 0.1))
    arrow(axis, (5.2, 3.5), (5.2, 4.2), "re-invokes", (0.5, 0))
    arrow(axis, (8.0, 2.2), (3.1, 1.2), "assumes role, writes files", (0.6, 0.25))
    arrow(axis, (3.1, 1.4), (3.1, 2.4), "", (0, 0))
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def lifecycle(path: Path) -> None:
    lanes = {"CloudFormation": 1.0, "Handler (Lambda)": 3.6, "EventBridge": 6.2, "Forecast": 8.8}
    steps = [
        ("CloudFormation", "Handler (Lambda)", "Create (properties)"),
        ("Handler (Lambda)", "Handler (Lambda)", "validate; deterministic name <base>_<hash>"),
        ("Handler (Lambda)", "Forecast", "Describe (missing) → CreateForecastExportJob"),
        ("Handler (Lambda)", "EventBridge", "PutRule fcx-… rate(1 minute), PutTargets(state)"),
        ("Handler (Lambda)", "Forecast", "Describe every 5 s until ~10 s before the next firing"),
        ("EventBridge", "Handler (Lambda)", "poll (each minute; never overlapping)"),
        ("Handler (Lambda)", "Forecast", "Describe → ACTIVE"),
        ("Handler (Lambda)", "EventBridge", "RemoveTargets, DeleteRule"),
        ("Handler (Lambda)", "CloudFormation", "SUCCESS, physical ID = job ARN"),
        ("CloudFormation", "Handler (Lambda)", "Update: tags only → Tag/UntagResource, same ID"),
        ("CloudFormation", "Handler (Lambda)", "Update: other change → new job (as Create); then Delete old"),
        ("CloudFormation", "Handler (Lambda)", "Delete"),
        ("Handler (Lambda)", "Forecast", "StopResource if running → DeleteForecastExportJob → gone"),
        ("Handler (Lambda)", "CloudFormation", "SUCCESS"),
        ("Forecast", "Handler (Lambda)", "failure: CREATE_FAILED / timeout (then Stop)"),
        ("Handler (Lambda)", "Forecast", "DeleteForecastExportJob (clean up its own job)"),
        ("Handler (Lambda)", "CloudFormation", "FAILED with Forecast's message"),
    ]
    height = len(steps) * 0.42 + 1.2
    figure, axis = plt.subplots(figsize=(11, height))
    axis.set_xlim(0, 10)
    axis.set_ylim(0, height)
    axis.axis("off")
    top = height - 0.5
    for name, x in lanes.items():
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
    for index, (source, target, label) in enumerate(steps):
        y = top - 0.6 - index * 0.42
        x1, x2 = lanes[source], lanes[target]
        if source == target:
            axis.text(x1 + 0.15, y, label, fontsize=7.5, va="center", style="italic")
            continue
        axis.add_patch(FancyArrowPatch((x1, y), (x2, y), arrowstyle="-|>", mutation_scale=10, color="#333", linewidth=1))
        axis.text((x1 + x2) / 2, y + 0.1, label, fontsize=7.5, ha="center", va="bottom")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    architecture(HERE / "architecture.png")
    lifecycle(HERE / "lifecycle.png")
