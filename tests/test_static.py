"""The shipped code is mypy --strict clean and the whole repository is ruff clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.apps import REPO


def _wheel_layout(root: Path) -> Path:
    """The package as the wheel lays it out: the handler sources inside as cdk_forecast_export._lambda."""
    package = root / "cdk_forecast_export"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "constructs" / "cdk_forecast_export", package, ignore=ignore)
    shutil.copytree(REPO / "lambda", package / "_lambda", ignore=ignore)
    return package


def test_mypy_strict_on_the_shipped_package(tmp_path: Path) -> None:
    package = _wheel_layout(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(REPO / ".mypy_cache"),
            str(package),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-5000:]


def test_ruff_lint_and_format() -> None:
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "."], capture_output=True, text=True, cwd=REPO)
    assert lint.returncode == 0, lint.stdout[-5000:]
    formatted = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", "."], capture_output=True, text=True, cwd=REPO)
    assert formatted.returncode == 0, formatted.stdout[-5000:]
