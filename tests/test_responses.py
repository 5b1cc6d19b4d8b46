"""How the handler dates a request and shapes its answer (lambda/forecast_export/responses.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from cdk_forecast_export._lambda.forecast_export.responses import MAX_RESPONSE_BYTES, fit_response, request_time

SIGNED_AT = datetime(2026, 12, 4, 12, 0, 7, tzinfo=timezone.utc).timestamp()
BASE = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/req"


@pytest.mark.parametrize(
    "query",
    [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261204T120007Z&X-Amz-Expires=7200&X-Amz-Signature=ab",
        f"AWSAccessKeyId=AKIAEXAMPLE&Expires={int(SIGNED_AT) + 7200}&Signature=cd%3D",
    ],
    ids=["sigv4-x-amz-date", "sigv2-expires-only"],
)
def test_a_request_is_dated_by_either_kind_of_presigned_url(query: str) -> None:
    assert request_time(f"{BASE}?{query}") == SIGNED_AT


@pytest.mark.parametrize("query", ["", "X-Amz-Date=yesterday", "Expires=soon"])
def test_a_url_without_a_usable_date_dates_nothing(query: str) -> None:
    assert request_time(f"{BASE}?{query}") is None


def test_an_answer_with_a_huge_reason_and_data_fits_4096_bytes() -> None:
    body = {
        "Status": "FAILED",
        "Reason": "x" * 20_000,
        "PhysicalResourceId": "arn:aws:forecast:us-east-1:111122223333:forecast-export-job/f/j",
        "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/s/" + "0" * 36,
        "RequestId": "r" * 36,
        "LogicalResourceId": "L" * 255,
        "Data": {"a": "y" * 3000, "b": "z" * 3000},
    }
    fitted = fit_response(body)
    assert len(json.dumps(fitted).encode()) <= MAX_RESPONSE_BYTES
    assert fitted["Reason"].startswith("xxx") and fitted["Reason"].endswith("(truncated)")
