#!/usr/bin/env python3
"""A rename replaces the job: the stack is deployed with one job name, then updated with another.

Two test cases run in order on one CloudFormation stack: the default test case deploys "RenameBefore" and keeps it
(no destroy), the "RenameAfter" case updates it. CloudFormation creates the renamed job, then deletes the old one
in its cleanup phase: after the update only the new job exists (postDeploy hook), after destroy neither
(postDestroy hook). "RenameBefore" has no assertions: an assertion stack would import its outputs, and
CloudFormation refuses to change an export that another stack imports.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import cloud_assembly_schema as cas
from aws_cdk import integ_tests_alpha as integ
from cdk_forecast_export import ForecastExport
from common import acknowledge_empty, assert_exported, default_assertion_stack, forecast_arn, jobs_gone

STACK_NAME = "IntegForecastExportRename"
BEFORE, AFTER = "integ_rename_before", "integ_rename_after"

app = cdk.App()
before = cdk.Stack(app, "RenameBefore", stack_name=STACK_NAME)
after = integ.IntegTestCaseStack(
    app,
    "RenameAfter",
    stack_name=STACK_NAME,
    hooks=cas.Hooks(post_deploy=[jobs_gone(BEFORE)], post_destroy=[jobs_gone(BEFORE, AFTER)]),
)
for stack, job in ((before, BEFORE), (after, AFTER)):
    export = ForecastExport(
        stack, "Export", forecast_arn=forecast_arn(stack), export_job_name=job, destroy_bucket_with_stack=True
    )
# The default test case (the plain stack, "RenameBefore") comes first in integ.json, so it is deployed first.
test = integ.IntegTest(
    app,
    "Rename",
    test_cases=[before, after],
    cdk_command_options=cas.CdkCommands(destroy=cas.DestroyCommand(enabled=False)),
)
acknowledge_empty(default_assertion_stack(test), "RenameBefore is only the state the update starts from")
# IntegTestCaseStack.assertions is a stack of its own that no test case deploys: use its test case's.
acknowledge_empty(after.node.find_child("DeployAssert"), "IntegTestCaseStack's own assertion stack, which no test case names")
after_case = after.node.find_child("RenameAfterTestCase")
assert isinstance(after_case, integ.IntegTestCase)
assert_exported(after_case.assertions, export)  # the export of RenameAfter
app.synth()
