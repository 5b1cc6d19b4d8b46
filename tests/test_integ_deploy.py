"""make integ cannot run here (no account with Forecast): its wiring, its refusals and its plan can."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integ import deploy, snapshots
from tests.support.apps import REPO
from tests.support.cfn_driver import LocalCloud, LocalStack

INTEG = snapshots.INTEG_DIR
ARN = "arn:aws:forecast:eu-west-1:123456789012:forecast/integ_forecast"


def _run_deploy(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.integ.deploy", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def _no_account(tmp_path: Path) -> dict[str, str]:
    """An environment where boto3 finds no credentials and asks no metadata service."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CDK_INTEG_"))}
    missing = str(tmp_path / "missing")
    return {**env, "HOME": str(tmp_path), "AWS_CONFIG_FILE": missing, "AWS_SHARED_CREDENTIALS_FILE": missing,
            "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip


def test_make_integ_runs_the_deploy_runner_with_the_venv_first_on_path() -> None:
    commands = subprocess.run(["make", "--no-print-directory", "-n", "integ"], cwd=REPO, capture_output=True, text=True)
    assert commands.returncode == 0, commands.stderr
    assert f'PATH="{REPO}/.venv/bin:$PATH" .venv/bin/python -m tests.integ.deploy' in commands.stdout
    assert (
        "tests.integ.snapshots --update"
        in subprocess.run(
            ["make", "--no-print-directory", "-n", "integ-snapshots"], cwd=REPO, capture_output=True, text=True
        ).stdout
    )


def test_make_integ_refuses_to_start_without_the_forecast_arn(tmp_path: Path) -> None:
    result = _run_deploy(_no_account(tmp_path))
    assert result.returncode == 2
    assert "make integ: CDK_INTEG_FORECAST_ARN is not set" in result.stderr


def test_make_integ_refuses_a_value_that_is_not_a_forecast_arn(tmp_path: Path) -> None:
    wrong = "arn:aws:forecast:eu-west-1:123456789012:predictor/p"
    result = _run_deploy({**_no_account(tmp_path), "CDK_INTEG_FORECAST_ARN": wrong})
    assert result.returncode == 2
    assert f"CDK_INTEG_FORECAST_ARN='{wrong}' is not a forecast ARN" in result.stderr


def test_make_integ_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    result = _run_deploy({**_no_account(tmp_path), "CDK_INTEG_FORECAST_ARN": ARN})
    assert result.returncode == 2
    assert "make integ: no AWS credentials found" in result.stderr


def test_the_dry_run_prints_the_steps_without_an_account(tmp_path: Path) -> None:
    result = _run_deploy(_no_account(tmp_path), "--dry-run", "tests/integ/integ_default.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "integ_default.py DefaultExport/DefaultTest: deploy the committed snapshot: npx --no-install cdk deploy"
    )
    assert (
        lines[-1]
        == "integ_default.py DefaultExport/DefaultTest: postDestroy hook: (cd tests/integ) python jobs_gone.py integ_default"
    )


def _titles(app: str) -> list[str]:
    path = INTEG / app
    steps = deploy.plan(
        path, Path("actual"), snapshots.snapshot_dir(path), Path("out"), manifest_from=snapshots.snapshot_dir(path)
    )
    return [step.title.removeprefix(f"{app} ") for step in steps]


def test_the_update_workflow_deploys_the_committed_snapshot_before_the_current_code() -> None:
    assert _titles("integ_default.py") == [
        "DefaultExport/DefaultTest: deploy the committed snapshot",
        "DefaultExport/DefaultTest: deploy",
        "DefaultExport/DefaultTest: assertions",
        "DefaultExport/DefaultTest: destroy",
        "DefaultExport/DefaultTest: postDestroy hook",
    ]
    path = INTEG / "integ_default.py"
    snapshot = snapshots.snapshot_dir(path)
    first, second = deploy.plan(path, Path("actual"), snapshot, Path("out"), manifest_from=snapshot)[:2]
    assert first.command[first.command.index("--app") + 1] == str(snapshots.snapshot_dir(path))
    assert second.command[second.command.index("--app") + 1] == "actual"


def test_the_rename_deploys_one_stack_twice_and_checks_the_old_job_is_gone() -> None:
    assert _titles("integ_rename.py") == [
        "Rename/DefaultTest: deploy the committed snapshot",
        "Rename/DefaultTest: deploy",  # kept: no destroy, no assertions
        "RenameAfter/RenameAfterTestCase: deploy the committed snapshot",
        "RenameAfter/RenameAfterTestCase: deploy",
        "RenameAfter/RenameAfterTestCase: assertions",
        "RenameAfter/RenameAfterTestCase: postDeploy hook",
        "RenameAfter/RenameAfterTestCase: destroy",
        "RenameAfter/RenameAfterTestCase: postDestroy hook",
    ]
    manifest = json.loads((INTEG / "integ_rename.py.snapshot" / "manifest.json").read_text())["artifacts"]
    names = {manifest[stack]["properties"]["stackName"] for stack in ("RenameBefore", "RenameAfter")}
    assert names == {"IntegForecastExportRename"}, "both versions are one CloudFormation stack"
    templates = [
        (INTEG / "integ_rename.py.snapshot" / f"{stack}.template.json").read_text() for stack in ("RenameBefore", "RenameAfter")
    ]
    assert '"integ_rename_before"' in templates[0] and '"integ_rename_after"' in templates[1]


def test_the_failed_export_must_fail_with_forecasts_error_code() -> None:
    path = INTEG / "integ_failed_export.py"
    steps = deploy.plan(
        path, Path("actual"), snapshots.snapshot_dir(path), Path("out"), manifest_from=snapshots.snapshot_dir(path)
    )
    assert [step.title.split(": ")[1] for step in steps] == ["deploy", "destroy", "postDestroy hook"]
    expected = steps[0].expect_error
    assert expected is not None
    reason = "CreateForecastExportJob refused integ_failed_export_a1b2c3d4e5f6: ResourceNotFoundException: No resource found"
    assert re.search(expected, f"Resource handler returned message: {reason}")
    assert not re.search(expected, reason.replace("ResourceNotFoundException", "AccessDeniedException"))


def test_the_expected_message_matches_the_handlers_answer_when_forecast_refuses_the_forecast(
    cloud: LocalCloud, example_template: dict[str, Any]
) -> None:
    """The failed-export test expects the message the handler really sends (the offline bed's CloudFormation)."""
    integ = json.loads((INTEG / "integ_failed_export.py.snapshot" / "integ.json").read_text())
    (case,) = integ["testCases"].values()
    expected = case["cdkCommandOptions"]["deploy"]["expectedMessage"]
    cloud.forecast.fail_next("CreateForecastExportJob", "ResourceNotFoundException")
    result = LocalStack(cloud, example_template).create()
    assert result.status == "ROLLBACK_COMPLETE"
    assert re.search(expected, result.by_type("Create")[0].reason), result.by_type("Create")[0].reason


@pytest.mark.parametrize(
    ("script", "expect_error", "problem"),
    [
        ("exit 0", None, None),
        ("echo boom; exit 3", None, "exit 3"),
        ("echo 'refused x: ResourceNotFoundException'; exit 1", "ResourceNotFoundException", None),
        ("echo 'AccessDeniedException'; exit 1", "ResourceNotFoundException", "failed, but not with"),
        ("exit 0", "ResourceNotFoundException", "expected to fail"),
    ],
)
def test_a_step_passes_only_when_it_does_what_the_test_case_expects(
    script: str, expect_error: str | None, problem: str | None
) -> None:
    found = deploy.run_step(deploy.Step("step", ["sh", "-c", script], expect_error=expect_error), os.environ)
    assert (problem is None and found == []) or (problem is not None and len(found) == 1 and problem in found[0]), found


def test_assertion_results_must_all_be_there_and_succeed(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    ok = json.dumps({"status": "success"})
    outputs.write_text(json.dumps({"Assert": {"AssertionResultsA": ok, "AssertionResultsB": ok, "Other": "x"}}))
    assert deploy.failed_assertions(outputs, "Assert") == []
    outputs.write_text(
        json.dumps({"Assert": {"AssertionResultsA": json.dumps({"status": "fail", "message": "Status CREATE_FAILED"})}})
    )
    assert deploy.failed_assertions(outputs, "Assert") == ["AssertionResultsA: Status CREATE_FAILED"]
    assert deploy.failed_assertions(tmp_path / "missing.json", "Assert") == ["Assert: no AssertionResults outputs"]
