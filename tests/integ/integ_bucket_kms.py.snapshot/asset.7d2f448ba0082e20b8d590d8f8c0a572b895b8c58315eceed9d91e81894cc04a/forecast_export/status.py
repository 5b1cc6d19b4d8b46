"""Export job statuses as DescribeForecastExportJob reports them."""

from __future__ import annotations

from enum import Enum


class JobStatus(str, Enum):
    ACTIVE = "ACTIVE"
    CREATE_PENDING = "CREATE_PENDING"
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    CREATE_FAILED = "CREATE_FAILED"
    CREATE_STOPPING = "CREATE_STOPPING"
    CREATE_STOPPED = "CREATE_STOPPED"
    DELETE_PENDING = "DELETE_PENDING"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETE_FAILED = "DELETE_FAILED"

    @property
    def is_creating(self) -> bool:
        """Still writing files; StopResource applies."""
        return self in (JobStatus.CREATE_PENDING, JobStatus.CREATE_IN_PROGRESS)

    @property
    def is_deleting(self) -> bool:
        return self in (JobStatus.DELETE_PENDING, JobStatus.DELETE_IN_PROGRESS)

    @property
    def is_deletable(self) -> bool:
        """What DeleteForecastExportJob accepts, per its API reference: ACTIVE and CREATE_FAILED only."""
        return self in (JobStatus.ACTIVE, JobStatus.CREATE_FAILED)

    @property
    def can_become_active(self) -> bool:
        """A job worth adopting: it is ACTIVE or may still get there."""
        return self is JobStatus.ACTIVE or self.is_creating
