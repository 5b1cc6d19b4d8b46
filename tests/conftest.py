"""Shared fixtures: synthesized templates (once per session) and the local test bed."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bed import go_offline, local_cloud  # noqa: E402  (imports no boto3 client yet)

go_offline()

from tests.support import apps  # noqa: E402
from tests.support.cfn_driver import LocalCloud  # noqa: E402


@pytest.fixture(scope="session")
def example_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("example-cdk-out")


@pytest.fixture(scope="session")
def example_template(example_outdir: Path) -> dict[str, Any]:
    """The example app, synthesized with bundling, as `make synth` does."""
    sys.path.insert(0, str(apps.REPO))
    try:
        from app import build_app
    finally:
        sys.path.remove(str(apps.REPO))
    return apps.synth(build_app, example_outdir, bundle=True)


@pytest.fixture(scope="session")
def asset_dir(example_template: dict[str, Any], example_outdir: Path) -> Path:
    function = next(r for r in example_template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    return example_outdir / f"asset.{asset_hash}"


@pytest.fixture(scope="session")
def every_prop_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return apps.synth(apps.every_prop_stack, tmp_path_factory.mktemp("every-prop"))


@pytest.fixture(scope="session")
def test_bed(asset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with local_cloud(asset_dir, tmp_path_factory.mktemp("tls")) as cloud:
        check_handler_loads_from_asset(asset_dir)
        yield cloud


def check_handler_loads_from_asset(asset_dir: Path) -> Any:
    """Import forecast_export.app and crhelper from the asset folder: the code Lambda would run.

    The driver then loads one copy of the handler package per simulated Lambda container."""
    for name in list(sys.modules):
        if name.split(".")[0] in ("crhelper", "forecast_export"):
            del sys.modules[name]
    sys.path.insert(0, str(asset_dir))
    try:
        module = importlib.import_module("forecast_export.app")
        crhelper = importlib.import_module("crhelper")
    finally:
        sys.path.remove(str(asset_dir))
    assert Path(module.__file__).is_relative_to(asset_dir)
    assert Path(crhelper.__file__).is_relative_to(asset_dir)
    return module


@pytest.fixture
def cloud(test_bed: LocalCloud) -> Iterator[LocalCloud]:
    test_bed.reset()
    test_bed.begin_test()
    yield test_bed
    test_bed.end_test()
