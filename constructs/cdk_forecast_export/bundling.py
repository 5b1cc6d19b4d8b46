"""Builds the handler asset without Docker: the handler package plus crhelper, pinned in requirements.txt."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii

from . import _lambda
from ._lambda.forecast_export.contract import HANDLER_ENTRY as HANDLER_ENTRY

# Where the handler's source lives: ``lambda/`` in the repository, ``cdk_forecast_export/_lambda`` in the wheel.
HANDLER_ROOT = Path(_lambda.__file__).resolve().parent
HANDLER_PACKAGE = "forecast_export"
REQUIREMENTS_FILE = HANDLER_ROOT / "requirements.txt"

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def pinned_crhelper_version(requirements: Path = REQUIREMENTS_FILE) -> str:
    match = re.search(r"^crhelper==(\S+)\s*$", requirements.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{requirements} must pin crhelper with '=='")
    return match.group(1)


def build_handler_asset(output_dir: Path) -> None:
    """Write the Lambda asset: ``forecast_export/`` and ``crhelper/`` side by side."""
    shutil.copytree(HANDLER_ROOT / HANDLER_PACKAGE, output_dir / HANDLER_PACKAGE, ignore=_IGNORE, dirs_exist_ok=True)
    wanted = pinned_crhelper_version()
    try:
        installed = importlib.metadata.version("crhelper")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed == wanted:
        # crhelper is pure Python with no dependencies: its installed folder is the whole package.
        # Found without importing it, so the process that synthesizes keeps no crhelper loaded.
        spec = importlib.util.find_spec("crhelper")
        assert spec is not None and spec.submodule_search_locations
        shutil.copytree(
            Path(list(spec.submodule_search_locations)[0]), output_dir / "crhelper", ignore=_IGNORE, dirs_exist_ok=True
        )
    else:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(output_dir), "-r", str(REQUIREMENTS_FILE)],
            check=True,
        )


@jsii.implements(cdk.ILocalBundling)
class LocalHandlerBundling:
    """CDK calls this before trying Docker; returning True means the asset is built."""

    def try_bundle(self, output_dir: str, *, image: Any = None, **_options: Any) -> bool:
        build_handler_asset(Path(output_dir))
        return True
