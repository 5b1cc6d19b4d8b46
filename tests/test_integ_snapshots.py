"""make test verifies the committed snapshots of tests/integ offline, and the check fails when an app changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.integ import snapshots
from tests.support.apps import REPO

# No account: dummy credentials, no instance metadata, no profile. Synthesizing must not need more.
OFFLINE = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "not-a-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_REGION": "us-east-1",
}


def _offline_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CDK_INTEG_", "CDK_DEFAULT_"))}
    return {**env, **OFFLINE}


def test_every_integ_app_matches_its_committed_snapshot() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.integ.snapshots"], cwd=REPO, env=_offline_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    apps = snapshots.apps()
    assert {app.name for app in apps} == {
        "integ_default.py",
        "integ_bucket_kms.py",
        "integ_shared_provider.py",
        "integ_rename.py",
        "integ_failed_export.py",
    }
    assert f"{len(apps)} passed, 0 failed" in result.stdout


def test_a_changed_app_fails_the_check(tmp_path: Path) -> None:
    """The same app with another job name: the template and integ.json differ from the committed snapshot."""
    for name in ("common.py", "forecast_parameter.py"):
        shutil.copy(snapshots.INTEG_DIR / name, tmp_path / name)
    original = snapshots.INTEG_DIR / "integ_failed_export.py"
    app = tmp_path / original.name
    app.write_text(original.read_text().replace('JOB = "integ_failed_export"', 'JOB = "integ_changed_export"'))
    shutil.copytree(snapshots.snapshot_dir(original), snapshots.snapshot_dir(app))
    found = snapshots.check(app, update=False)
    changed = {line.split(" ")[0] for line in found}
    assert "integ_failed_export.py.snapshot/IntegForecastExportFailed.template.json" in changed, found
    assert "integ_failed_export.py.snapshot/integ.json" in changed, found
    assert any('"integ_changed_export"' in line for line in found), found


def test_a_missing_snapshot_is_a_difference(tmp_path: Path) -> None:
    (tmp_path / "actual").mkdir()
    assert snapshots.differences(tmp_path / "integ_new.py.snapshot", tmp_path / "actual") == [
        "integ_new.py.snapshot: no snapshot (run make integ-snapshots and commit it)"
    ]


def test_snapshots_keep_exactly_the_assets_that_a_snapshot_deploy_needs() -> None:
    """The update workflow deploys the test stacks from the snapshot, so their assets (the bundled handler) stay;
    assertion stacks are never deployed from a snapshot, so integ-tests' 6 MB provider bundle is not committed."""
    for app in snapshots.apps():
        folder = snapshots.snapshot_dir(app)
        cases = json.loads((folder / "integ.json").read_text())["testCases"].values()
        needed = {
            path
            for case in cases
            if case.get("stackUpdateWorkflow", True)
            for stack in case["stacks"]
            for path in snapshots.asset_paths(folder, stack)
            if path.startswith("asset.")  # not the template itself
        }
        committed = {entry.name for entry in folder.iterdir() if entry.name.startswith("asset.")}
        assert committed == needed, app.name
    failed_export = snapshots.snapshot_dir(snapshots.INTEG_DIR / "integ_failed_export.py")
    assert not list(failed_export.glob("asset.*")), "a test case without the update workflow keeps no assets"


def test_snapshots_name_nothing_of_the_machine_or_the_clock() -> None:
    for folder in (snapshots.snapshot_dir(app) for app in snapshots.apps()):
        for path in folder.rglob("*.json"):
            text = path.read_text()
            assert str(REPO) not in text and "/tmp/" not in text and "/root/" not in text, path
            assert '"trace"' not in text, path
    salts = {
        line.strip()
        for path in REPO.glob("tests/integ/*.snapshot/*.template.json")
        for line in path.read_text().splitlines()
        if '"salt"' in line
    }
    assert salts == {'"salt": "1767225600000"'}  # tests/integ/fixed_clock.cjs
