"""The file format Forecast writes."""

from __future__ import annotations

from enum import Enum


class ExportFormat(str, Enum):
    CSV = "CSV"
    PARQUET = "PARQUET"
