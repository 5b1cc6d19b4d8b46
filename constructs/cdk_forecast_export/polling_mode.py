"""How the handler waits for the export job (deprecated: both values now behave alike)."""

from __future__ import annotations

from enum import Enum


class PollingMode(str, Enum):
    """Deprecated. Kept so existing code and deployed templates keep working; both values now mean
    the same. The handler makes one short look per Forecast state-change event of the job (the answer
    goes out within seconds of ACTIVE) plus one a minute as the fallback for lost events: as fast as
    ``FAST`` was and as cheap as ``ECONOMY`` was. ``FAST`` no longer polls inside each invocation."""

    FAST = "Fast"
    """Deprecated: the same as ECONOMY now (one look per Forecast event, plus one a minute)."""
    ECONOMY = "Economy"
    """Deprecated: the same as FAST now."""
