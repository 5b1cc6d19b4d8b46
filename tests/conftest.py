"""Shared fixtures: synthesized templates (once per session) and the local test bed."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Before anything imports boto3 or jsii: no real credentials, no real endpoints, no Node banner.
os.environ.update(
    {
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        # moto answers as the same account the templates use (its default is 123456789012).
        "MOTO_ACCOUNT_ID": "111122223333",
    }
)
for _variable in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(_variable, None)

from tests.support import apps  # noqa: E402
from tests.support.cfn_driver import LocalCloud  # noqa: E402
from tests.support.forecast_fake import FakeForecast, ForecastServer  # noqa: E402
from tests.support.https_receiver import HttpsReceiver  # noqa: E402
from tests.support.virtual_clock import VirtualClock  # noqa: E402


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
    from moto.server import ThreadedMotoServer

    clock = VirtualClock()
    forecast = FakeForecast(clock)
    forecast_server = ForecastServer(forecast).start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    receiver = HttpsReceiver(clock, tmp_path_factory.mktemp("tls")).start()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_FORECAST": forecast_server.url,
            # botocore derives the name from the service ID: EventBridge, not events.
            "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_url,
            "AWS_ENDPOINT_URL_LAMBDA": moto_url,
            "AWS_ENDPOINT_URL_LOGS": moto_url,
            "AWS_ENDPOINT_URL_IAM": moto_url,
            "SSL_CERT_FILE": str(receiver.ca_file),
        }
    )
    check_handler_loads_from_asset(asset_dir)
    yield LocalCloud(clock, forecast, receiver, moto_url, asset_dir)
    receiver.stop()
    moto.stop()
    forecast_server.stop()


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
