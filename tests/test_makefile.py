"""Every make target the Makefile declares does something, and every one the README names exists."""

from __future__ import annotations

import re
import subprocess

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
