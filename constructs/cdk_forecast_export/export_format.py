"""The file format Forecast writes."""

from __future__ import annotations

from enum import Enum


class ExportFormat(str, Enum):
    """The format of the exported files (CreateForecastExportJob's ``Format``)."""

    CSV = "CSV"
    """Comma-separated values (Forecast's default)."""
    PARQUET = "PARQUET"
    """Apache Parquet."""
