"""Answers to CloudFormation: at most 4096 bytes, sent with bounded retries.

crhelper's own sender retries forever on connection errors and ignores the HTTP status; this one
checks the status, retries 5xx and connection errors a few times on the handler's clock, and
gives up when the Lambda's time runs short.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from datetime import datetime, timezone
from http.client import HTTPSConnection
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .clock import Clock

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 4096
MAX_REASON_CHARS = 1024
MAX_PHYSICAL_ID_CHARS = 1024
SEND_DELAYS_SECONDS = (1.0, 2.0, 4.0)
URL_VALIDITY_SECONDS = 7200  # CloudFormation's presigned response URLs are valid for 2 hours


# The response URL is a presigned S3 URL. S3 answers some passing conditions with a 4xx: 400
# RequestTimeout when the upload was too slow, 429/503 SlowDown under load
# (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). Those are retried like 5xx.
TRANSIENT_4XX = (408, 429)
TRANSIENT_S3_CODES = ("RequestTimeout", "SlowDown")
_CODE = re.compile(rb"<Code>([A-Za-z]+)</Code>")


def _s3_error_code(body: bytes) -> str:
    found = _CODE.search(body)
    return found.group(1).decode() if found else ""


def request_time(url: str) -> float | None:
    """When CloudFormation signed the response URL (its X-Amz-Date, or Expires minus 2 hours): the
    moment it sent the request. None when the URL carries neither."""
    query = dict(parse_qsl(urlsplit(url).query))
    if "X-Amz-Date" in query:
        try:
            return datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            return None
    if "Expires" in query and query["Expires"].isdigit():
        return float(query["Expires"]) - URL_VALIDITY_SECONDS
    return None


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " ...(truncated)"


def fit_response(body: dict[str, Any]) -> dict[str, Any]:
    """Shrink Reason, then Data, until the JSON body fits CloudFormation's 4096-byte limit."""
    body = dict(body)
    body["Reason"] = shorten(str(body.get("Reason", "")), MAX_REASON_CHARS)
    body["PhysicalResourceId"] = shorten(str(body["PhysicalResourceId"]), MAX_PHYSICAL_ID_CHARS)

    def size() -> int:
        return len(json.dumps(body).encode())

    data = dict(body.get("Data") or {})
    while size() > MAX_RESPONSE_BYTES and data:
        data.pop(max(data, key=lambda key: len(json.dumps(data[key]))))
        body["Data"] = data
    if size() > MAX_RESPONSE_BYTES:
        spare = len(body["Reason"].encode()) - (size() - MAX_RESPONSE_BYTES) - 32
        body["Reason"] = shorten(body["Reason"], max(spare, 40))
    return body


def send(url: str, body: dict[str, Any], clock: Clock, time_left_seconds: float) -> bool | None:
    """PUT the body to the presigned URL: True when CloudFormation's store accepted it, None when it
    refused it for good (4xx: an expired or wrong URL), False when it failed for now (5xx, no connection)."""
    payload = json.dumps(body).encode()
    parts = urlsplit(url)
    path = urlunsplit(("", "", parts.path, parts.query, ""))
    context = ssl.create_default_context()  # honours SSL_CERT_FILE
    start = clock.now()
    for delay in (*SEND_DELAYS_SECONDS, None):
        try:
            connection = HTTPSConnection(parts.netloc, context=context, timeout=10)
            connection.request("PUT", path, body=payload, headers={"content-type": "", "content-length": str(len(payload))})
            response = connection.getresponse()
            status = response.status
            code = _s3_error_code(response.read(2048)) if status >= 400 else ""
            connection.close()
            if 200 <= status < 300:
                logger.info("Sent %s to CloudFormation (%d bytes)", body["Status"], len(payload))
                return True
            logger.error("CloudFormation's response URL answered HTTP %d %s", status, code)
            if status < 500 and status not in TRANSIENT_4XX and code not in TRANSIENT_S3_CODES:
                return None  # an expired or wrong URL: retrying will not help
        except (OSError, ssl.SSLError) as error:
            logger.error("Could not reach CloudFormation's response URL: %s", error)
        if delay is None or clock.now() - start + delay > time_left_seconds:
            break
        clock.sleep(delay)
    logger.error("Could not deliver the answer in this invocation")
    return False
