"""Helpers that keep each lifecycle test to its point."""

from __future__ import annotations

import copy
from typing import Any

from cdk_forecast_export._lambda.forecast_export.store import LOOK_PERIOD_SECONDS

RESOURCE_TYPE = "Custom::ForecastExportJob"
# Issue 16's safety net: a request is due LOOK_PERIOD_SECONDS after its last look, and the Tick (once a minute, at
# any second of its minute) gets it looked at within 2 minutes of being due (the bound; tests/test_timing.py
# measures it). So with every event lost a job's end is found within a look period and 2 minutes, and the look that
# finds it answers within a few calls.
DUE_TO_LOOK_SECONDS = 120
LOST_EVENTS_BOUND = LOOK_PERIOD_SECONDS + DUE_TO_LOOK_SECONDS + 3


def custom_logical_id(template: dict[str, Any]) -> str:
    return next(k for k, v in template["Resources"].items() if v["Type"] == RESOURCE_TYPE)


def with_props(template: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of the template whose (first) export has some properties changed; None removes one."""
    changed = copy.deepcopy(template)
    props = changed["Resources"][custom_logical_id(changed)]["Properties"]
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return changed


def with_exports(template: dict[str, Any], count: int) -> dict[str, Any]:
    """A copy with ``count`` exports that differ only in their logical ID and base name."""
    changed = copy.deepcopy(template)
    logical_id = custom_logical_id(changed)
    original = changed["Resources"].pop(logical_id)
    for index in range(count):
        export = copy.deepcopy(original)
        export["Properties"]["ForecastExportJobName"] = f"export_{index}"
        changed["Resources"][f"Export{index}"] = export
    return changed


def renamed(template: dict[str, Any], new_logical_id: str) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    logical_id = custom_logical_id(changed)
    changed["Resources"][new_logical_id] = changed["Resources"].pop(logical_id)
    return changed


def with_all_props(template: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy where every export has some properties changed (None removes one)."""
    changed = copy.deepcopy(template)
    for resource in changed["Resources"].values():
        if resource["Type"] == RESOURCE_TYPE:
            for key, value in changes.items():
                if value is None:
                    resource["Properties"].pop(key, None)
                else:
                    resource["Properties"][key] = value
    return changed
