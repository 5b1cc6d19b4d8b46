"""docs/QUOTAS.md keeps up with the code: every AWS operation the handler (and crhelper) can call, every
resource type the construct synthesizes, and every scenario it names."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import botocore.session
import crhelper.resource_helper
from botocore import xform_name

from tests.support.apps import REPO

HANDLER = REPO / "lambda" / "forecast_export"
QUOTAS = (REPO / "docs" / "QUOTAS.md").read_text()
# The services whose clients the handler and crhelper create (app.py, crhelper's CfnResource.__init__).
SERVICES = ("events", "forecast", "sts", "lambda", "logs", "dynamodb")


def _operations() -> dict[str, list[str]]:
    """boto3 method name -> the ``service:Operation`` names it can be (tag_resource exists in several)."""
    session = botocore.session.get_session()
    names: dict[str, list[str]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            names.setdefault(xform_name(operation), []).append(f"{service}:{operation}")
    return names


def handler_calls() -> dict[str, list[str]]:
    """Operations the handler's modules name: ``client.put_rule(...)``, ``_call("put_rule", ...)`` or an
    operation name kept in a table (``("remove_targets", {...})``), mapped to their candidates."""
    operations = _operations()
    found: dict[str, list[str]] = {}
    for path in sorted(HANDLER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            name = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
            if name in operations:
                found[name] = operations[name]
    return found


def crhelper_calls() -> list[str]:
    """crhelper's own calls: ``self._<service>_client.<operation>(...)``."""
    operations = _operations()
    source = Path(crhelper.resource_helper.__file__).read_text()
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Attribute):
            match = re.fullmatch(r"_(\w+)_client", node.func.value.attr)
            if match and node.func.attr in operations:
                service = match.group(1)
                calls += [name for name in operations[node.func.attr] if name.startswith(f"{service}:")]
    return calls


def test_the_scan_finds_the_calls_the_handler_is_known_to_make() -> None:
    calls = handler_calls()
    for expected in ("create_forecast_export_job", "stop_resource", "assume_role", "transact_write_items", "invoke"):
        assert expected in calls, f"the scan no longer finds {expected}: fix the scan, not the table"
    assert {"lambda:AddPermission", "events:PutTargets"} <= set(crhelper_calls())


def test_every_operation_the_handler_calls_is_in_the_table() -> None:
    missing = [
        f"{method} ({' or '.join(names)})"
        for method, names in sorted(handler_calls().items())
        if not any(f"`{name}`" in QUOTAS for name in names)
    ]
    assert not missing, f"docs/QUOTAS.md has no row for: {missing}"


def test_every_operation_crhelper_can_call_is_in_the_table() -> None:
    missing = [name for name in crhelper_calls() if f"`{name}`" not in QUOTAS]
    assert not missing, f"docs/QUOTAS.md has no row for crhelper's {missing}"


def test_every_resource_type_the_construct_synthesizes_is_in_the_table(
    every_prop_template: dict[str, Any], example_template: dict[str, Any]
) -> None:
    types = {r["Type"] for t in (every_prop_template, example_template) for r in t["Resources"].values()}
    assert "Custom::ForecastExportJob" in types
    missing = sorted(t for t in types if f"`{t}`" not in QUOTAS)
    assert not missing, f"docs/QUOTAS.md has no row for: {missing}"


def _test_names() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        names.update(re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE))
    return names


def test_every_scenario_the_table_names_exists() -> None:
    named = set(re.findall(r"`(test_\w+)", QUOTAS))
    assert len(named) >= 30
    missing = sorted(named - _test_names())
    assert not missing, f"docs/QUOTAS.md names tests that do not exist: {missing}"


def test_the_table_lists_issue_16s_nine_sequences() -> None:
    section = QUOTAS.split("## Issue 16", 1)[1]
    rows = re.findall(r"^\| (\d) \|", section, re.MULTILINE)
    assert rows == [str(n) for n in range(1, 10)]
