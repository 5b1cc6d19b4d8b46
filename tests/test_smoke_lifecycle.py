from tests.support.cfn_driver import LocalStack


def test_create_then_delete(cloud, example_template):
    stack = LocalStack(cloud, example_template)
    created = stack.create()
    assert created.status == "CREATE_COMPLETE", [r.reason for r in created.requests]
    assert len(cloud.forecast.live_jobs()) == 1
    deleted = stack.delete()
    assert deleted.status == "DELETE_COMPLETE", [r.reason for r in deleted.requests]
    cloud.check_invariants()
