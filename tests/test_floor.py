"""The lowest aws-cdk-lib and constructs that pyproject.toml allows really work.

`make test` installs exactly those lower bounds (and the crhelper pin) into .venv-floor; this test
synthesizes every example app there, with bundling, from the package laid out as in the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support.apps import REPO
from tests.support.floor import SYNTH_EXAMPLES, floor_pins, wheel_layout

FLOOR_PYTHON = REPO / (os.environ.get("FLOOR_PYTHON") or ".venv-floor/bin/python")  # relative to the repository


def test_the_declared_floor_is_the_first_version_that_works() -> None:
    # 2.257.0-2.268.x refuse the acknowledgment IDs of cdk-nag findings on ARNs ("'::' is reserved").
    assert floor_pins() == {"aws-cdk-lib": "2.269.0", "constructs": "10.5.0", "crhelper": "2.0.12"}


def test_the_examples_synthesize_with_the_lowest_allowed_versions(tmp_path: Path) -> None:
    assert FLOOR_PYTHON.exists(), f"{FLOOR_PYTHON} is missing: run `make test` (it creates .venv-floor)"
    wheel_layout(tmp_path / "site")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PYTHONPATH": str(tmp_path / "site"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": os.environ.get("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20"),
    }
    result = subprocess.run(
        [str(FLOOR_PYTHON), "-c", SYNTH_EXAMPLES, str(REPO), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["versions"] == floor_pins()
    assert report["package"].startswith(str(tmp_path / "site"))
    examples = {p.stem for p in (REPO / "examples").glob("*.py")}
    assert len(report["stacks"]) >= len(examples)
    assert sum("Custom::ForecastExportJob" in types for types in report["stacks"].values()) >= len(examples)
    assert list((tmp_path / "out").glob("*/asset.*/forecast_export/app.py")), "the handler asset was not bundled"
