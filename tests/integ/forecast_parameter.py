"""Where the deployed integ tests find the forecast's ARN (no CDK import: make integ's preflight reads it too)."""

# The stacks read the ARN from this SSM parameter at deploy time, so a snapshot holds no account's ARN (the same
# snapshot on every machine) and the update workflow can deploy the committed snapshot as it is. make integ writes
# the parameter from CDK_INTEG_FORECAST_ARN (tests/integ/deploy.py).
FORECAST_ARN_PARAMETER = "/cdk-forecast-export/integ/forecast-arn"
