"""Start the local test bed (Forecast, moto for EventBridge, Lambda, IAM, STS and DynamoDB, HTTPS receiver) for tests
and benchmarks alike."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from .cfn_driver import ACCOUNT, REGION, LocalCloud
from .forecast_fake import FakeForecast, ForecastServer
from .https_receiver import HttpsReceiver
from .virtual_clock import VirtualClock

OFFLINE_ENVIRONMENT = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # moto answers as the same account the templates use (its default is 123456789012).
    "MOTO_ACCOUNT_ID": ACCOUNT,
}


def go_offline() -> None:
    """No real credentials and no real endpoints, before anything creates a boto3 client."""
    os.environ.update(OFFLINE_ENVIRONMENT)
    for variable in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(variable, None)


@contextlib.contextmanager
def local_cloud(asset_dir: Path, workdir: Path) -> Iterator[LocalCloud]:
    from moto.server import ThreadedMotoServer

    clock = VirtualClock()
    forecast = FakeForecast(clock)
    forecast_server = ForecastServer(forecast).start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    receiver = HttpsReceiver(clock, workdir).start()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_FORECAST": forecast_server.url,
            # botocore derives the name from the service ID: EventBridge, not events.
            "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_url,
            "AWS_ENDPOINT_URL_LAMBDA": moto_url,
            "AWS_ENDPOINT_URL_LOGS": moto_url,
            # The handler's state table (issue 16): the stacks' AWS::DynamoDB::Table resources are made in moto.
            "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "AWS_ENDPOINT_URL_IAM": moto_url,
            # moto serves sts:AssumeRole (temporary credentials; the driver checks trust and identity policies).
            "AWS_ENDPOINT_URL_STS": moto_url,
            "SSL_CERT_FILE": str(receiver.ca_file),
        }
    )
    try:
        yield LocalCloud(clock, forecast, receiver, moto_url, asset_dir)
    finally:
        receiver.stop()
        moto.stop()
        forecast_server.stop()
