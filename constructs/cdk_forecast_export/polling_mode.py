"""How the handler waits for the export job: a choice between latency and Lambda time."""

from __future__ import annotations

from enum import Enum


class PollingMode(str, Enum):
    """``FAST`` (default): the handler looks every 5 s inside each invocation, so the deploy ends
    within seconds of the job becoming ACTIVE; each invocation runs up to ~50 s of every minute.
    ``ECONOMY``: one look per minute (when the polling rule fires), so the deploy ends up to a
    minute later, for about 1% of FAST's Lambda time."""

    FAST = "Fast"
    ECONOMY = "Economy"
