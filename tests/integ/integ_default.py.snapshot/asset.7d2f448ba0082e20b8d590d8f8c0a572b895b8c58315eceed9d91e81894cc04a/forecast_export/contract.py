"""The contract between the construct (synth time) and the handler (deploy time).

Every name and number both sides must agree on is written here once, and both import it, so the
coupling is checked by the interpreter instead of by reading two files side by side (the CDK
provider framework keeps its handler names in ``consts.ts`` for the same reason). No dependencies:
the construct imports it too.
"""

from __future__ import annotations

RESOURCE_TYPE = "Custom::ForecastExportJob"
HANDLER_ENTRY = "forecast_export.app.handler"

# Export job names, ``<base>_<owner><key>`` (naming.py computes them). The construct refuses or cuts
# base names by these numbers and scopes IAM to ``*_<owner>`` plus KEY_LENGTH characters; the handler
# builds the names. The README, docs/ and the docstrings state the same numbers, and
# tests/test_doc_numbers.py compares every one of them with these.
JOB_NAME_MAX_LENGTH = 63  # Forecast's limit on ForecastExportJobName
OWNER_LENGTH = 8  # hex characters of the stack ID's UUID: the same for every job of one stack
KEY_LENGTH = 4  # base62 characters hashing the settings that need a new job, and the attempt
SUFFIX_LENGTH = 1 + OWNER_LENGTH + KEY_LENGTH  # "_" + owner + key = 13
BASE_MAX_LENGTH = JOB_NAME_MAX_LENGTH - SUFFIX_LENGTH  # 50: a longer export_job_name is refused; a default one is cut
# Each attempt is a new name (Forecast keeps stopped jobs and their names), so a resource whose exports
# keep ending stopped gets this many names before it asks for another export_job_name or run_id.
MAX_ATTEMPTS = 10

# Properties of the custom resource (besides CreateForecastExportJob's own names).
TIMEOUT_PROPERTY = "TimeoutSeconds"
REMOVAL_POLICY_PROPERTY = "RemovalPolicy"
POLLING_PROPERTY = "Polling"
ACCESS_ROLE_PROPERTY = "AccessRoleArn"
JOB_FOLDER_PROPERTY = "JobFolder"
RUN_ID_PROPERTY = "RunId"

# The custom resource's attributes (Fn::GetAtt), as the handler's answer names them in Data.
JOB_ARN_ATTRIBUTE = "ForecastExportJobArn"
JOB_NAME_ATTRIBUTE = "ForecastExportJobName"
DESTINATION_ATTRIBUTE = "DestinationPath"
ATTRIBUTES = (JOB_ARN_ATTRIBUTE, JOB_NAME_ATTRIBUTE, DESTINATION_ATTRIBUTE)

# Values of the properties.
EXPORT_FORMATS = ("CSV", "PARQUET")
POLLING_MODES = ("Fast", "Economy")  # deprecated: both now mean the same (README, PollingMode)

# The handler's polling rules: the construct scopes IAM and the Lambda permission to this prefix
# (plus 8 hex characters of the handler's path), the handler names its rules under it.
RULE_PREFIX_ENVIRONMENT = "POLL_RULE_PREFIX"
RULE_PREFIX_ROOT = "fcx-"

# The access role the handler assumes per stack, and the session tag its trust policy checks.
ACCESS_ROLE_PATH = "/cdk-forecast-export/"
STACK_ID_TAG = "cdk-forecast-export:stack-id"

# The request state the handler keeps in each polling rule's target (``CrHelperData``, schedule.py) carries
# this version under this key. Bump it when a field changes its meaning, or is added or removed, and teach
# the handler to read the previous version (tests/test_upgrades.py deploys the previous release and
# upgrades it with requests in flight). 0 is the state of 0.2.0, which wrote no version; 1 has the same
# fields, versioned. A state of a newer version is never read (schedule.unreadable_state). Job and rule names
# are found again by computing them (naming.py, schedule.rule_name), so they are part of this schema too.
STATE_VERSION_KEY = "SchemaVersion"
STATE_VERSION = 1

# Times the two sides size each other by.
FUNCTION_TIMEOUT_SECONDS = 90
# Lambda keeps asynchronous events (throttled in a busy account) up to this long: its maximum, 6 hours. A
# request that waited in the queue is still handled while CloudFormation waits for it; a late copy is not,
# because CloudFormation no longer confirms it (confirmation.py).
MAX_EVENT_AGE_SECONDS = 21600

# Every property the handler reads (spec.py), and the ServiceToken: a request is confirmed only if these
# are what CloudFormation recorded for it (confirmation.py). Other keys are not compared.
PROPERTIES_READ = (
    "ServiceToken",
    "ForecastExportJobName",
    "ForecastArn",
    "Destination",
    "Format",
    "Tags",
    "ServiceTimeout",
    TIMEOUT_PROPERTY,
    REMOVAL_POLICY_PROPERTY,
    ACCESS_ROLE_PROPERTY,
    JOB_FOLDER_PROPERTY,
    RUN_ID_PROPERTY,
)

# --- Request state in DynamoDB, triggers in the template (issue 16; docs/DESIGN-durable-state.md) ---------------
# One on-demand table per handler, made by the construct; the handler finds it by this environment variable.
STATE_TABLE_ENVIRONMENT = "STATE_TABLE"
TABLE_PARTITION_KEY = "pk"  # S: "SLOT#<slot>" (a request's live state), "REQ#<RequestId>" (dedupe record), "JOB#<job ARN>"
TABLE_SORT_KEY = "sk"  # S: "state" / "request" / the slot a JOB item points at
TABLE_TTL_ATTRIBUTE = "expires_at"  # N, epoch seconds: TTL deletes late, so every read checks it too
DUE_INDEX = "due"  # GSI: partition DUE_SHARD_ATTRIBUTE (S), sort DUE_AT_ATTRIBUTE (N); sparse (in-flight slots only)
DUE_SHARD_ATTRIBUTE = "due_shard"
DUE_AT_ATTRIBUTE = "due_at"
DUE_INDEX_PROJECTED = ("request_id",)  # INCLUDE projection besides the keys: the look event names its request
# A record of every request stays this long after its answer: a later copy finds it and does nothing.
RECORD_DAYS = 7

# The handler's invocations that are not CloudFormation's: the template's rules and its own fan-out carry this key.
TRIGGER_KEY = "cdk-forecast-export"
TICK = "tick"  # the Tick rule's constant input: {TRIGGER_KEY: TICK}; looks for requests due (every minute)
# A self-invocation: {TRIGGER_KEY: LOOK, "Slot": <slot>, "RequestId": <id>}, or a Tick's batch handed to a helper
# invocation: {TRIGGER_KEY: LOOK, "Requests": [[<slot>, <id>, <due_at>], ...]} (at most 10).
LOOK = "look"
TICK_SCHEDULE = "rate(1 minute)"
# The ForecastEvents rule delivers Forecast's export-job state-change events themselves (no input transformer).
FORECAST_DETAIL_TYPES = ("Forecast Forecast Export Job State Change", "Forecast Export Job State Change")
