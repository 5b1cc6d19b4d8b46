"""Every make target the Makefile declares does something, and every one the README names exists."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.apps import REPO

MAKEFILE = (REPO / "Makefile").read_text()
PHONY = re.search(r"^\.PHONY:(.*)$", MAKEFILE, re.MULTILINE).group(1).split()  # type: ignore[union-attr]


@pytest.mark.parametrize("target", PHONY)
def test_every_declared_target_has_a_recipe(target: str) -> None:
    dry_run = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=REPO, capture_output=True, text=True)
    assert dry_run.returncode == 0, dry_run.stderr
    assert dry_run.stdout.strip(), f"make {target} does nothing"


def test_make_typecheck_runs_mypy_as_the_static_test_does() -> None:
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "typecheck"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "-m pytest -q -p no:cacheprovider tests/test_static.py -k mypy" in dry_run.stdout


def test_every_make_target_the_readme_names_is_declared() -> None:
    named = set(re.findall(r"`make (\w+)`", (REPO / "README.md").read_text()))
    assert named and named <= set(PHONY), named - set(PHONY)


def _dry_run(*args: str) -> str:
    """The commands make would run, without running them."""
    result = subprocess.run(["make", "--no-print-directory", "-n", *args], cwd=REPO, capture_output=True, text=True, check=True)
    return result.stdout


def test_make_wheel_builds_in_the_build_only_venv_not_the_development_one() -> None:
    # -B: as on a fresh clone, so the recipe of every prerequisite shows up too.
    commands = _dry_run("-B", "wheel")
    assert ".venv-build/bin/python -m build --wheel --outdir dist ." in commands
    assert "-r requirements-build.txt" in commands
    for development in (".venv/", "requirements-dev.txt", "requirements.txt", "npm ci"):
        assert development not in commands, f"make wheel depends on {development!r}:\n{commands}"
    pins = [line for line in (REPO / "requirements-build.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert len(pins) == 1 and re.fullmatch(r"build==\d+\.\d+\.\d+", pins[0]), pins
    assert ".venv-build/" in (REPO / ".gitignore").read_text().splitlines()


def test_make_e2e_lists_expected_failures_and_unexpected_passes(tmp_path: Path) -> None:
    """The recipe's filter, applied to what pytest really prints for each outcome."""
    (recipe,) = [line for line in _dry_run("e2e").splitlines() if "tests/test_lifecycle_matrix.py" in line]
    pattern = re.search(r"\| grep -E '([^']+)'", recipe).group(1)  # type: ignore[union-attr]
    (tmp_path / "test_outcomes.py").write_text(
        textwrap.dedent(
            """
            import pytest

            def test_passes(): pass
            def test_fails(): assert False
            @pytest.mark.xfail(strict=True, reason="a known gap")
            def test_known_gap(): assert False
            @pytest.mark.xfail(reason="a gap that closed")
            def test_closed_gap(): pass
            """
        )
    )
    flags = re.search(r"-m pytest -m e2e (.*) tests/test_lifecycle_matrix\.py", recipe).group(1).split()  # type: ignore[union-attr]
    output = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *flags, "test_outcomes.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout
    shown = subprocess.run(["grep", "-E", pattern], input=output, capture_output=True, text=True).stdout.splitlines()
    outcomes = sorted(line.split()[0] for line in shown if line.split()[0].isupper())
    assert outcomes == ["FAILED", "PASSED", "XFAIL", "XPASS"], shown
    assert re.fullmatch(r"1 failed, 1 passed, 1 xfailed, 1 xpassed in .*", shown[-1]), shown
