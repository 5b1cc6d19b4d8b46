"""The README is true: each Python block runs as a complete app, the install steps and the Node.js
versions match what the repository builds and what jsii supports."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.apps import REPO

README = (REPO / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def test_the_readme_has_python_blocks() -> None:
    assert len(PYTHON_BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)), ids=[f"block{i + 1}" for i in range(len(PYTHON_BLOCKS))])
def test_every_python_block_of_the_readme_is_a_complete_app(index: int, tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(PYTHON_BLOCKS[index])
    env = {
        **os.environ,
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        "CDK_CONTEXT_JSON": json.dumps({"aws:cdk:bundling-stacks": []}),  # offline and fast: no asset bundling
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    templates = [json.loads(p.read_text()) for p in (tmp_path / "cdk.out").glob("*.template.json")]
    types = [r["Type"] for t in templates for r in t["Resources"].values()]
    assert "Custom::ForecastExportJob" in types


def test_the_install_steps_name_the_wheel_make_wheel_builds() -> None:
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert f"pip install /path/to/cdk-forecast-export/dist/cdk_forecast_export-{version}-py3-none-any.whl" in README
    assert "pip install cdk-forecast-export" not in README  # not published yet
    assert "--outdir dist" in (REPO / "Makefile").read_text()


def _jsii_supported_node_majors(today: datetime.date) -> set[int]:
    """The Node.js majors the installed jsii runtime calls supported (its NodeRelease table)."""
    import jsii

    runtime = (Path(jsii.__file__).parent / "_embedded" / "jsii" / "bin__jsii-runtime.js").read_text()
    supported = set()
    for major, options in re.findall(r"new NodeRelease\((\d+),\{([^}]*)\}\)", runtime):
        if "untested:!0" in options:
            continue
        end_of_life = datetime.date.fromisoformat(re.search(r'endOfLife:new Date\("([\d-]+)"\)', options).group(1))  # type: ignore[union-attr]
        explicit = re.search(r'endOfJsiiSupport:new Date\("([\d-]+)"\)', options)
        if explicit:
            end_of_support = datetime.date.fromisoformat(explicit.group(1))
        else:  # jsii keeps supporting a release 6 months past its end of life
            month = end_of_life.month + 6
            end_of_support = end_of_life.replace(year=end_of_life.year + (month - 1) // 12, month=(month - 1) % 12 + 1)
        if end_of_support > today:
            supported.add(int(major))
    return supported


def test_the_node_versions_in_the_readme_are_the_ones_jsii_supports() -> None:
    claimed = re.search(r"Node\.js (\d+) or (\d+) with npm", README)
    assert claimed is not None
    supported = _jsii_supported_node_majors(datetime.date.today())
    assert {int(claimed.group(1)), int(claimed.group(2))} == supported, (
        f"jsii now supports Node.js {sorted(supported)}: update the README's requirements line"
    )
