"""Custom resource handler for Amazon Forecast export jobs (runs in AWS Lambda)."""
