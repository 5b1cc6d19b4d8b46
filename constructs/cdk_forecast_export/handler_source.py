"""Where the handler's source lives: ``lambda/`` in the repository, ``cdk_forecast_export/_lambda`` in the wheel."""

from __future__ import annotations

from pathlib import Path

from . import _lambda
from ._lambda.forecast_export.contract import HANDLER_ENTRY as HANDLER_ENTRY

HANDLER_ROOT = Path(_lambda.__file__).resolve().parent
HANDLER_PACKAGE = "forecast_export"
REQUIREMENTS_FILE = HANDLER_ROOT / "requirements.txt"
