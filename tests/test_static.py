"""The shipped code is mypy --strict clean and the whole repository is ruff clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.apps import REPO
from tests.support.floor import wheel_layout


def test_mypy_strict_on_the_shipped_package(tmp_path: Path) -> None:
    package = wheel_layout(tmp_path)
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
