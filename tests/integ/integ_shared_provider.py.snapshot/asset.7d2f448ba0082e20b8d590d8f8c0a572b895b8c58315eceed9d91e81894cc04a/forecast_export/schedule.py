"""Names and the state schema a request's slot shares with the rule-based releases (0.2.x).

- A slot's name follows from the stack, the logical ID and the settings that name the job
  (``naming.JobIdentity.settings_key``), not from the request: a request that must stop another one
  (the rollback Delete of a cancelled Create, the rollback Update of a cancelled replacement) finds that
  request's slot by computing it. It is the name the rule-based releases gave the request's polling rule,
  so a request those releases left in flight moves into the same slot (triggers.py).
- The state carries ``contract.STATE_VERSION`` (every write stamps it): the handler reads its own version
  and the older ones (0.2.0 wrote none), never a newer one (``unreadable_state``).
- Forecast's state-change events for statuses on the way to another one trigger no look (``PASSING_STATUSES``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from . import contract

RULE_NAME_MAX = 64  # the rule-based releases' limit, kept: a slot is named as their rule was
# Statuses on the way to another one: no wait of the handler ends on them, so an event that names one
# of them (under either spelling of the key) triggers no look. Any other event, a body of another
# shape included, does; the look decides, and the Tick rule covers an event skipped wrongly.
PASSING_STATUSES = ("CREATE_PENDING", "CREATE_IN_PROGRESS", "DELETE_PENDING", "DELETE_IN_PROGRESS")
STATUS_FIELDS = ("Status", "status")
POLL = "CrHelperPoll"  # crhelper's keys in the event it keeps: the event is a look, not CloudFormation's delivery
RULE = "CrHelperRule"  # the request's slot (in the rule-based releases, its rule's ARN)
LEASE = "Lease"


def rule_name(prefix: str, stack_id: str, logical_id: str, settings_key: str) -> str:
    """A request's slot: deterministic per resource and settings, at most 64 characters, under the handler's prefix."""
    digest = hashlib.sha256(f"{stack_id}|{logical_id}|{settings_key}".encode()).hexdigest()[:12]
    room = RULE_NAME_MAX - len(prefix) - len(digest) - 1
    readable = "".join(ch for ch in logical_id if ch.isalnum())[:room]
    return f"{prefix}{readable}-{digest}"


def unreadable_state(data: Mapping[str, Any]) -> str:
    """Why this handler must not read the state ``data`` (a request's ``CrHelperData``), or "" if it may.

    No version: written by 0.2.0, whose fields are those of version 1. A newer version was written by a
    newer handler whose code CloudFormation has since rolled back; its fields may mean something else,
    so nothing in it is trusted (the caller answers FAILED at once rather than misread it, or leave
    CloudFormation waiting until its ServiceTimeout for code that no longer runs)."""
    version = data.get(contract.STATE_VERSION_KEY, 0)
    if isinstance(version, int) and not isinstance(version, bool) and 0 <= version <= contract.STATE_VERSION:
        return ""
    return (
        f"The request's state was written by another version of the handler (state version {str(version)[:20]}; "
        f"this handler reads versions 0 to {contract.STATE_VERSION}): its code changed while the request was in flight. "
        "This handler did not act on it (any export job that version started is left as it is); deploy again"
    )
