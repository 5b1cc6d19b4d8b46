"""cdk-forecast-export: an Amazon Forecast export job as an ordinary CDK resource.

from cdk_forecast_export import ForecastExport, ExportFormat

export = ForecastExport(stack, "DailyExport", forecast_arn="arn:aws:forecast:...:forecast/demand")
"""

from .errors import ForecastExportTypeError, ForecastExportValidationError
from .export import ExportFormat, ForecastExport, PollingMode
from .handler_function import ForecastExportHandler
from .handler_settings import ForecastExportHandlerOptions
from .provider import ForecastExportProvider

__version__ = "0.2.0"

__all__ = [
    "ExportFormat",
    "ForecastExport",
    "ForecastExportHandler",
    "ForecastExportHandlerOptions",
    "ForecastExportProvider",
    "ForecastExportTypeError",
    "ForecastExportValidationError",
    "PollingMode",
    "__version__",
]
