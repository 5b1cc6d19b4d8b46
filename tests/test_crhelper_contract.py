"""The crhelper internals the handler's subclass overrides or reads still exist, with the same shape.

lambda/forecast_export/resource.py builds on a few private members of crhelper's CfnResource
(listed in CRHELPER_OVERRIDES). crhelper is pinned; this test fails if a new pin moves any of them.
"""

from __future__ import annotations

import inspect
import os
from importlib.metadata import version
from pathlib import Path

import pytest
from cdk_forecast_export._lambda.forecast_export.resource import CRHELPER_OVERRIDES, ForecastExportResource
from crhelper import CfnResource

REPO = Path(__file__).resolve().parents[1]
EXPECTED_PARAMETERS = {
    "_polling_init": ["self", "event"],
    "_send": ["self", "status", "reason", "send_response"],
    "_timeout": ["self"],
    "_wrap_function": ["self", "func"],
}


def test_crhelper_is_the_pinned_version() -> None:
    pinned = (REPO / "lambda" / "requirements.txt").read_text().split("crhelper==")[1].split()[0]
    assert version("crhelper") == pinned


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMETERS))
def test_each_overridden_method_exists_in_crhelper_with_the_same_parameters(name: str) -> None:
    assert name in CRHELPER_OVERRIDES
    original = getattr(CfnResource, name)
    assert list(inspect.signature(original).parameters) == EXPECTED_PARAMETERS[name]
    assert getattr(ForecastExportResource, name) is not original or name == "_wrap_function"  # overridden, or only called


def test_crhelpers_own_init_runs_unchanged() -> None:
    """The request's confirmation and its live state are prepared before crhelper sees the event (``prepare``):
    crhelper's ``__call__`` and ``_crhelper_init`` are its own."""
    assert ForecastExportResource._crhelper_init is CfnResource._crhelper_init
    assert ForecastExportResource.__call__ is CfnResource.__call__
    assert len([name for name in CRHELPER_OVERRIDES if name in EXPECTED_PARAMETERS]) < 5


def test_the_attributes_read_are_set_by_crhelpers_constructor() -> None:
    os.environ.setdefault("AWS_REGION", "us-east-1")
    resource = CfnResource()
    for name in set(CRHELPER_OVERRIDES) - set(EXPECTED_PARAMETERS):
        assert hasattr(resource, name), f"crhelper no longer sets {name}"
