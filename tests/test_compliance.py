"""The compliance gates platform teams run, on every synthesized template: cdk-nag, cfn-lint, checkov."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_forecast_export.compliance import REASONS
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from tests.support import apps

README = (apps.REPO / "README.md").read_text()


def _example(app: cdk.App) -> cdk.Stack:
    sys.path.insert(0, str(apps.REPO))
    try:
        from app import build_app
    finally:
        sys.path.remove(str(apps.REPO))
    return build_app(app)


def _state_key(app: cdk.App) -> cdk.Stack:
    """A provider whose state table has a customer managed key: CKV_AWS_119 runs instead of being skipped."""
    from aws_cdk import aws_kms as kms
    from cdk_forecast_export import ForecastExport, ForecastExportProvider

    stack = cdk.Stack(app, "StateKey", env=apps.ENV)
    key = kms.Key(stack, "StateKey", enable_key_rotation=True)
    provider = ForecastExportProvider(stack, "Provider", state_encryption_key=key)
    ForecastExport(stack, "Daily", forecast_arn=apps.FORECAST_ARN, provider=provider)
    return stack


BUILDERS: dict[str, Callable[[cdk.App], cdk.Stack]] = {
    "example": _example,
    "every_prop": apps.every_prop_stack,
    "opt_ins": apps.opt_in_stack,
    "state_key": _state_key,
}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[cdk.App, Path, dict[str, Any]]]:
    built = {}
    for name, builder in BUILDERS.items():
        outdir = tmp_path_factory.mktemp(name)
        app = cdk.App(outdir=str(outdir), context={**apps.cdk_json_context(), **apps.NO_BUNDLING})
        stack = builder(app)
        template = dict(app.synth().get_stack_by_name(stack.stack_name).template)
        path = outdir / f"{name}.template.json"
        path.write_text(json.dumps(template, indent=1))
        built[name] = (app, path, template)
    return built


@pytest.mark.parametrize("name", list(BUILDERS))
def test_cdk_nag_finds_nothing_unacknowledged(synthesized: dict[str, Any], name: str) -> None:
    app, _, _ = synthesized[name]
    violations = AwsSolutionsChecks(app).validate_scope(app).violations
    assert [v.rule_name for v in violations] == []


def test_cdk_nag_checks_the_state_table_and_nothing_acknowledges_its_findings(synthesized: dict[str, Any]) -> None:
    """AwsSolutions-DDB3 (point-in-time recovery) runs on the handler's table and passes on its own."""
    app, _, template = synthesized["example"]
    assert [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert not [key for key in REASONS if "DDB" in key.upper()]
    assert "AwsSolutions-DDB3" not in json.dumps(template)  # no suppression metadata either
    violations = AwsSolutionsChecks(app).validate_scope(app).violations
    assert [v.rule_name for v in violations if "DDB" in v.rule_name] == []


@pytest.mark.parametrize("name", list(BUILDERS))
def test_cfn_lint_with_informational_checks_has_no_errors_warnings_or_i3510(synthesized: dict[str, Any], name: str) -> None:
    _, path, _ = synthesized[name]
    matches = lint(path.read_text(), config=ManualArgs(regions=["us-east-1"], include_checks=["I"]))
    serious = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW" or m.rule.id == "I3510"]
    assert serious == []


def _checkov() -> str:
    command = os.environ.get("CHECKOV_BIN") or str(apps.REPO / ".venv-checkov" / "bin" / "checkov")
    assert Path(command).exists(), f"checkov not found at {command}: `make test` installs it into .venv-checkov"
    return command


def test_checkov_passes_every_template(synthesized: dict[str, Any]) -> None:
    files = [str(path) for _, path, _ in synthesized.values()]
    result = subprocess.run(
        [
            _checkov(),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--compact",
            "--skip-download",
            *[arg for f in files for arg in ("-f", f)],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    assert report["summary"]["passed"] > 50, report["summary"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report["results"]["failed_checks"]]
    assert failed == []
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    assert skipped <= {"CKV_AWS_18", "CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_119", "CKV_AWS_158", "CKV_AWS_173"}
    # The state table: point-in-time recovery always passes; the customer-key check passes where a key is given.
    passed = {(c["check_id"], Path(c["file_path"]).name) for c in report["results"]["passed_checks"]}
    assert {("CKV_AWS_28", f"{name}.template.json") for name in BUILDERS} <= passed
    assert ("CKV_AWS_119", "state_key.template.json") in passed


def test_every_checkov_skip_carries_a_documented_reason(synthesized: dict[str, Any]) -> None:
    skips = [
        (check["id"], check["comment"])
        for _, _, template in synthesized.values()
        for resource in template["Resources"].values()
        for check in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert len(skips) >= 6
    for check_id, comment in skips:
        if comment == "the access-log bucket itself":  # the test app's own log bucket
            continue
        assert comment in REASONS.values()
        assert check_id in README


def test_readme_lists_every_acknowledgment_and_skip_with_its_reason() -> None:
    missing = [key for key, reason in REASONS.items() if reason not in README]
    assert missing == []


def test_the_default_bucket_is_retained_and_destroying_it_is_an_opt_in(synthesized: dict[str, Any]) -> None:
    _, _, example = synthesized["example"]
    (bucket,) = [r for r in example["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    # Retained on delete and replacement; only a rolled-back first deploy (no files yet) removes it.
    assert bucket["DeletionPolicy"] == "RetainExceptOnCreate" and bucket["UpdateReplacePolicy"] == "Retain"
    assert not [r for r in example["Resources"].values() if r["Type"] == "Custom::S3AutoDeleteObjects"]
    _, _, opted = synthesized["opt_ins"]
    scratch = [r for k, r in opted["Resources"].items() if r["Type"] == "AWS::S3::Bucket" and k.startswith("Scratch")]
    assert scratch[0]["DeletionPolicy"] == "Delete"
    assert [r for r in opted["Resources"].values() if r["Type"] == "Custom::S3AutoDeleteObjects"]
    assert "LoggingConfiguration" in scratch[0]["Properties"]
