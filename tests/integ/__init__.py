"""CDK integration tests (integ_*.py apps), their snapshots, and the tools that verify and deploy them."""
